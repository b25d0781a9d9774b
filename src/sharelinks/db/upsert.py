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
    if conn.dialect.name == "postgresql":
        stmt: Any = postgresql.insert(table).values(values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(table).values(values).on_conflict_do_nothing()
    return bool(conn.execute(stmt).rowcount == 1)
