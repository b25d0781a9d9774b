"""`INSERT … ON CONFLICT DO NOTHING` on both databases.

Uniqueness is enforced by the database, never by check-then-insert, so concurrent identical requests
cannot create two rows: the loser's insert does nothing and it reads the winner's row instead.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


@cache
def _statement(dialect: str, table: Table) -> Insert:
    # Built once per table: SQLAlchemy then reuses its compiled form instead of re-deriving it per row.
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports rowcount -1 for ON CONFLICT inserts.
    return insert(table).on_conflict_do_nothing().returning(key)  # type: ignore[no-any-return]


def insert_or_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert one row unless it would break a unique constraint; True when the row was inserted."""
    return conn.execute(_statement(conn.dialect.name, table), values).first() is not None
