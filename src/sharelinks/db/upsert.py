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
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from sharelinks.db.metadata import UTCDateTime
from sharelinks.db.rows import driver_errors, insert_tuples, sqlite_timestamp, update_from, values_returning

Processor = Callable[[Any], Any]
# The columns whose values need converting (JSON, timestamps, …), by place: most need nothing, and
# a generator over every value of every row was 1.05 µs a row against 0.41 this way.
Processing = tuple[tuple[int, Processor], ...]


@lru_cache(maxsize=256)
def _plan(dialect: Dialect, table: Table, names: tuple[str, ...], tail: str) -> tuple[str, Processing]:
    marker = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marker for _ in names)}) {tail}"
    processors = (_processor(table.columns[name].type, dialect) for name in names)
    return sql, tuple((index, process) for index, process in enumerate(processors) if process is not None)


def _processor(column_type: Any, dialect: Dialect) -> Processor | None:
    # A UTCDateTime on SQLite goes as the text SQLAlchemy's own statements write for it. Its bind
    # processor alone (without the dialect's DATETIME formatting that Core statements add) handed a
    # naive datetime to the sqlite3 module's adapter, which drops a zero fraction ("… 13:37:13"
    # beside "… 13:37:13.000000" for one instant) and cost a fifth more (the two steps were 3 % of
    # the GIL's time when ingesting events with links and webhook messages). The processor Core
    # uses (`type.dialect_impl(dialect)`) writes the same text but took 2.8 µs a value against 1.0.
    if dialect.name == "sqlite" and isinstance(column_type, UTCDateTime):
        return _sqlite_utc
    return column_type.bind_processor(dialect)  # type: ignore[no-any-return]


def _sqlite_utc(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return sqlite_timestamp(value)


def _processed(values: dict[str, Any], processing: Processing, names: tuple[str, ...]) -> tuple[Any, ...]:
    if len(values) != len(names):
        raise ValueError(f"a row with columns {tuple(values)} among rows with {names}")
    row = list(values.values())
    for index, process in processing:
        row[index] = process(row[index])
    return tuple(row)


def _execute(conn: Connection, table: Table, values: dict[str, Any], tail: str) -> Any:
    names = tuple(values)
    sql, processing = _plan(conn.dialect, table, names, tail)
    params = _processed(values, processing, names)
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
    names, tuples = _tuples(conn, table, rows)
    returned = values_returning(conn, table, names, tuples, tail=f"ON CONFLICT DO NOTHING RETURNING {key}")
    return {found[0] for found in returned}


def _tuples(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]]
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """Rows (all with the same columns) as the driver takes them: column names, value tuples."""
    names = tuple(rows[0])
    _, processing = _plan(conn.dialect, table, names, "")
    return names, [_processed(row, processing, names) for row in rows]


def insert_many(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert many rows (all with the same columns): multi-row statements on SQLite, COPY on PostgreSQL."""
    if rows:
        insert_tuples(conn, table, *_tuples(conn, table, rows))


def update_many(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], *, assignments: str, where: str
) -> None:
    """`rows.update_from` with each row's values named for (and typed as) the table's columns."""
    if rows:
        update_from(conn, table, *_tuples(conn, table, rows), assignments=assignments, where=where)
