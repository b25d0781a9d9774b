"""The Alembic migrations produce exactly the schema the code declares, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sharelinks.db.database import Database
from sharelinks.db.metadata import metadata
from sharelinks.db.migrate import head_revision, upgrade


def test_migrations_match_models(db: Database) -> None:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        assert compare_metadata(context, metadata) == []


def test_upgrade_is_idempotent(db: Database) -> None:
    upgrade(db.engine)
    upgrade(db.engine)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == head_revision()
