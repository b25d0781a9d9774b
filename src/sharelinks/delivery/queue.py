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

from sqlalchemy import Connection, and_, delete, or_, select, update

from sharelinks import clock
from sharelinks.ids import new_id
from sharelinks.webhooks.models import DUE_STATUSES, webhook_attempts, webhook_messages

# Attempt history per message stays bounded: 6 scheduled attempts plus a few replays.
ATTEMPTS_KEPT = 20
PURGE_BATCH = 1000
m = webhook_messages


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: int
    event_type: str
    event: dict[str, Any]
    trigger: str
    attempt_count: int


def claim(conn: Connection, worker_id: str, limit: int, lease_seconds: float) -> list[Claimed]:
    now = clock.now()
    due = (
        select(m.c.id)
        .where(
            m.c.status.in_(DUE_STATUSES),
            m.c.next_attempt_at <= now,
            or_(m.c.lease_until.is_(None), m.c.lease_until < now),
        )
        .order_by(m.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(m)
        .where(m.c.id.in_(due.scalar_subquery()))
        .values(lease_until=now + timedelta(seconds=lease_seconds), worker_id=worker_id)
        .returning(m.c.id, m.c.webhook_id, m.c.event_type, m.c.event, m.c.trigger, m.c.attempt_count)
    )
    return [Claimed(*row) for row in conn.execute(statement)]


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


@dataclass(frozen=True)
class Attempt:
    message_id: int
    webhook_id: int
    worker_id: str
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
    # Where the message goes next: "delivered", "dead_letter", or "retrying" after `retry_in` seconds.
    outcome: str
    retry_in: float | None = None


def record(conn: Connection, attempt: Attempt) -> None:
    now = clock.now()
    number = conn.execute(select(m.c.attempt_count).where(m.c.id == attempt.message_id)).scalar()
    if number is None:
        return  # the webhook was deleted meanwhile, and its messages with it
    conn.execute(
        webhook_attempts.insert(),
        {
            "id": new_id(),
            "message_id": attempt.message_id,
            "webhook_id": attempt.webhook_id,
            "number": number + 1,
            "trigger": attempt.trigger,
            "url": attempt.url,
            "method": attempt.method,
            "request_headers": attempt.request_headers,
            "request_body": attempt.request_body,
            "status_code": attempt.status_code,
            "response_headers": attempt.response_headers,
            "response_body": attempt.response_body,
            "truncated": attempt.truncated,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
            "started_at": attempt.started_at,
        },
    )
    values: dict[str, Any] = {
        "attempt_count": number + 1,
        "status": attempt.outcome,
        "lease_until": None,
        "worker_id": None,
        "last_status_code": attempt.status_code,
        "last_error": attempt.error,
    }
    if attempt.outcome == "retrying":
        values["next_attempt_at"] = now + timedelta(seconds=attempt.retry_in or 0)
    else:
        values["finished_at"] = now
    # Only the holder of the claim moves the message on; a replay that arrived meanwhile wins.
    conn.execute(update(m).where(m.c.id == attempt.message_id, m.c.worker_id == attempt.worker_id).values(**values))
    if number + 1 > ATTEMPTS_KEPT:
        oldest = (
            select(webhook_attempts.c.id)
            .where(webhook_attempts.c.message_id == attempt.message_id)
            .order_by(webhook_attempts.c.number)
            .limit(number + 1 - ATTEMPTS_KEPT)
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
