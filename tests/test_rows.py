"""Rows in bulk (db.upsert over db.rows) come back exactly as they went in, on both databases.

On PostgreSQL they travel as one JSON text the database turns into rows of the table's type, so
what JSON could blur is pinned here: 64-bit ids, microseconds, quotes, backslashes and non-ASCII
text, booleans, NULLs and JSON documents stored as text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Connection, select

from sharelinks.db.database import Database
from sharelinks.db.rows import sqlite_timestamp
from sharelinks.db.upsert import insert, insert_many_or_ignore, update_many
from sharelinks.persons.models import persons

AT = datetime(2026, 11, 27, 21, 30, 5, 123456, tzinfo=UTC)
NAMES = ['Zoë "Q" O\'Neil', "back\\slash \\u0041", "日本語 😀", "tab\there", '{"not": json}', "null"]


def person_rows() -> list[dict[str, Any]]:
    return [
        {"id": 2**63 - 1 - i, "email": f"p{i}@example.com", "email_key": f"p{i}@example.com",
         "partner_user_id": None if i % 2 else f"U-{i}", "first_name": name, "last_name": None,
         "picture_url": None, "blocked": i % 3 == 0,
         "data": {"nested": {"list": [1, 2.5, None, name]}, "ü": "\\", "big": 2**62},
         "version": i + 1, "created_at": AT + timedelta(microseconds=i), "updated_at": AT - timedelta(days=400 * i)}
        for i, name in enumerate(NAMES)
    ]  # fmt: skip


def stored(db: Database) -> list[dict[str, Any]]:
    def read(conn: Connection) -> list[dict[str, Any]]:
        return [dict(row) for row in conn.execute(select(persons).order_by(persons.c.id.desc())).mappings()]

    return db.call(read)


def test_many_rows_are_stored_exactly(db: Database) -> None:
    rows = person_rows()
    assert db.call(insert_many_or_ignore, persons, rows) == {row["id"] for row in rows}
    assert stored(db) == rows
    again = [{**rows[0], "first_name": "ignored"}, {**rows[1], "id": 7, "first_name": "ignored too"}]
    assert db.call(insert_many_or_ignore, persons, again) == set()  # same id; same email
    assert stored(db) == rows


def test_many_rows_update_exactly(db: Database) -> None:
    rows = person_rows()
    db.call(insert_many_or_ignore, persons, rows)
    changed = [{**row, "last_name": row["first_name"][::-1], "version": 99} for row in rows[1:]]
    changes = [{"id": row["id"], "last_name": row["last_name"], "version": 99} for row in changed]
    db.call(update_many, persons, changes, assignments="last_name = v.last_name, version = v.version",
            where="persons.id = v.id")  # fmt: skip
    expected = [rows[0], *changed]
    assert stored(db) == expected


def test_a_time_is_stored_as_the_same_text_whichever_path_wrote_it(db: Database) -> None:
    """One instant, one stored text: straight to the driver (db.upsert) as through SQLAlchemy's own
    statements, a whole second (no fraction to drop) and a time off UTC included."""
    instants = [datetime(2026, 11, 27, 21, 30, 5, tzinfo=UTC),
                datetime(2026, 11, 27, 22, 30, 5, 7, tzinfo=timezone(timedelta(hours=1)))]  # fmt: skip
    rows = [dict(person_rows()[i], created_at=at, updated_at=at) for i, at in enumerate(instants)]
    db.call(insert_many_or_ignore, persons, rows[:1])
    db.call(insert, persons, rows[1])
    core = [dict(row, id=row["id"] - 100, email_key=f"core-{row['email_key']}", partner_user_id=None) for row in rows]
    db.call(lambda conn: conn.execute(persons.insert(), core))

    def texts(conn: Connection) -> list[tuple[int, str]]:
        cast = "CAST(created_at AS TEXT)"
        return [tuple(r) for r in conn.exec_driver_sql(f"SELECT id, {cast} FROM persons ORDER BY id DESC")]

    by_id = dict(db.call(texts))
    for row in rows:
        assert by_id[row["id"]] == by_id[row["id"] - 100]  # driver path == SQLAlchemy Core
    if db.is_sqlite:
        assert by_id[rows[0]["id"]] == "2026-11-27 21:30:05.000000"
        assert by_id[rows[1]["id"]] == "2026-11-27 21:30:05.000007"
    assert [row["created_at"] for row in stored(db)] == instants + instants


def test_sqlite_timestamps_of_repeated_and_alternating_instants() -> None:
    # The last value's text is kept: the same object again gets it, any other value its own.
    first = datetime(2026, 11, 28, 3, 0, 5, tzinfo=UTC)
    second = datetime(2026, 11, 28, 5, 0, 5, 123456, tzinfo=timezone(timedelta(hours=2)))  # 03:00:05.123456 UTC
    assert [sqlite_timestamp(v) for v in (first, first, second, first, second, second)] == [
        "2026-11-28 03:00:05.000000",
        "2026-11-28 03:00:05.000000",
        "2026-11-28 03:00:05.123456",
        "2026-11-28 03:00:05.000000",
        "2026-11-28 03:00:05.123456",
        "2026-11-28 03:00:05.123456",
    ]
    assert sqlite_timestamp(first.replace(microsecond=7)) == "2026-11-28 03:00:05.000007"  # equal-looking, new object
