"""`sharelinks worker`: a delivery worker process (scale-out; embedded `serve` runs one inside)."""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from sharelinks.clitools import err, migrated_database, safe_url, tune_gc
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.delivery.worker import DeliveryWorker
from sharelinks.keys.crypto import SecretBox


def worker(
    concurrency: Annotated[int | None, typer.Option(help="Requests in flight at once.")] = None,
) -> None:
    """Deliver webhook messages until stopped (SIGTERM/SIGINT finish in-flight requests first)."""
    from dataclasses import replace

    from sharelinks.observability import logs

    settings = Settings.from_env()
    if concurrency:
        settings = replace(settings, worker_concurrency=concurrency)
    logs.configure(settings.log_level)
    migrated_database(settings).dispose()
    # Checkpoints on a background thread, so no delivery's commit pays for one; units on the loop
    # (SQLite: its claims and records are many small batches, see Database).
    db = Database(settings.database_url, background_checkpoints=True, units_on_loop=True)
    db.start_background_tasks()
    box = SecretBox.from_settings(settings)
    tune_gc()
    err.print(f"delivery worker on {safe_url(settings.database_url)} ({settings.worker_concurrency} in flight)")

    async def run() -> None:
        delivery = DeliveryWorker(db, box, settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        delivery.start()
        await stop.wait()
        await delivery.stop()

    try:
        import uvloop

        uvloop.run(run())
    except ImportError:
        asyncio.run(run())
    db.dispose()
