"""Health, metrics and logs; secrets never reach a log line."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from sharelinks.app import create_app
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.observability.logs import JsonFormatter

Json = dict[str, Any]


def test_health(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "ok"}
    ready = client.get("/health/ready").json()
    assert ready["status"] == "ok" and ready["database"] in ("sqlite", "postgresql")


def test_metrics_count_routes_links_and_events(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    client.post(f"/v3/persons/{person['id']}/shareables", headers=auth, json={"label": "refer-a-friend"})
    client.post("/v5/events", headers=auth, json={"event_name": "converted", "data": {"email": "m@example.com"}})
    text = client.get("/metrics").text
    assert (
        'sharelinks_http_requests_total{method="POST",route="/v3/persons/{person_id}/shareables",status="200"}' in text
    )
    assert 'sharelinks_links_created_total{source="api"}' in text
    assert 'sharelinks_events_received_total{outcome="recorded"}' in text
    assert "sharelinks_http_request_duration_seconds_bucket" in text


def test_access_log_is_json_with_request_id_and_no_secrets(settings: Settings, db: Database, auth: Json) -> None:
    written: list[bytes] = []
    app = create_app(replace(settings, access_log=True), database=db)
    app.state.ctx.access_log._write = written.append  # type: ignore[attr-defined]
    token = auth["Authorization"].split()[1]
    with TestClient(app) as client:
        client.get(
            "/v2/persons",
            params={"access_token": token, "email": "secret@example.com"},
            headers={"X-Request-Id": "r-1"},
        )
        client.get("/v2/persons/1234567890123456789", headers=auth)
    lines = [orjson.loads(line) for chunk in written for line in chunk.splitlines()]
    assert [(e["route"], e["status"]) for e in lines] == [("/v2/persons", 200), ("/v2/persons/{person_id}", 404)]
    assert lines[0]["request_id"] == "r-1" and lines[0]["logger"] == "sharelinks.access"
    assert lines[1]["request_id"] and lines[1]["duration_ms"] > 0
    for chunk in written:
        assert token.encode() not in chunk and b"secret@example.com" not in chunk


def test_error_logs_are_json_with_the_request_id(
    client: TestClient, auth: Json, caplog: pytest.LogCaptureFixture
) -> None:
    from sharelinks.events import reactions

    def explode(conn: object, event: object) -> None:
        raise RuntimeError("kaboom")

    reactions.register(explode)
    try:
        with caplog.at_level(logging.ERROR, logger="sharelinks.errors"):
            response = client.post("/v5/events", headers={**auth, "X-Request-Id": "err-7"}, json={"event_name": "x"})
    finally:
        reactions.unregister(explode)
    assert response.status_code == 500
    record = next(r for r in caplog.records if r.name == "sharelinks.errors")
    line = orjson.loads(JsonFormatter().format(record))
    assert line["unique_id"] == response.json()["unique_id"] and "kaboom" in line["exc"]
