"""Rows by the thousand straight through the driver: inserts, upserts with RETURNING, lookups by IN.

SQLAlchemy's executemany runs a bind processor per value of every row; at click rates that was
most of the write. Here a row is a tuple in the order of the columns named, already in the driver's
terms (`timestamp` converts the one type that differs): on SQLite many rows per statement, on
PostgreSQL streamed by COPY. Statement text is built from table definitions and the caller's
static SQL only, never from data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from itertools import chain
from typing import Any

import orjson
from sqlalchemy import Connection, Table
from sqlalchemy.exc import DBAPIError

# SQLite's limit on bound variables per statement: 32,766 since 3.32, 999 before.
_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def _insert(table: Table, columns: tuple[str, ...], tail: str = "") -> str:
    """An INSERT with a `{values}` slot for `_many`."""
    assert all(name in table.columns for name in columns)
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {{values}} {tail}"


def _many(
    conn: Connection, template: str, rows: Sequence[tuple[Any, ...]], *, cap: int = 1000, returns: bool = False
) -> list[Any]:
    """`template` run with multi-row VALUES in its `{values}` slot, at most `cap` rows a statement and
    within SQLite's parameter limit; the rows the statements return, when they return any."""
    marker = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    width = len(rows[0]) if rows else 1
    group = f"({', '.join(marker for _ in range(width))})"
    per_statement = min(_SQLITE_VARIABLES // width, cap)
    found: list[Any] = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        result = conn.exec_driver_sql(template.format(values=", ".join(group for _ in chunk)),
                                      tuple(chain.from_iterable(chunk)))  # fmt: skip
        if returns:
            found.extend(result.all())
    return found


def insert_tuples(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if conn.dialect.name != "sqlite":
        with driver_errors(conn, f"COPY {table.name}"), _cursor(conn) as cursor:
            _copy(cursor, table.name, columns, rows)
        return
    # On SQLite, many rows per statement: one sqlite3_step, so the sqlite3 module lets go of the GIL
    # once per statement. executemany does it per row, and a thread writing beside a busy event loop
    # then waited for the GIL on every row.
    _many(conn, _insert(table, columns), rows)


@contextmanager
def _cursor(conn: Connection) -> Iterator[Any]:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        yield cursor
    finally:
        cursor.close()


@contextmanager
def driver_errors(conn: Connection, statement: str, params: Any = None) -> Iterator[None]:
    """Errors of direct driver calls as SQLAlchemy raises them (IntegrityError and the rest)."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(statement, params, exc, dbapi.Error) from exc


def _copy(cursor: Any, table: str, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    # PostgreSQL's COPY: rows streamed as data, no statement text to parse per value (psycopg parsed a
    # 60,000-placeholder INSERT in Python: half of a backfill's time).
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def execute_values(conn: Connection, template: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Run `template` (static SQL from the caller, with one `{values}` slot) with multi-row VALUES
    for `rows`: one statement per chunk, not one per row. On SQLite that also means the sqlite3
    module drops the GIL once per chunk, where executemany did it per row."""
    _many(conn, template, rows)


_last_timestamp: tuple[datetime, str] = (datetime.min.replace(tzinfo=UTC), "0001-01-01 00:00:00.000000")


def sqlite_timestamp(value: datetime) -> str:
    # What UTCDateTime and SQLAlchemy's SQLite DATETIME store: naive UTC, always with microseconds
    # ("2026-11-27 13:37:13.498372", the first 26 characters of an aware UTC isoformat). The rows of
    # one statement mostly carry the same `now` object (created_at, updated_at of every row): its
    # text is kept, 0.1 µs instead of 1.2 (eight such values an ingested event).
    global _last_timestamp
    last = _last_timestamp
    if last[0] is value:
        return last[1]
    text = (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat(" ", "microseconds")[:26]
    _last_timestamp = (value, text)
    return text


def _aware(value: datetime) -> datetime:
    return value


def timestamp(dialect: str) -> Callable[[datetime], Any]:
    """How the driver of `dialect` takes an aware UTC datetime for a UTCDateTime column."""
    return sqlite_timestamp if dialect == "sqlite" else _aware


def insert_returning(
    conn: Connection,
    table: Table,
    columns: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    *,
    returning: tuple[str, ...],
    on_conflict: str = "",
) -> list[tuple[Any, ...]]:
    """`INSERT … [on_conflict] RETURNING …` of many rows; `on_conflict` is static SQL from the caller.

    SQLite (3.35+): multi-row VALUES, as few statements as its parameter limit allows, through
    `exec_driver_sql` (no per-value processing). PostgreSQL: COPY into a session-private staging
    table, then one `INSERT … SELECT`. Driver errors arrive as SQLAlchemy's either way.
    """
    assert all(name in table.columns for name in returning)
    tail = f"{on_conflict} RETURNING {', '.join(returning)}"
    if conn.dialect.name != "sqlite":
        stage, names = f"staging_{table.name}", ", ".join(columns)
        with driver_errors(conn, f"INSERT INTO {table.name}"), _cursor(conn) as cursor:
            # Emptied at every commit; created once per connection (again if its transaction rolled back).
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (LIKE {table.name} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
            )
            cursor.execute(f"TRUNCATE {stage}")
            _copy(cursor, stage, columns, rows)
            cursor.execute(f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {stage} {tail}")
            return list(cursor.fetchall())
    return values_returning(conn, table, columns, rows, tail=tail)


def values_returning(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]], *, tail: str
) -> list[tuple[Any, ...]]:
    """`INSERT … {tail}` of the tens of rows of a request batch, `tail` (static SQL from the caller)
    ending in RETURNING, where COPY's extra statements would cost more than they save.

    SQLite: multi-row VALUES. PostgreSQL: the rows as one JSON parameter (`_as_json`), the same
    statement text whatever the number of rows, so psycopg converts it once and PostgreSQL prepares
    it once (a VALUES list of each length was a new statement to both)."""
    if conn.dialect.name == "sqlite":
        return _many(conn, _insert(table, columns, tail), rows, cap=5000, returns=True)
    if not rows:
        return []
    names = ", ".join(columns)
    sql = f"INSERT INTO {table.name} ({names}) SELECT {names} FROM {_from_json(table)} {tail}"
    with driver_errors(conn, sql), _cursor(conn) as cursor:
        cursor.execute(sql, (_as_json(columns, rows),))
        return list(cursor.fetchall())


# PostgreSQL takes a batch of rows as one JSON text and turns it into rows of the table's own type:
# psycopg sends one string orjson wrote in C. One array per column (unnest) had psycopg dump every
# array element in Python: a tenth of the event loop's and the database threads' GIL time when
# ingesting events (py-spy). Each value is converted by its column type's input function, which
# refuses a string too long for its column, as the assignment does. Values are what the driver
# would be given: numbers, strings, booleans, aware datetimes, dates, None (JSONText columns hold
# text). A float that is not finite would arrive as NULL: none is written through here.
def _from_json(table: Table) -> str:
    return f"json_populate_recordset(NULL::{table.name}, %s::json)"


def _as_json(columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> str:
    return orjson.dumps([dict(zip(columns, row, strict=True)) for row in rows]).decode()


def select_in(
    conn: Connection, table: Table, columns: tuple[str, ...], where: str, params: tuple[Any, ...], column: str,
    values: Sequence[Any],
) -> list[tuple[Any, ...]]:  # fmt: skip
    """`SELECT columns FROM table WHERE {where} AND column IN (values)`: on PostgreSQL one array
    parameter (`= ANY`), on SQLite chunks within its parameter limit. `where` is static SQL with `?`
    placeholders for `params`, written by the caller."""
    assert all(name in table.columns for name in (*columns, column))
    head = f"SELECT {', '.join(columns)} FROM {table.name} WHERE "
    if conn.dialect.name != "sqlite":
        if not values:
            return []
        sql = f"{head}{where.replace('?', '%s')} AND {column} = ANY(%s)"
        return list(conn.exec_driver_sql(sql, (*params, list(values))).all())
    per_statement = _SQLITE_VARIABLES - len(params)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        sql = f"{head}{where} AND {column} IN ({', '.join('?' for _ in chunk)})"
        found.extend(conn.exec_driver_sql(sql, (*params, *chunk)).all())
    return found


def update_from(
    conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]], *, assignments: str,
    where: str,
) -> None:  # fmt: skip
    """`UPDATE table SET {assignments} FROM (the rows) AS v WHERE {where}`: many rows' changes in one
    statement. Each of `columns` is named for the table column whose type its values have; the
    static SQL of `assignments` and `where` reads them as `v.<column>`."""
    if not rows:
        return
    head = f"UPDATE {table.name} SET {assignments} FROM "
    tail = f" WHERE {where}"
    if conn.dialect.name == "sqlite":
        # SQLite names VALUES columns column1, column2, …: a SELECT gives them the names used above.
        named = ", ".join(f"column{i + 1} AS {name}" for i, name in enumerate(columns))
        _many(conn, f"{head}(SELECT {named} FROM (VALUES {{values}})) AS v{tail}", rows)
        return
    # Only the named columns in v: the others would make the caller's unqualified names ambiguous.
    sql = f"{head}(SELECT {', '.join(columns)} FROM {_from_json(table)}) AS v{tail}"
    with driver_errors(conn, sql), _cursor(conn) as cursor:
        cursor.execute(sql, (_as_json(columns, rows),))
