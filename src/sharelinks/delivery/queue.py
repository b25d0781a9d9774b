"""The delivery queue on the outbox table: claim due messages, record attempts, keep the table small.

Claiming is one short transaction: pick due rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so
concurrent workers never pick the same row; SQLite has one writer at a time anyway) and stamp them
with a lease. The HTTP request happens outside any transaction; its result is recorded in a second
short one. A worker that dies leaves leases that simply expire, and the rows become due again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, or_, select, update

from sharelinks import clock
from sharelinks.db.upsert import insert_many, update_many
from sharelinks.ids import new_id
from sharelinks.webhooks.models import DUE_PREDICATE, webhook_attempts, webhook_messages

# Attempt history per message stays bounded: 6 scheduled attempts plus a few replays.
ATTEMPTS_KEPT = 20
PURGE_BATCH = 1000
m = webhook_messages


@dataclass(slots=True)  # not frozen, as Attempt below: built per message, never changed
class Claimed:
    id: int
    webhook_id: int
    event_type: str
    event: dict[str, Any]
    trigger: str
    attempt_count: int


# Built once: the worker claims many times a second, and building a statement per call (its cache key
# above all) cost more than running it.
_DUE = (
    select(m.c.id)
    .where(
        # Literally the partial index's predicate: with bound parameters SQLite cannot tell that
        # the index applies, and scans the table instead.
        DUE_PREDICATE,
        m.c.next_attempt_at <= bindparam("now"),
        or_(m.c.lease_until.is_(None), m.c.lease_until < bindparam("now")),
    )
    .order_by(m.c.next_attempt_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_CLAIM = (
    update(m)
    .where(m.c.id.in_(_DUE.scalar_subquery()))
    .values(lease_until=bindparam("lease_until"), worker_id=bindparam("worker"))
    .returning(m.c.id, m.c.webhook_id, m.c.event_type, m.c.event, m.c.trigger, m.c.attempt_count)
)


def claim(conn: Connection, worker_id: str, limit: int, lease_seconds: float) -> list[Claimed]:
    now = clock.now()
    params = {"now": now, "limit": limit, "lease_until": now + timedelta(seconds=lease_seconds), "worker": worker_id}
    return [Claimed(*row) for row in conn.execute(_CLAIM, params)]


def heartbeat(conn: Connection, worker_id: str, message_ids: list[int], lease_seconds: float) -> None:
    if message_ids:
        conn.execute(
            update(m)
            .where(m.c.id.in_(message_ids), m.c.worker_id == worker_id)
            .values(lease_until=clock.now() + timedelta(seconds=lease_seconds))
        )


def release(conn: Connection, worker_id: str, message_ids: list[int]) -> None:
    """Give unfinished claims back at shutdown, so another worker takes them at once."""
    if message_ids:
        conn.execute(update(m).where(m.c.id.in_(message_ids), m.c.worker_id == worker_id).values(lease_until=None))


def defer(conn: Connection, worker_id: str, message_ids: list[int], until: datetime) -> None:
    """Give claims back untried, due again at `until` (their connector is held): no attempt is counted."""
    if message_ids:
        conn.execute(
            update(m)
            .where(m.c.id.in_(message_ids), m.c.worker_id == worker_id)
            .values(lease_until=None, worker_id=None, next_attempt_at=until)
        )


# Not frozen: a frozen dataclass sets each of its 18 fields through object.__setattr__ (2.6 µs a
# delivery against 0.9). Nothing changes an attempt once built.
@dataclass(slots=True)
class Attempt:
    message_id: int
    webhook_id: int
    worker_id: str
    number: int
    trigger: str
    url: str
    method: str
    request_headers: dict[str, str]
    request_body: str
    status_code: int | None
    response_headers: dict[str, str]
    response_body: str
    truncated: bool
    error: str | None
    duration_ms: float
    started_at: datetime
    # Where the message goes next: "delivered", "dead_letter", "retrying" after `retry_in` seconds, or
    # "paused" (its connector's credentials were rejected; resumed when they change).
    outcome: str
    retry_in: float | None = None


# Only the holder of the claim moves the message on; a replay that arrived meanwhile wins.
_MOVE_ON = """
    attempt_count = attempt_count + 1, status = v.status, lease_until = NULL, worker_id = NULL,
    last_status_code = v.last_status_code, last_error = v.last_error,
    next_attempt_at = COALESCE(v.next_attempt_at, webhook_messages.next_attempt_at), finished_at = v.finished_at
"""
_HELD_BY_RECORDER = "webhook_messages.id = v.id AND webhook_messages.worker_id = v.worker_id"


def record(conn: Connection, attempts: list[Attempt]) -> None:
    """Record finished attempts and move their messages on: two statements for the whole batch."""
    if not attempts:
        return
    now = clock.now()
    insert_many(
        conn,
        webhook_attempts,
        [
            {
                "id": new_id(),
                "message_id": a.message_id,
                "webhook_id": a.webhook_id,
                "number": a.number,
                "trigger": a.trigger,
                "url": a.url,
                "method": a.method,
                "request_headers": a.request_headers,
                "request_body": a.request_body,
                "status_code": a.status_code,
                "response_headers": a.response_headers,
                "response_body": a.response_body,
                "truncated": a.truncated,
                "error": a.error,
                "duration_ms": a.duration_ms,
                "started_at": a.started_at,
            }
            for a in attempts
        ],
    )
    update_many(
        conn,
        m,
        [
            {
                "id": a.message_id,
                "worker_id": a.worker_id,
                "status": a.outcome,
                "last_status_code": a.status_code,
                "last_error": a.error,
                "next_attempt_at": now + timedelta(seconds=a.retry_in or 0) if a.outcome == "retrying" else None,
                "finished_at": None if a.outcome in ("retrying", "paused") else now,
            }
            for a in attempts
        ],
        assignments=_MOVE_ON,
        where=_HELD_BY_RECORDER,
    )
    for a in attempts:
        if a.number > ATTEMPTS_KEPT:
            _trim(conn, a.message_id, a.number - ATTEMPTS_KEPT)


def _trim(conn: Connection, message_id: int, surplus: int) -> None:
    oldest = (
        select(webhook_attempts.c.id)
        .where(webhook_attempts.c.message_id == message_id)
        .order_by(webhook_attempts.c.number)
        .limit(surplus)
    )
    conn.execute(delete(webhook_attempts).where(webhook_attempts.c.id.in_(oldest.scalar_subquery())))


def purge(conn: Connection, dead_letter_days: float, delivered_days: float) -> int:
    """Delete finished messages past retention (their attempts go with them). At most one batch per call."""
    now = clock.now()
    expired = or_(
        and_(m.c.status == "dead_letter", m.c.finished_at < now - timedelta(days=dead_letter_days)),
        and_(m.c.status == "delivered", m.c.finished_at < now - timedelta(days=delivered_days)),
    )
    ids = list(conn.execute(select(m.c.id).where(expired).limit(PURGE_BATCH)).scalars())
    if ids:
        conn.execute(delete(webhook_attempts).where(webhook_attempts.c.message_id.in_(ids)))
        conn.execute(delete(m).where(m.c.id.in_(ids)))
    return len(ids)
