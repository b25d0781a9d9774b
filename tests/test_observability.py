"""Health, metrics and logs; secrets never reach a log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from fastapi.testclient import TestClient

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


def test_access_log_is_json_with_request_id_and_no_secrets(
    client: TestClient, auth: Json, caplog: pytest.LogCaptureFixture
) -> None:
    client.app.access_log = True  # type: ignore[attr-defined]
    token = auth["Authorization"].split()[1]
    with caplog.at_level(logging.INFO, logger="sharelinks.access"):
        client.get(
            "/v2/persons",
            params={"access_token": token, "email": "secret@example.com"},
            headers={"X-Request-Id": "r-1"},
        )
        client.get("/v2/persons", headers=auth)
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records if r.name == "sharelinks.access"]
    assert len(lines) == 2
    assert '"request_id":"r-1"' in lines[0] and '"route":"/v2/persons"' in lines[0]
    for line in lines:
        assert token not in line and "secret@example.com" not in line
