"""PostgreSQL connections that die in the pool: pinged when they sat idle, retried when they were busy."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.pool import NullPool

from sharelinks.db import database
from sharelinks.db.database import Database, Passed


@pytest.fixture
def pg(db: Database) -> Database:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite has no pooled connections to lose")
    return db


def backend(db: Database) -> int:
    return int(db.call(lambda conn: conn.execute(text("SELECT pg_backend_pid()")).scalar_one()))


def kill(db: Database, pid: int) -> None:
    """Terminate one server process from outside the pool, as a restart or a proxy would."""
    killer = create_engine(db.engine.url, poolclass=NullPool)
    with killer.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(100):
            gone = conn.execute(text("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid})
            if gone.scalar_one():
                break
            time.sleep(0.02)
    killer.dispose()


def test_an_idle_connection_that_died_is_replaced_before_use(pg: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 0.0)  # every pooled connection counts as idle
    first = backend(pg)
    kill(pg, first)
    assert backend(pg) != first  # pinged, found dead, replaced: no error reaches the caller


def test_a_busy_connection_that_died_costs_its_group_a_retry_alone(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(database, "IDLE_PING_SECONDS", 3600.0)  # never pinged: it dies mid-use
    kill(pg, backend(pg))

    def together(conn: Connection, items: list[int]) -> list[int | Passed]:
        conn.execute(text("SELECT 1"))
        return [item * 10 for item in items]

    def alone(conn: Connection, item: int) -> int:
        conn.execute(text("SELECT 1"))
        return -item

    async def main() -> list[Any]:
        return await asyncio.gather(*(pg.run_together(together, alone, n) for n in range(4)))

    # The group's connection was dead: the group failed as a whole, its items ran alone on fresh ones.
    assert asyncio.run(main()) == [0, -1, -2, -3]
