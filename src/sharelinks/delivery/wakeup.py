"""Waking workers when messages are enqueued, without ever depending on it.

In-process workers wait on a `Doorbell`; on PostgreSQL the enqueueing transaction also sends one
`NOTIFY`, which PostgreSQL delivers to listening workers only if the transaction commits. Workers
poll as a backstop, so a lost wake-up delays a delivery by at most the poll interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from sqlalchemy import Connection, text

CHANNEL = "sharelinks_delivery"
_NOTIFY = text(f"SELECT pg_notify('{CHANNEL}', '')")


class Doorbell:
    """An asyncio event that may be rung from any thread."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def ring(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            if threading.get_ident() == getattr(loop, "_thread_id", None):
                self._event.set()
            else:
                loop.call_soon_threadsafe(self._event.set)
        except RuntimeError:  # loop closed meanwhile
            pass

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)
        self._event.clear()


_doorbells: list[Doorbell] = []


def register(doorbell: Doorbell) -> None:
    _doorbells.append(doorbell)


def unregister(doorbell: Doorbell) -> None:
    if doorbell in _doorbells:
        _doorbells.remove(doorbell)


def after_enqueue(conn: Connection) -> None:
    """Called in the enqueueing transaction: one NOTIFY per transaction, and the local doorbells."""
    if conn.dialect.name == "postgresql":
        transaction = conn.get_transaction()
        if conn.info.get("notified") is not transaction:
            conn.execute(_NOTIFY)
            conn.info["notified"] = transaction
    for doorbell in list(_doorbells):
        doorbell.ring()
