"""Waking workers when messages are enqueued, without ever depending on it.

In-process workers wait on a `Doorbell`; on PostgreSQL the enqueueing transaction also sends one
`NOTIFY`, which PostgreSQL delivers to listening workers only if the transaction commits. Workers
poll as a backstop, so a lost wake-up delays a delivery by at most the poll interval.

A worker in the same process as the enqueuer (`serve`) can take new messages without claiming
them: it registers as a `Taker`; the messages of new share links (the hot path, `webhooks.service.
enqueue_share_links_created`) are then written already leased to it and handed over once their
transaction has committed (`db.database.after_commit`); other messages are claimed as before. A lease is a lease
however it was taken: if the process dies first, it expires and any worker claims the messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from typing import TYPE_CHECKING, Protocol

from sqlalchemy import Connection, Engine, text

if TYPE_CHECKING:
    from sharelinks.delivery.queue import Claimed

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


class Taker(Protocol):
    """A worker in this process that takes new messages leased to it at birth."""

    worker_id: str
    lease_seconds: float
    engine: Engine  # the database it delivers from: it takes only messages written there

    def room(self) -> int:
        """How many more messages it would take now (read from any thread; an estimate)."""
        ...

    def adopt(self, messages: list[Claimed]) -> None:
        """Messages leased to it whose transaction has committed (called from any thread)."""
        ...


_doorbells: list[Doorbell] = []
_takers: list[Taker] = []


def register(doorbell: Doorbell, taker: Taker | None = None) -> None:
    """A worker of this process: its doorbell rung on every enqueue; if it is a taker too, handed
    new messages at birth."""
    _doorbells.append(doorbell)
    if taker is not None:
        _takers.append(taker)


def unregister(doorbell: Doorbell, taker: Taker | None = None) -> None:
    if doorbell in _doorbells:
        _doorbells.remove(doorbell)
    if taker in _takers:
        _takers.remove(taker)


def taker_for(conn: Connection, count: int) -> Taker | None:
    """A worker in this process, on the database of `conn`, with room for `count` more messages."""
    for taker in list(_takers):
        if taker.engine is conn.engine and taker.room() >= count:
            return taker
    return None


def after_enqueue(conn: Connection) -> None:
    """Called in the enqueueing transaction: one NOTIFY per transaction, and the local doorbells."""
    if conn.dialect.name == "postgresql":
        transaction = conn.get_transaction()
        if conn.info.get("notified") is not transaction:
            conn.execute(_NOTIFY)
            conn.info["notified"] = transaction
    for doorbell in list(_doorbells):
        doorbell.ring()


SQLITE_WATCH_SECONDS = 0.05


async def watch_sqlite(path: str, doorbell: Doorbell, interval: float = SQLITE_WATCH_SECONDS) -> None:
    """Ring `doorbell` whenever another connection (another process: `serve`, the CLI, a backfill)
    has committed to the SQLite file at `path`, looking every `interval` seconds until cancelled.

    `PRAGMA data_version` reads a counter in the WAL index (shared memory): no table is read and no
    lock taken, so looking 20 times a second costs next to nothing.
    """
    conn = sqlite3.connect(path, check_same_thread=False)
    try:
        last = None
        while True:
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if last is not None and version != last:
                doorbell.ring()
            last = version
            await asyncio.sleep(interval)
    finally:
        conn.close()
