"""Failures: retried on the schedule, dead-lettered, replayed with the same id, reported."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook as StandardWebhook

from sharelinks.testing.receiver import Receiver, Reply
from tests.conftest import make_program
from tests.helpers import (
    assert_error,
    create_key,
    create_webhook,
    enable_extension,
    send_event,
    wait_until,
    webhook_events,
)
from tests.test_delivery import WHSEC

FAST = ["PT0.05S"] * 5


@pytest.fixture
def setup(delivering_client: TestClient, auth: dict[str, str]) -> TestClient:
    make_program(delivering_client, auth)
    enable_extension(delivering_client, auth)
    return delivering_client


def only_event(client: TestClient, auth: dict[str, str], status: str) -> dict[str, Any]:
    found = wait_until(lambda: [e for e in webhook_events(client, auth) if e["status"] == status])
    assert len(found) == 1
    return found[0]  # type: ignore[no-any-return]


def test_500_then_200_is_delivered_on_the_second_attempt_one_second_later(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    create_webhook(setup, auth, receiver.url)  # the default schedule: PT1S first
    receiver.respond(500)
    send_event(setup, auth, "alex@example.com")
    first, second = receiver.wait_for(2, timeout=10)
    gap = second.at - first.at
    assert gap >= 1.0  # the schedule is a floor: jitter only adds
    assert gap < 1.0 + 0.1 + 2.0  # at most 10 % jitter, plus generous scheduling slack
    event = only_event(setup, auth, "delivered")
    assert [a["response_status_code"] for a in event["attempts"]] == [500, 200]
    assert event["attempt_count"] == 2


def test_always_500_six_attempts_then_dead_letter_then_replay_keeps_the_id(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    key = create_key(setup, auth, "STANDARD_WEBHOOKS", WHSEC)
    webhook = create_webhook(setup, auth, receiver.url, retry_intervals=FAST, client_key_id=key["id"])
    receiver.default = Reply(500, b"down for maintenance")
    send_event(setup, auth, "alex@example.com")
    event = only_event(setup, auth, "dead_letter")
    assert len(receiver.requests) == 6
    assert [a["number"] for a in event["attempts"]] == [1, 2, 3, 4, 5, 6]
    assert all(a["response_body"] == "down for maintenance" for a in event["attempts"])
    ids = {r.header("webhook-id") for r in receiver.requests}
    assert ids == {event["event_id"]}
    # Replay after the endpoint recovers: delivered, same webhook-id, freshly signed.
    receiver.default = Reply(200)
    replayed = setup.post(f"/v6/webhooks/{webhook['id']}/replay", headers=auth, json={"status": "dead_letter"})
    assert replayed.json()["replayed"] == 1
    delivered = only_event(setup, auth, "delivered")
    assert delivered["event_id"] == event["event_id"]
    last = receiver.requests[-1]
    assert last.header("webhook-id") == event["event_id"]
    headers = {k: last.header(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    StandardWebhook(WHSEC).verify(last.body, headers)
    assert delivered["attempts"][-1]["trigger"] == "manual"


def test_a_failed_manual_send_is_not_rescheduled(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    webhook = create_webhook(setup, auth, receiver.url)
    receiver.default = Reply(503)
    setup.post(f"/v6/webhooks/{webhook['id']}/test", headers=auth)
    event = only_event(setup, auth, "dead_letter")
    assert event["attempt_count"] == 1 and len(receiver.requests) == 1


def test_redirects_are_failures_and_never_followed(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    create_webhook(setup, auth, receiver.url + "/start", retry_intervals=[])
    receiver.default = Reply(302, headers={"Location": receiver.url + "/internal"})
    send_event(setup, auth, "alex@example.com")
    event = only_event(setup, auth, "dead_letter")
    assert event["attempts"][0]["response_status_code"] == 302
    assert [r.path for r in receiver.requests] == ["/start"]


def test_raw_send_keeps_the_event_id_and_checks_its_input(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    webhook = create_webhook(setup, auth, receiver.url, retry_intervals=[])
    receiver.respond(500)
    send_event(setup, auth, "alex@example.com")
    event = only_event(setup, auth, "dead_letter")
    body = {"type": "CLIENT", "client_id": "sharelinks", "webhook_id": webhook["id"], "event_id": event["event_id"],
            "event": event["event"]}  # fmt: skip
    sent = setup.post("/v6/webhooks/events/send", headers=auth, json=body)
    assert sent.status_code == 200, sent.text
    assert sent.json()["event_id"] == event["event_id"]
    only_event(setup, auth, "delivered")
    assert receiver.requests[-1].json()["email"] == "alex@example.com"
    for change, code in (
        ({"webhook_id": None}, "missing_webhook_id"),
        ({"client_id": None}, "missing_client_id"),
        ({"client_id": "another-client"}, "request_client_id_invalid"),
        ({"webhook_id": "1234567890123456789"}, "webhook_not_found"),
        ({"event_id": "1234567890123456789"}, "webhook_event_not_found"),
    ):
        assert_error(setup.post("/v6/webhooks/events/send", headers=auth, json={**body, **change}), 400, code)


def test_report_filters_and_csv(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    webhook = create_webhook(setup, auth, receiver.url)
    for email in ("a@example.com", "B@Example.com"):
        send_event(setup, auth, email)
    wait_until(lambda: len(webhook_events(setup, auth, status="delivered")) == 2)
    assert [e["email"] for e in webhook_events(setup, auth, email="b@example.com")] == ["B@Example.com"]
    assert webhook_events(setup, auth, status="dead_letter") == []
    assert len(webhook_events(setup, auth, webhook_id=webhook["id"], since="2000-01-01T00:00:00Z")) == 2
    assert webhook_events(setup, auth, until="2000-01-01T00:00:00Z") == []
    response = setup.get("/v6/webhook-events", headers={**auth, "Accept": "text/csv"})
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["email"] for r in rows) == ["B@Example.com", "a@example.com"]
    assert {r["status"] for r in rows} == {"delivered"}
    assert_error(setup.get("/v6/webhook-events", headers=auth, params={"status": "lost"}), 400, "invalid_status")
    assert_error(setup.get("/v6/webhook-events", headers=auth, params={"since": "yesterday"}), 400, "invalid_parameter")


def test_response_bodies_are_capped_and_secrets_redacted(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    key = create_key(setup, auth, "PASSWORD", "very-secret-password")
    create_webhook(setup, auth, receiver.url, client_key_id=key["id"], headers={"X-Custom": "visible"})
    receiver.default = Reply(200, b"x" * 100_000)
    send_event(setup, auth, "alex@example.com")
    event = only_event(setup, auth, "delivered")
    attempt = event["attempts"][0]
    assert len(attempt["response_body"]) == 20_000 and attempt["response_body_truncated"] is True
    assert attempt["request_headers"] == {
        "X-Custom": "visible",
        "webhook-id": event["event_id"],
        "Authorization": "[redacted]",
    }
    everything = setup.get("/v6/webhook-events", headers=auth).text + setup.get("/v6/webhooks", headers=auth).text
    assert "very-secret-password" not in everything
