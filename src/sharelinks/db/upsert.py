"""`INSERT … ON CONFLICT DO NOTHING` on both databases.

Uniqueness is enforced by the database, never by check-then-insert, so concurrent identical requests
cannot create two rows: the loser's insert does nothing and it reads the winner's row instead.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite


def insert_or_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert one row unless it would break a unique constraint; True when the row was inserted."""
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    key = next(iter(table.primary_key.columns))
    # RETURNING, not rowcount: psycopg reports rowcount -1 for ON CONFLICT inserts.
    stmt = dialect.insert(table).values(values).on_conflict_do_nothing().returning(key)
    return conn.execute(stmt).first() is not None
