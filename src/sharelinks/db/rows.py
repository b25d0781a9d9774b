"""Many rows into one table straight through the driver, for the tables written by the thousand.

SQLAlchemy's executemany runs a bind processor per value of every row; at click rates that was
most of the write. Here a row is a tuple in the order of the columns named, already in the driver's
terms (`timestamp` converts the one type that differs), handed to `cursor.executemany` as it is.
The statement text is built from the table definition only, never from data.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Table

# SQLite's limit on bound variables per statement: 32,766 since 3.32, 999 before.
_SQLITE_VARIABLES = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@lru_cache(maxsize=64)
def _insert(table: Table, columns: tuple[str, ...], paramstyle: str, rows: int = 1) -> str:
    assert all(name in table.columns for name in columns)
    marker = "?" if paramstyle == "qmark" else "%s"
    values = f"({', '.join(marker for _ in columns)})"
    return f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES {', '.join(values for _ in range(rows))}"


def insert_tuples(conn: Connection, table: Table, columns: tuple[str, ...], rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    paramstyle = conn.dialect.paramstyle
    if conn.dialect.name != "sqlite":
        conn.exec_driver_sql(_insert(table, columns, paramstyle), list(rows))
        return
    # On SQLite, many rows per statement: one sqlite3_step, so the sqlite3 module lets go of the GIL
    # once per statement. executemany does it per row, and a thread writing beside a busy event loop
    # then waited for the GIL on every row.
    per_statement = min(_SQLITE_VARIABLES // len(columns), 1000)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        flat = tuple(chain.from_iterable(chunk))
        conn.exec_driver_sql(_insert(table, columns, paramstyle, len(chunk)), flat)


def _sqlite_timestamp(value: datetime) -> str:
    # What UTCDateTime and SQLAlchemy's SQLite DATETIME store: naive UTC, always with microseconds
    # ("2026-11-27 13:37:13.498372", the first 26 characters of an aware UTC isoformat).
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]


def _aware(value: datetime) -> datetime:
    return value


def timestamp(dialect: str) -> Callable[[datetime], Any]:
    """How the driver of `dialect` takes an aware UTC datetime for a UTCDateTime column."""
    return _sqlite_timestamp if dialect == "sqlite" else _aware
