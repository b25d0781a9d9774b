"""`INSERT … ON CONFLICT DO NOTHING` on both databases.

Uniqueness is enforced by the database, never by check-then-insert, so concurrent identical requests
cannot create two rows: the loser's insert does nothing and it reads the winner's row instead.

This is the insert of every hot path (persons, links, events, webhook messages), so it goes to the
driver directly: the statement text and each column's bind processor are worked out once per table
and set of columns, and a call costs the processing of its values, not SQLAlchemy's whole execution
path (about a fifth of an event's time). Driver errors still arrive as SQLAlchemy's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from sharelinks.db.rows import driver_errors, values_returning

Processor = Callable[[Any], Any] | None


@lru_cache(maxsize=256)
def _plan(dialect: Dialect, table: Table, names: tuple[str, ...], tail: str) -> tuple[str, tuple[Processor, ...]]:
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)}) {tail}"
    return sql, tuple(table.columns[name].type.bind_processor(dialect) for name in names)


def _processed(values: dict[str, Any], processors: tuple[Processor, ...]) -> tuple[Any, ...]:
    return tuple(
        value if process is None else process(value) for value, process in zip(values.values(), processors, strict=True)
    )


def _execute(conn: Connection, table: Table, values: dict[str, Any], tail: str) -> Any:
    sql, processors = _plan(conn.dialect, table, tuple(values), tail)
    params = _processed(values, processors)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver_errors(conn, sql, params):
        return driver.execute(sql, params)


def insert_or_ignore(conn: Connection, table: Table, values: dict[str, Any]) -> bool:
    """Insert one row unless it would break a unique constraint; True when the row was inserted."""
    # RETURNING, not rowcount: psycopg reports rowcount -1 for ON CONFLICT inserts.
    key = next(iter(table.primary_key.columns)).name
    return _execute(conn, table, values, f"ON CONFLICT DO NOTHING RETURNING {key}").fetchone() is not None


def insert(conn: Connection, table: Table, values: dict[str, Any]) -> None:
    """Insert one row (a unique violation raises IntegrityError)."""
    _execute(conn, table, values, "")


def insert_many_or_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> set[Any]:
    """`insert_or_ignore` of many rows (all with the same columns) in as few statements as the
    database allows; the primary keys of the rows inserted. A row that conflicts with an earlier
    row of the same call is not inserted either, as if the rows were inserted one by one."""
    if not rows:
        return set()
    key = next(iter(table.primary_key.columns)).name
    names = tuple(rows[0])
    _, processors = _plan(conn.dialect, table, names, "")
    tuples = [_processed(row, processors) for row in rows]
    return {
        found[0]
        for found in values_returning(conn, table, names, tuples, tail=f"ON CONFLICT DO NOTHING RETURNING {key}")
    }
