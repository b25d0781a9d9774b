"""Claiming a key, keeping the answer, forgetting expired keys: each one short unit of work.

The answer is kept after the request's own transaction commits, not in it: a process that dies
between the two leaves the key held until `LOCK`, after which a repeat runs the request again
(at-least-once, as everywhere else; creating a share link is idempotent on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy import Connection, delete, select, update

from sharelinks.db.upsert import insert_or_ignore
from sharelinks.idempotency.models import idempotency_keys as k

KEPT = timedelta(hours=12)  # as Svix keeps them
LOCK = timedelta(seconds=60)  # longer than any request may take
PURGE_BATCH = 1000


class Held(Enum):
    OWNED = "owned"  # this request runs; it must `keep` or `release` the key
    IN_PROGRESS = "in_progress"  # the first request is still running
    MISMATCH = "mismatch"  # the key was used for a different request


@dataclass(frozen=True, slots=True)
class Kept:
    status: int
    headers: list[list[str]]
    body: bytes


def claim(conn: Connection, scope_hash: str, request_hash: str, now: datetime) -> Held | Kept:
    row = conn.execute(select(k).where(k.c.scope_hash == scope_hash)).first()
    if row is not None and row.expires_at <= now:
        conn.execute(delete(k).where(k.c.scope_hash == scope_hash))
        row = None
    if row is None:
        values = {"scope_hash": scope_hash, "request_hash": request_hash, "status_code": None, "headers": None,
                  "body": None, "locked_until": now + LOCK, "expires_at": now + KEPT}  # fmt: skip
        if insert_or_ignore(conn, k, values):
            return Held.OWNED
        row = conn.execute(select(k).where(k.c.scope_hash == scope_hash)).first()  # another process's, just made
        assert row is not None
    if row.request_hash != request_hash:
        return Held.MISMATCH
    if row.status_code is not None:
        return Kept(row.status_code, row.headers, row.body)
    if row.locked_until <= now and _take_over(conn, scope_hash, now):
        return Held.OWNED
    return Held.IN_PROGRESS


def _take_over(conn: Connection, scope_hash: str, now: datetime) -> bool:
    """The first request's process died holding the key: this one runs instead."""
    taken = conn.execute(
        update(k)
        .where(k.c.scope_hash == scope_hash, k.c.status_code.is_(None), k.c.locked_until <= now)
        .values(locked_until=now + LOCK)
        .returning(k.c.scope_hash)
    ).first()
    return taken is not None


def keep(conn: Connection, scope_hash: str, status: int, headers: list[list[str]], body: bytes) -> None:
    conn.execute(
        update(k)
        .where(k.c.scope_hash == scope_hash, k.c.status_code.is_(None))
        .values(status_code=status, headers=headers, body=body)
    )


def release(conn: Connection, scope_hash: str) -> None:
    """Forget a key whose request left no answer worth repeating (a server error, say)."""
    conn.execute(delete(k).where(k.c.scope_hash == scope_hash, k.c.status_code.is_(None)))


def purge(conn: Connection, now: datetime) -> int:
    """Delete expired keys, one batch per call."""
    expired = select(k.c.scope_hash).where(k.c.expires_at <= now).limit(PURGE_BATCH)
    hashes: list[Any] = list(conn.execute(expired).scalars())
    if hashes:
        conn.execute(delete(k).where(k.c.scope_hash.in_(hashes)))
    return len(hashes)
