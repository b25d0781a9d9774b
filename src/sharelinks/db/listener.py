"""LISTEN on PostgreSQL over one dedicated connection (never pooled), reconnecting when it drops."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.engine import make_url

log = logging.getLogger("sharelinks.db")


async def listen(url: str, handlers: dict[str, Callable[[str], None]], on_connect: Callable[[], None]) -> None:
    """Call `handlers[channel](payload)` for each notification until cancelled.

    `on_connect` runs after every (re)connection: whatever was notified while disconnected is lost,
    so callers refresh or re-poll there.
    """
    import psycopg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
                for channel in handlers:
                    await conn.execute(f"LISTEN {channel}")
                on_connect()
                async for notice in conn.notifies():
                    handler = handlers.get(notice.channel)
                    if handler is not None:
                        handler(notice.payload)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            await asyncio.sleep(1.0)
