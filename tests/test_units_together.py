"""Units of work run together (`Database.run_together`): one call for the items of a batch, and the
same outcomes, item by item, as running each alone."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import threading
from collections.abc import Awaitable
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from sharelinks.db import database
from sharelinks.db.database import PASSED, Database, Passed
from sharelinks.events import service as events
from sharelinks.events.models import events as events_table
from sharelinks.events.service import EventIntake
from sharelinks.http.errors import ApiError
from sharelinks.persons.models import persons
from sharelinks.persons.service import create_for_events
from sharelinks.programs.service import link_for
from sharelinks.shareables import service as shareables
from sharelinks.shareables.models import shareables as shareables_table
from sharelinks.shareables.service import CreateRequest
from sharelinks.webhooks.models import webhook_messages
from tests.helpers import create_webhook, enable_extension, row_count, wait_until

Json = dict[str, Any]
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def settled(*awaitables: Awaitable[Any]) -> list[Any]:
    return await asyncio.gather(*awaitables, return_exceptions=True)


def test_items_waiting_together_are_one_call_and_passed_ones_run_alone(db: Database) -> None:
    calls: list[list[int]] = []

    def together(conn: Connection, items: list[int]) -> list[int | Passed]:
        calls.append(list(items))
        return [item * 10 if item % 2 == 0 else PASSED for item in items]

    def alone(conn: Connection, item: int) -> int:
        return -item

    results = asyncio.run(settled(*(db.run_together(together, alone, n) for n in range(8))))
    assert results == [0, -1, 20, -3, 40, -5, 60, -7]
    assert calls == [list(range(8))]


def test_items_arriving_while_groups_are_in_the_database_form_the_next_group(db: Database) -> None:
    # PostgreSQL: two groups of an operation in the database at once; a third waits and collects.
    # SQLite (one connection, the batch in a worker thread): one in, the next collecting.
    calls: list[list[int]] = []
    release = threading.Event()

    def together(conn: Connection, items: list[int]) -> list[int]:
        calls.append(list(items))
        release.wait(10)
        return items

    def alone(conn: Connection, item: int) -> int:
        raise AssertionError("not expected alone")

    async def send(numbers: range, groups_in: int) -> list[asyncio.Future[int]]:
        sent = [asyncio.ensure_future(db.run_together(together, alone, n)) for n in numbers]
        for _ in range(500):
            if len(calls) >= groups_in:  # held in the database (worker threads)
                return sent
            await asyncio.sleep(0.01)
        release.set()
        raise AssertionError(f"{groups_in} groups expected in the database, {len(calls)} there")

    in_flight = 1 if db.is_sqlite else 2

    async def main() -> list[Any]:
        first = await send(range(3), 1)
        second = await send(range(3, 5), 2) if in_flight == 2 else []
        later = [asyncio.ensure_future(db.run_together(together, alone, n)) for n in range(3 + len(second), 9)]
        await asyncio.sleep(0.05)
        assert len(calls) == in_flight  # the later items wait for a group to finish instead of a group each
        release.set()
        return await settled(*first, *second, *later)

    assert asyncio.run(main()) == list(range(9))
    assert calls == ([[0, 1, 2], [3, 4], [5, 6, 7, 8]] if in_flight == 2 else [[0, 1, 2], [3, 4, 5, 6, 7, 8]])


def test_a_failing_group_runs_every_item_alone(db: Database) -> None:
    def together(conn: Connection, items: list[int]) -> list[int]:
        raise RuntimeError("one bad item spoils a set-based statement")

    def alone(conn: Connection, item: int) -> int:
        if item == 3:
            raise ValueError("bad item")
        return item

    results = asyncio.run(settled(*(db.run_together(together, alone, n) for n in range(5))))
    assert results[:3] == [0, 1, 2] and results[4] == 4
    assert isinstance(results[3], ValueError)


def test_a_request_that_goes_away_does_not_cancel_the_others(db: Database) -> None:
    def together(conn: Connection, items: list[int]) -> list[int]:
        return items

    def alone(conn: Connection, item: int) -> int:
        raise AssertionError("not expected alone")

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(db.run_together(together, alone, n)) for n in range(4)]
        await asyncio.sleep(0)  # every task has joined the group
        tasks[0].cancel()
        return await settled(*tasks)

    results = asyncio.run(main())
    assert isinstance(results[0], asyncio.CancelledError) and results[1:] == [1, 2, 3]


def intake(email: str | None = None, **fields: Any) -> EventIntake:
    return EventIntake(name=fields.pop("name", "converted"), event_time=None, data={}, email=email, **fields)


def test_events_together_match_events_one_by_one(client: TestClient, auth: Json, db: Database) -> None:
    known = client.post("/v2/persons", headers=auth, json={"email": "known@example.com"}).json()
    batch = [
        intake("new@example.com", first_name="Nea"),
        intake("new@example.com"),  # the same new person again
        intake("c1@example.com", conversion_id="c1"),
        intake("c2@example.com", conversion_id="c1"),  # the same conversion again: acknowledged, not recorded
        intake("known@example.com", first_name="Kay"),  # known person, a name to fill in
        intake(person_id=int(known["id"])),
        intake(partner_user_id="P-1"),
        intake(person_id=42),  # no such person
        intake("puid@example.com", partner_user_id="P-1"),
        intake("other@example.com", partner_user_id="P-1"),  # the partner_user_id is taken: kept off the new person
    ]
    results = asyncio.run(settled(*(db.run_together(events.record_together, events.record, x) for x in batch)))
    new, again, c1, c1_again, known_named, by_id, by_puid, missing, puid_first, puid_taken = results
    assert new.person.id == again.person.id and new.person_created and new.person.first_name == "Nea"
    assert c1_again.duplicate and c1_again.id == c1.id and c1_again.person.id == c1.person.id
    assert known_named.person.id == by_id.person.id == int(known["id"]) and known_named.person.first_name == "Kay"
    assert by_puid.person.partner_user_id == "P-1"
    assert isinstance(missing, ApiError) and missing.code == "person_not_found"
    # Items handled together are ordered before those passed on (any order is one that could have
    # happened): puid@ took P-1 first, and the event naming only P-1 found that person.
    assert by_puid.person.id == puid_first.person.id
    assert puid_taken.person.partner_user_id is None and puid_taken.person.email == "other@example.com"
    assert row_count(db, events_table) == 8  # all but the repeated conversion and the missing person
    assert row_count(db, persons) == 6  # known, new, c1, c2, puid@ (P-1), other@


@pytest.mark.usefixtures("program")
def test_links_together_match_links_one_by_one(client: TestClient, auth: Json, db: Database) -> None:
    ids = [
        int(client.post("/v2/persons", headers=auth, json={"email": f"p{i}@example.com"}).json()["id"])
        for i in range(3)
    ]
    nameless = int(client.post("/v2/persons", headers=auth, json={"partner_user_id": "no-email"}).json()["id"])
    plain = CreateRequest(label="refer-a-friend")
    batch = [
        (ids[0], plain, True),
        (ids[0], plain, True),  # the same person and key again: the same link
        (ids[1], CreateRequest(label="refer-a-friend", key="vip"), True),
        (ids[1], CreateRequest(label="refer-a-friend", code="custom-one"), True),
        (ids[2], CreateRequest(label="refer-a-friend", program_url="https://refer.yourbrand.com/x"), True),
        (ids[2], CreateRequest(label="no-such-program"), True),
        (nameless, plain, True),
        (nameless, plain, False),
        (42, plain, True),
    ]
    results = asyncio.run(
        settled(*(db.run_together(shareables.create_together, shareables.create_alone, x) for x in batch))
    )
    (first, made), (again, made_again), (vip, _), (custom, _), (other_domain, _) = results[:5]
    assert made and not made_again and again.code == first.code
    assert vip.key == "vip" and custom.code == "custom-one" and other_domain.domain == "refer.yourbrand.com"
    codes = [getattr(error, "code", None) for error in (results[5], results[6], results[8])]
    assert codes == ["invalid_program", "person_not_rewardable", "person_not_found"]
    assert results[7][0].person_id == nameless
    assert row_count(db, shareables_table) == 5


def test_many_rows_are_checked_as_one_row_is(db: Database) -> None:
    """On PostgreSQL rows travel as one JSON text: a value too long for its column is refused, not cut."""
    if db.is_sqlite:
        pytest.skip("SQLite does not enforce VARCHAR lengths")
    with pytest.raises(DBAPIError, match="too long"):
        db.call(create_for_events, [("long@example.com", None, "x" * 51, None)])
    assert row_count(db, persons) == 0


@pytest.mark.usefixtures("program")
def test_events_together_create_links_and_webhook_messages_as_one_by_one(
    client: TestClient, auth: Json, db: Database
) -> None:
    enable_extension(client, auth)
    enable_extension(client, auth)  # a second one for the same program and key: still one link a person
    create_webhook(client, auth, "https://hooks.example.com/share-links")
    client.post("/v2/persons", headers=auth, json={"email": "known@example.com"})
    batch = [intake("a@example.com"), intake("b@example.com"), intake("known@example.com"),
             intake("c@example.com", name="page_viewed")]  # fmt: skip
    results = asyncio.run(settled(*(db.run_together(events.record_together, events.record, x) for x in batch)))
    assert all(isinstance(r, events.RecordedEvent) for r in results)
    t = shareables_table
    rows = db.call(lambda c: c.execute(select(t.c.person_id, t.c.domain, t.c.code)).all())
    links = {person_id: link_for(domain, code) for person_id, domain, code in rows}
    messages = db.call(lambda c: [row.event for row in c.execute(select(webhook_messages.c.event))])
    by_email = {m["email"]: m for m in messages}
    assert sorted(by_email) == ["a@example.com", "b@example.com", "known@example.com"] and len(messages) == 3
    for result in results[:3]:
        assert by_email[result.person.email]["share_link"] == links[result.person.id]
    assert len(links) == 3  # nothing for the event no extension listens to


def test_a_failed_commit_fails_every_unit_of_its_batch(db: Database) -> None:
    """A constraint SQLite checks at commit (a deferred foreign key here; a full disk fails the
    same way): no unit of the batch is written, each one hears of it, the good ones too, and the
    one shared connection works on (it was left inside the failed transaction before)."""
    if not db.is_sqlite:
        pytest.skip("SQLite's deferred foreign keys")

    def good(conn: Connection, email: str) -> str:
        conn.execute(persons.insert().values(id=7, email=email, email_key=email, blocked=False, data={}, version=1,
                                             created_at=NOW, updated_at=NOW))  # fmt: skip
        return email

    def breaks_at_commit(conn: Connection) -> None:
        conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        conn.execute(webhook_messages.insert().values(
            id=1, webhook_id=404, event_type="share_link_created", event={}, status="pending", trigger="event",
            attempt_count=0, next_attempt_at=NOW, created_at=NOW))  # fmt: skip

    async def main() -> list[Any]:
        return await settled(db.run(good, "kept@example.com"), db.run(breaks_at_commit))

    results = asyncio.run(main())
    assert all(isinstance(r, DBAPIError) and "FOREIGN KEY" in str(r) for r in results), results
    assert row_count(db, persons) == 0 and row_count(db, webhook_messages) == 0
    assert db.call(lambda conn: conn.exec_driver_sql("SELECT 1").scalar()) == 1  # the connection is usable again


def test_units_run_beside_the_loop_except_in_a_sqlite_worker_process(database_url: str) -> None:
    """By default a batch runs in a worker thread, so SQLite's own work (it releases the GIL) leaves
    the loop free to serve; `sharelinks worker` keeps its many small SQLite batches on the loop."""
    for on_loop in (False, True):
        database = Database(database_url, units_on_loop=on_loop)
        try:

            async def main(database: Database = database) -> tuple[int, int, int]:
                ran = await database.run(lambda conn: threading.get_ident())
                aside = await database.run_aside(lambda conn: threading.get_ident())
                return threading.get_ident(), ran, aside

            loop_thread, ran, aside = asyncio.run(main())
        finally:
            database.dispose()
        assert (ran == loop_thread) is (on_loop and database.is_sqlite)
        assert aside != loop_thread


def test_a_transaction_waits_for_another_process_writing_then_begins(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite's busy handler is off (it slept 1, 2, 5, 10 … ms between tries); `begin_immediate`
    waits for the write lock itself, for BUSY_WAIT_SECONDS at most, and fails at once on any other error."""
    if not db.is_sqlite:
        pytest.skip("SQLite's one write lock")
    other = sqlite3.connect(db.engine.url.database, isolation_level=None, check_same_thread=False)  # another process's
    other.execute("BEGIN IMMEDIATE")
    released = threading.Timer(0.2, lambda: other.execute("COMMIT"))
    released.start()
    try:
        db.call(lambda conn: conn.execute(persons.insert().values(
            id=8, email="w@example.com", email_key="w@example.com", blocked=False, data={}, version=1,
            created_at=NOW, updated_at=NOW)))  # fmt: skip
    finally:
        released.join()
    assert row_count(db, persons) == 1

    other.execute("BEGIN IMMEDIATE")
    monkeypatch.setattr(database, "BUSY_WAIT_SECONDS", 0.05)
    with pytest.raises(sqlite3.OperationalError, match="database is locked"):
        db.call(lambda conn: row_count(db, persons))
    other.execute("ROLLBACK")
    other.close()
    assert db.call(lambda conn: conn.exec_driver_sql("SELECT 1").scalar()) == 1  # and works on


