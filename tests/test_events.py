"""Events: v5/v6/async/batch shapes, person upsert, conversion_id de-duplication, reactions in the transaction."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, select

from sharelinks.db.database import Database
from sharelinks.events import reactions
from sharelinks.events.models import events
from sharelinks.events.service import RecordedEvent
from sharelinks.persons.models import persons
from tests.helpers import assert_error, row_count

Json = dict[str, Any]


def test_v5_and_v6_shapes(client: TestClient, auth: Json, db: Database) -> None:
    v5 = client.post("/v5/events", headers=auth, json={"event_name": "converted", "data": {"email": "a@example.com"}})
    assert v5.status_code == 200 and list(v5.json()) == ["id"]
    v6 = client.post(
        "/v6/events",
        headers=auth,
        json={"event_name": "signed_up", "event_time": "2024-01-15T12:00:00Z", "data": {"email": "A@example.com"}},
    )
    assert list(v6.json()) == ["event_id", "person_id"]
    named = client.post("/v5/events/account_opened", headers=auth, json={"email": "a@example.com", "first_name": "Al"})
    assert list(named.json()) == ["id"]
    named6 = client.post("/v6/events/custom_thing", headers=auth, json={"partner_user_id": 12345})
    assert list(named6.json()) == ["event_id", "person_id"]
    asynchronous = client.post("/v6/async-events", headers=auth, json={"event_name": "x", "data": {}})
    assert list(asynchronous.json()) == ["event_id"]
    assert row_count(db, events) == 5
    assert row_count(db, persons) == 3  # a@ (merged by email), partner 12345, and one anonymous


def test_event_upserts_person_email_first(client: TestClient, auth: Json) -> None:
    client.post("/v2/persons", headers=auth, json={"email": "a@example.com"})
    e = client.post(
        "/v6/events",
        headers=auth,
        json={
            "event_name": "converted",
            "data": {"email": "A@EXAMPLE.COM", "partner_user_id": "U1", "first_name": "Ann"},
        },
    ).json()
    person = client.get(f"/v2/persons/{e['person_id']}", headers=auth).json()
    assert person["email"] == "a@example.com" and person["partner_user_id"] == "U1" and person["first_name"] == "Ann"
    by_puid = client.post(
        "/v6/events", headers=auth, json={"event_name": "x", "data": {"partner_user_id": "U1"}}
    ).json()
    assert by_puid["person_id"] == e["person_id"]
    by_id = client.post(
        "/v6/events", headers=auth, json={"event_name": "x", "data": {"person_id": int(e["person_id"])}}
    ).json()
    assert by_id["person_id"] == e["person_id"]


def test_conversion_id_deduplicates(client: TestClient, auth: Json, db: Database) -> None:
    body = {"event_name": "converted", "data": {"email": "a@example.com", "conversion_id": "order-1"}}
    first = client.post("/v5/events", headers=auth, json=body).json()
    again = client.post("/v5/events", headers=auth, json=body).json()
    assert first == again and row_count(db, events) == 1
    other_name = client.post("/v5/events", headers=auth, json={**body, "event_name": "refunded"}).json()
    assert other_name != first and row_count(db, events) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"data": {"email": "a@example.com"}}, "missing_event_name"),
        ({"event_name": "  "}, "missing_event_name"),
        ({"event_name": "converted", "event_time": "yesterday"}, "invalid_event_time_format"),
        ({"event_name": "converted", "data": {"email": "nope"}}, "invalid_email"),
        ({"event_name": "converted", "data": {"conversion_id": "x" * 39}}, "conversion_id_invalid_length"),
        ({"event_name": "converted", "data": {"person_id": 1234567890123456789}}, "person_not_found"),
        ({"event_name": "converted", "data": {"first_name": "x" * 51}}, "invalid_length_first_name"),
        ({"event_name": "converted", "data": "email"}, "binding_error"),
        ({"event_name": "converted", "extra": 1}, "invalid_parameter"),
    ],
)
def test_event_validation(client: TestClient, auth: Json, db: Database, body: Json, code: str) -> None:
    assert_error(client.post("/v5/events", headers=auth, json=body), 400, code)
    assert row_count(db, events) == 0 and row_count(db, persons) == 0


def test_time_zone_header(client: TestClient, auth: Json, db: Database) -> None:
    body = {"event_name": "x", "event_time": "2024-01-15T12:00:00", "data": {}}
    assert_error(
        client.post("/v5/events", headers={**auth, "Time-Zone": "Nowhere/City"}, json=body), 400, "invalid_time_zone"
    )
    client.post("/v5/events", headers={**auth, "Time-Zone": "Europe/Paris"}, json=body)
    stored = db.call(lambda c: c.execute(select(events.c.event_time)).scalar_one())
    assert stored.isoformat() == "2024-01-15T11:00:00+00:00"


def test_batch_events(client: TestClient, auth: Json, db: Database) -> None:
    items = [
        {"event_name": "converted", "data": {"email": "a@example.com"}},
        {"event_name": "converted", "data": {"email": "not-an-email"}},
        {"data": {}},
        {"event_name": "converted", "data": {"email": "b@example.com"}},
    ]
    response = client.post("/v5/batch-events", headers=auth, json=items)
    assert response.status_code == 200
    result = response.json()
    assert [r["status"] for r in result] == ["SUCCEEDED", "FAILED", "FAILED", "SUCCEEDED"]
    assert [r["request"] for r in result] == items
    assert list(result[0]) == ["request", "status", "event_id", "error_message"]
    assert result[1]["error_message"].startswith("invalid_email") and result[1]["event_id"] is None
    assert row_count(db, events) == 2
    assert_error(client.post("/v5/batch-events", headers=auth, json={"event_name": "x"}), 400, "binding_error")


@pytest.fixture
def failing_reaction() -> Iterator[list[RecordedEvent]]:
    seen: list[RecordedEvent] = []

    def reaction(conn: Connection, event: RecordedEvent) -> None:
        seen.append(event)
        if event.name == "explode":
            raise RuntimeError("reaction failed")

    reactions.register(reaction)
    yield seen
    reactions.unregister(reaction)


def test_reactions_run_in_the_event_transaction(
    client: TestClient, auth: Json, db: Database, failing_reaction: list[RecordedEvent]
) -> None:
    ok = client.post("/v5/events", headers=auth, json={"event_name": "converted", "data": {"email": "a@example.com"}})
    assert ok.status_code == 200 and failing_reaction[-1].name == "converted"
    boom = client.post("/v5/events", headers=auth, json={"event_name": "explode", "data": {"email": "new@example.com"}})
    assert_error(boom, 500, "server_error")
    # the event and the person it would have created were rolled back with the failed reaction
    assert row_count(db, events) == 1 and row_count(db, persons) == 1
    # a duplicate conversion is acknowledged without reacting again
    dup = {"event_name": "converted", "data": {"email": "a@example.com", "conversion_id": "c1"}}
    client.post("/v5/events", headers=auth, json=dup)
    client.post("/v5/events", headers=auth, json=dup)
    # (the failed event may have been tried twice: together with others, then alone)
    assert [e.name for e in failing_reaction if e.name == "converted"] == ["converted", "converted"]
