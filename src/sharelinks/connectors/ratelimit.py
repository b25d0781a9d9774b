"""A token bucket per connector, kept in the database so every worker process draws from the same one.

`take` runs in its own short transaction; the row lock (PostgreSQL `FOR UPDATE`, SQLite's single
writer) makes concurrent takers see each other's withdrawals.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from sharelinks import clock
from sharelinks.connectors.models import rate_buckets
from sharelinks.db.upsert import insert_or_ignore


def take(conn: Connection, connector_id: int, rate: float, burst: int) -> float:
    """Take one token: 0.0 when granted, else the seconds until one will be there (nothing taken)."""
    now = clock.now()
    query = select(rate_buckets.c.tokens, rate_buckets.c.updated_at).where(rate_buckets.c.connector_id == connector_id)
    row = conn.execute(query.with_for_update()).first()
    if row is None:
        if insert_or_ignore(
            conn, rate_buckets, {"connector_id": connector_id, "tokens": burst - 1.0, "updated_at": now}
        ):
            return 0.0
        row = conn.execute(query.with_for_update()).one()
    tokens = _refilled(row.tokens, row.updated_at, now, rate, burst)
    granted = tokens >= 1.0
    conn.execute(
        update(rate_buckets)
        .where(rate_buckets.c.connector_id == connector_id)
        .values(tokens=tokens - 1.0 if granted else tokens, updated_at=now)
    )
    return 0.0 if granted else (1.0 - tokens) / rate


def hold(conn: Connection, connector_id: int, seconds: float, rate: float) -> None:
    """No token for `seconds` (a vendor's daily cap), for every worker: the bucket goes into debt,
    so the next `take` anywhere answers with the time left."""
    now = clock.now()
    tokens = 1.0 - seconds * rate
    values = {"connector_id": connector_id, "tokens": tokens, "updated_at": now}
    if not insert_or_ignore(conn, rate_buckets, values):
        bucket = rate_buckets.c.connector_id == connector_id
        conn.execute(update(rate_buckets).where(bucket).values(tokens=tokens, updated_at=now))


def _refilled(tokens: float, since: datetime, now: datetime, rate: float, burst: int) -> float:
    return min(float(burst), tokens + max(0.0, (now - since).total_seconds()) * rate)
