"""The Alembic migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, insert, select

from sharelinks.db.database import Database
from sharelinks.db.metadata import metadata
from sharelinks.db.migrate import alembic_config, head_revision, upgrade
from sharelinks.links.models import CLICK_ID_STRIDE, click_blocks, clicks
from sharelinks.testing import databases
from tests.conftest import BACKENDS


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent(db: Database) -> None:
    upgrade(db.engine)
    upgrade(db.engine)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'empty.db'}"
    else:
        url = databases.create_postgres_database("sharelinks_migration")
    database = Database(url)
    yield database
    database.dispose()
    if request.param == "postgresql":
        databases.drop_postgres_database(url)


# The click table as migrations 0003-0010 left it (the database numbered its rows).
_OLD_CLICKS = Table(
    "clicks",
    MetaData(),
    Column("id", Integer, primary_key=True),
    *(Column(c.name, c.type, nullable=c.nullable) for c in clicks.columns if c.name != "id"),
)


def test_clicks_move_into_blocks_and_back(empty_database: Database) -> None:
    """0011 moves stored click rows into blocks of 500, the view shows each as before, and the
    downgrade gives the table back with the same rows."""
    engine = empty_database.engine
    upgrade(engine, "0010")
    start = datetime(2026, 11, 28, 6, 59, 58, 123456, tzinfo=UTC)
    old = [
        {"clicked_at": start + timedelta(microseconds=7_654_321 * i), "shareable_id": None if i % 7 == 0 else 2**62 + i,
         "code": f"Code{i}", "program_id": None if i % 7 == 0 else 42, "person_id": None if i % 5 == 0 else 2**61 - i,
         "ip_hash": f"{i:032x}", "user_agent": None if i % 3 == 0 else f"UA/{i}", "referer": "https://r.example/?a=1&b='x'",
         "is_bot": i % 11 == 0, "via_qr": i % 4 == 0, "is_unique": i % 2 == 0}
        for i in range(1203)
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(insert(_OLD_CLICKS), old)

    upgrade(engine)
    with engine.connect() as conn:
        blocks = conn.execute(select(click_blocks).order_by(click_blocks.c.id)).all()
        viewed = conn.execute(select(clicks).order_by(clicks.c.id)).mappings().all()
    assert [b.click_count for b in blocks] == [500, 500, 203]
    assert (blocks[1].first_at, blocks[1].last_at) == (old[500]["clicked_at"], old[999]["clicked_at"])
    assert [{k: v for k, v in row.items() if k != "id"} for row in viewed] == old
    first, second = blocks[0].id * CLICK_ID_STRIDE, blocks[1].id * CLICK_ID_STRIDE
    assert [row["id"] for row in viewed[499:501]] == [first + 499, second]

    command.downgrade(alembic_config(engine), "0010")
    with engine.connect() as conn:
        restored = conn.execute(select(_OLD_CLICKS).order_by(_OLD_CLICKS.c.id)).mappings().all()
    assert [{k: v for k, v in row.items() if k != "id"} for row in restored] == old