def test_begin_immediate_fails_at_once_on_an_error_other_than_busy() -> None:
    driver = sqlite3.connect(":memory:", isolation_level=None)
    driver.execute("BEGIN")
    with pytest.raises(sqlite3.OperationalError, match="within a transaction"):
        database.begin_immediate(driver)


def test_background_checkpoints_copy_the_wal_into_the_database_file(db: Database, tmp_path: Path) -> None:
    """What commits leave in the WAL reaches the database file itself without any commit doing it:
    a copy of the file alone (no WAL beside it) soon holds the row."""
    if not db.is_sqlite:
        pytest.skip("SQLite's WAL")
    path = Path(db.engine.url.database or "")
    checkpointed = Database(f"sqlite:///{path}", background_checkpoints=True)
    checkpointed.start_background_tasks()
    try:
        checkpointed.call(lambda conn: conn.execute(persons.insert().values(
            id=9, email="c@example.com", email_key="c@example.com", blocked=False, data={}, version=1,
            created_at=NOW, updated_at=NOW)))  # fmt: skip

        def in_the_file_alone() -> bool:
            copy = tmp_path / "alone.db"
            shutil.copy(path, copy)
            with closing(sqlite3.connect(copy)) as conn:
                return conn.execute("SELECT count(*) FROM persons WHERE id = 9").fetchone()[0] == 1

        wait_until(in_the_file_alone)
    finally:
        checkpointed.dispose()
