"""Hostile and malformed requests: always a clear 4xx in the envelope, never a 500, never a partial write."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from sharelinks.db.database import Database
from sharelinks.events.models import events
from sharelinks.persons.models import persons
from sharelinks.shareables.models import shareables
from tests.helpers import assert_error

Json = dict[str, Any]


def totals(db: Database) -> tuple[int, ...]:
    def count(conn: Any) -> tuple[int, ...]:
        return tuple(
            conn.execute(select(func.count()).select_from(t)).scalar_one() for t in (persons, shareables, events)
        )

    return db.call(count)


def test_malformed_bodies(client: TestClient, auth: Json, program: Json, person: Json, db: Database) -> None:
    before = totals(db)
    path = f"/v3/persons/{person['id']}/shareables"
    json_headers = {**auth, "Content-Type": "application/json"}
    assert_error(client.post(path, headers=json_headers, content=b'{"label": '), 400, "invalid_json")
    assert_error(client.post(path, headers=json_headers, content=b'{"label": "\xff\xfe"}'), 400, "invalid_json")
    assert_error(client.post(path, headers=json_headers, content=b""), 400, "missing_request_body")
    assert_error(client.post(path, headers=json_headers, content=b"[1, 2]"), 400, "binding_error")
    assert_error(client.post(path, headers=json_headers, content=b"null"), 400, "binding_error")
    assert_error(
        client.post(path, headers={**auth, "Content-Type": "text/plain"}, content=b'{"label":"x"}'),
        415,
        "unsupported_media_type",
    )
    huge = b'{"label": "refer-a-friend", "data": {"x": "' + b"a" * (1 << 20) + b'"}}'
    assert_error(client.post(path, headers=json_headers, content=huge), 413, "request_too_large")
    assert totals(db) == before


def test_unknown_route_and_method(client: TestClient, auth: Json) -> None:
    assert_error(client.get("/v9/nothing", headers=auth), 404, "not_found")
    assert_error(client.patch("/v2/persons", headers=auth), 405, "method_not_allowed")


def test_errors_carry_request_ids(client: TestClient, auth: Json) -> None:
    response = client.get("/v2/persons/1", headers={**auth, "X-Request-Id": "abc-123"})
    assert response.headers["x-request-id"] == "abc-123"
    generated = client.get("/health/live").headers["x-request-id"]
    assert generated and generated != "abc-123"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=60),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
field_names = st.sampled_from(["label", "code", "key", "content", "data", "program_url", "email", "event_name"])
bodies = st.one_of(json_values, st.dictionaries(field_names, json_values, max_size=6))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=bodies)
def test_fuzzed_bodies_never_500(client: TestClient, auth: Json, program: Json, person: Json, body: Any) -> None:
    for path in (f"/v5/persons/{person['id']}/shareables", "/v2/persons", "/v5/events", "/v5/batch-events"):
        response = client.post(path, headers=auth, json=body)
        assert response.status_code in (200, 400, 404), (path, body, response.text)
        if response.status_code != 200:
            assert list(response.json())[:3] == ["unique_id", "http_status_code", "code"]
