"""Create Share Link on Event, end to end: event → link → signed request at a real loopback receiver."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, create_engine, select
from standardwebhooks import Webhook as StandardWebhook

from sharelinks.config import Settings
from sharelinks.db.database import Database, after_commit
from sharelinks.delivery import queue, wakeup
from sharelinks.delivery.queue import Claimed
from sharelinks.delivery.worker import DeliveryWorker, _Fetched, redact
from sharelinks.keys.crypto import SecretBox
from sharelinks.observability.metrics import REGISTRY, observe_attempt
from sharelinks.testing.receiver import Receiver, Reply
from sharelinks.webhooks import payload
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import webhook_messages
from tests.conftest import TEST_MASTER_KEY, make_program
from tests.helpers import (
    create_key,
    create_webhook,
    enable_extension,
    send_event,
    wait_until,
    wait_until_async,
    webhook_events,
)

WHSEC = "whsec_" + base64.b64encode(b"k" * 32).decode()


@pytest.fixture
def setup(delivering_client: TestClient, auth: dict[str, str]) -> TestClient:
    make_program(delivering_client, auth)
    enable_extension(delivering_client, auth)
    return delivering_client


def events_of(client: TestClient, auth: dict[str, str], **query: str) -> list[dict[str, object]]:
    return webhook_events(client, auth, **query)


def test_converted_event_delivers_the_default_payload(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    create_webhook(setup, auth, receiver.url + "/hooks/share-links")
    before = datetime.now(UTC)
    send_event(setup, auth, "alex@example.com", first_name="Alex")
    [request] = receiver.wait_for(1)
    body = request.json()
    assert list(body) == ["event", "email", "partner_user_id", "timestamp", "share_link"]
    assert body["event"] == "Share Link Created"
    assert body["email"] == "alex@example.com"
    assert body["partner_user_id"] == "P-alex@example.com"
    shareables = setup.get("/v2/persons", headers=auth, params={"email": "alex@example.com"}).json()
    person_id = shareables[0]["id"]
    links = setup.get(f"/v4/persons/{person_id}/shareables", headers=auth).json()
    assert body["share_link"] == links[0]["link"] and body["share_link"].startswith("https://share.yourbrand.com/")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["timestamp"])  # the document's form
    stamped = datetime.strptime(body["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before.replace(microsecond=0) <= stamped <= datetime.now(UTC)
    assert request.method == "POST" and request.path == "/hooks/share-links"
    assert request.header("content-type") == "application/json"
    assert request.header("user-agent").startswith("Sharelinks/")
    wait_until(lambda: events_of(setup, auth)[0]["status"] == "delivered")


def test_wire_time_is_utc_to_the_millisecond() -> None:
    eastern = timezone(timedelta(hours=-5))
    assert payload.wire_time(datetime(2024, 3, 15, 5, 30, 0, 999_999, tzinfo=eastern)) == "2024-03-15T10:30:00.999Z"
    assert payload.wire_time(datetime(2024, 3, 15, 10, 30, tzinfo=UTC)) == "2024-03-15T10:30:00.000Z"


def test_repeated_event_creates_no_second_link_or_message(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    create_webhook(setup, auth, receiver.url)
    for _ in range(3):
        send_event(setup, auth, "sam@example.com")
    receiver.wait_for(1)
    time.sleep(0.3)
    assert len(receiver.requests) == 1
    assert len(events_of(setup, auth)) == 1


def test_other_events_disabled_extension_and_other_labels_do_nothing(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    create_webhook(setup, auth, receiver.url)
    send_event(setup, auth, "a@example.com", name="page_viewed")
    send_event(setup, auth, "b@example.com", labels="another-program")
    extension = setup.get("/v6/extensions", headers=auth).json()[0]
    setup.put(f"/v6/extensions/{extension['id']}", headers=auth, json={"enabled": False})
    send_event(setup, auth, "c@example.com")
    setup.put(
        f"/v6/extensions/{extension['id']}", headers=auth, json={"enabled": True, "trigger_events": ["signed_up"]}
    )
    send_event(setup, auth, "d@example.com", name="signed_up")
    [request] = receiver.wait_for(1)
    assert request.json()["email"] == "d@example.com"
    time.sleep(0.3)
    assert len(receiver.requests) == 1


def test_batch_events_trigger_too(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    create_webhook(setup, auth, receiver.url)
    items = [{"event_name": "converted", "data": {"email": f"batch{i}@example.com"}} for i in range(5)]
    assert setup.post("/v5/batch-events", headers=auth, json=items).status_code == 200
    emails = sorted(r.json()["email"] for r in receiver.wait_for(5))
    assert emails == [f"batch{i}@example.com" for i in range(5)]


def test_a_failure_after_the_link_rolls_back_link_person_and_message(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    """The link, the person, the event and the outbox row commit together or not at all."""
    from sharelinks.events import reactions

    create_webhook(setup, auth, receiver.url)

    def explode(conn: object, event: object) -> None:
        raise RuntimeError("a failure after the extension wrote its link and message")

    reactions.register(explode)  # runs after the extension, in the same transaction
    try:
        body = {"event_name": "converted", "data": {"email": "x@example.com"}}
        assert setup.post("/v5/events", headers=auth, json=body).status_code == 500
    finally:
        reactions.unregister(explode)
    assert setup.get("/v2/persons", headers=auth, params={"email": "x@example.com"}).json() == []
    assert events_of(setup, auth) == []
    time.sleep(0.3)
    assert receiver.requests == []


# -- every algorithm's header ---------------------------------------------------------------------


def deliver_with_key(client: TestClient, auth: dict, receiver: Receiver, algorithm: str, key: str, **opts: str):
    created = create_key(client, auth, algorithm, key, **opts)
    assert key not in orjson.dumps(created).decode()
    create_webhook(client, auth, receiver.url + "/hook", client_key_id=created["id"])
    send_event(client, auth, "alex@example.com")
    return receiver.wait_for(1, path="/hook")[-1]


def test_password_is_a_bearer_token(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    request = deliver_with_key(setup, auth, receiver, "PASSWORD", "s3cret-password")
    assert request.header("authorization") == "Bearer s3cret-password"


def test_http_basic(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    request = deliver_with_key(setup, auth, receiver, "HTTP_BASIC", "user:pa:ss")
    assert request.header("authorization") == "Basic " + base64.b64encode(b"user:pa:ss").decode()


def test_hs256_signs_the_exact_body(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    request = deliver_with_key(setup, auth, receiver, "HS256", "my-webhook-secret")
    expected = hmac.new(b"my-webhook-secret", request.body, hashlib.sha256).hexdigest()
    assert request.header("x-extole-signature") == expected


def test_standard_webhooks_verified_by_the_reference_library(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    request = deliver_with_key(setup, auth, receiver, "STANDARD_WEBHOOKS", WHSEC)
    headers = {k: request.header(k) for k in ("webhook-id", "webhook-timestamp", "webhook-signature")}
    assert StandardWebhook(WHSEC).verify(request.body, headers)["email"] == "alex@example.com"
    assert headers["webhook-id"] == events_of(setup, auth)[0]["event_id"]


def test_header_template(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    request = deliver_with_key(
        setup, auth, receiver, "HEADER", "iter-key", header_name="Api-Key", header_value_template="{key}"
    )
    assert request.header("api-key") == "iter-key"


def test_oauth2_client_credentials_fetches_caches_and_refreshes_on_401(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    issued: list[str] = []

    def token(received: object) -> Reply:
        issued.append(f"token-{len(issued) + 1}")
        return Reply(200, orjson.dumps({"access_token": issued[-1], "expires_in": 3600, "token_type": "Bearer"}))

    receiver.route("/oauth/token", token)
    opts = {"token_url": receiver.url + "/oauth/token", "client_id": "cid", "token_request_format": "form"}
    request = deliver_with_key(setup, auth, receiver, "OAUTH2_CLIENT_CREDENTIALS", "client-secret", **opts)
    assert request.header("authorization") == "Bearer token-1"
    [token_request] = [r for r in receiver.requests if r.path == "/oauth/token"]
    assert (
        b"grant_type=client_credentials" in token_request.body and b"client_secret=client-secret" in token_request.body
    )
    # The cached token is reused; a 401 forces exactly one refresh and a resend.
    receiver.respond(401)
    send_event(setup, auth, "second@example.com")
    hooks = receiver.wait_for(3, path="/hook")
    assert [h.header("authorization") for h in hooks[1:]] == ["Bearer token-1", "Bearer token-2"]
    assert len(issued) == 2


def test_rotation_sends_both_signatures_during_the_grace_period(
    setup: TestClient, auth: dict, receiver: Receiver
) -> None:
    key = create_key(setup, auth, "STANDARD_WEBHOOKS", WHSEC)
    new_secret = "whsec_" + base64.b64encode(b"n" * 32).decode()
    rotated = setup.post(
        f"/v2/settings/security/keys/{key['id']}/rotate", headers=auth, json={"key": new_secret, "grace_period": "PT1H"}
    )
    assert rotated.status_code == 200 and new_secret not in rotated.text and WHSEC not in rotated.text
    create_webhook(setup, auth, receiver.url, client_key_id=key["id"])
    send_event(setup, auth, "alex@example.com")
    [request] = receiver.wait_for(1)
    signatures = request.header("webhook-signature").split(" ")
    assert len(signatures) == 2
    for secret, signature in zip((new_secret, WHSEC), signatures, strict=True):
        headers = {
            "webhook-id": request.header("webhook-id"),
            "webhook-timestamp": request.header("webhook-timestamp"),
            "webhook-signature": signature,
        }
        StandardWebhook(secret).verify(request.body, headers)


# -- payload mapping ------------------------------------------------------------------------------


def test_payload_fields_and_template(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    create_webhook(
        setup,
        auth,
        receiver.url + "/fields",
        name="fields",
        payload_fields=["email", "share_code", "first_name", "data.plan"],
    )
    template = {"email": "{{email}}", "dataFields": {"share_link": "{{share_link}}", "note": "hi {{first_name}}"}}
    create_webhook(setup, auth, receiver.url + "/template", name="iterable", method="PUT", payload_template=template)
    send_event(setup, auth, "alex@example.com", first_name="Alex", plan="gold")
    fields = receiver.wait_for(1, path="/fields")[0].json()
    shaped = receiver.wait_for(1, path="/template")[0]
    assert list(fields) == ["email", "share_code", "first_name", "data"]
    assert fields["first_name"] == "Alex" and fields["data"] == {"plan": "gold"}
    assert shaped.method == "PUT"
    assert shaped.json() == {
        "email": "alex@example.com",
        "dataFields": {"share_link": f"https://share.yourbrand.com/{fields['share_code']}", "note": "hi Alex"},
    }


def test_send_test_event(setup: TestClient, auth: dict, receiver: Receiver) -> None:
    webhook = create_webhook(setup, auth, receiver.url, enabled=False)
    response = setup.post(f"/v6/webhooks/{webhook['id']}/test", headers=auth)
    assert response.status_code == 200
    [request] = receiver.wait_for(1)
    assert request.json()["event"] == "Share Link Created"
    preview = setup.get(f"/v6/webhooks/{webhook['id']}/preview", headers=auth)
    assert list(preview.json()) == ["event", "email", "partner_user_id", "timestamp", "share_link"]
    dispatches = wait_until(lambda: setup.get(f"/v6/webhooks/{webhook['id']}/dispatches/recent", headers=auth).json())
    assert dispatches[0]["response_status_code"] == 200
    assert dispatches[0]["event_id"] == response.json()["event_id"]


def test_an_expired_webhook_or_key_is_fetched_once_for_every_lane_waiting() -> None:
    calls: list[int] = []
    failing = [False]

    async def fetch(key: int) -> str:
        calls.append(key)
        await asyncio.sleep(0.01)  # a database round trip, during which more lanes ask
        if failing[0]:
            raise RuntimeError("database away")
        return f"v{key}-{len(calls)}"

    async def main() -> None:
        fetched = _Fetched(fetch, ttl=0.05)
        assert await asyncio.gather(*(fetched.get(1) for _ in range(50))) == ["v1-1"] * 50
        assert calls == [1]
        await asyncio.sleep(0.06)  # expired: fetched again, once
        failing[0] = True
        outcomes = await asyncio.gather(*(fetched.get(1) for _ in range(50)), return_exceptions=True)
        assert all(isinstance(o, RuntimeError) for o in outcomes) and calls == [1, 1]
        failing[0] = False  # a failed fetch is not kept: the next caller tries again
        assert await asyncio.gather(*(fetched.get(1) for _ in range(5))) == ["v1-3"] * 5

    asyncio.run(main())


def test_recorded_request_headers_hide_secrets_every_time_a_name_comes_back() -> None:
    # Redaction decisions are remembered per header name: the second call answers from that memory.
    headers = {"Authorization": "Bearer s3cret", "X-API-KEY": "k", "X-Extole-Signature": "ab12", "Cookie": "c=1",
               "X-Custom": "visible", "webhook-id": "123"}  # fmt: skip
    expected = {"Authorization": "[redacted]", "X-API-KEY": "[redacted]", "X-Extole-Signature": "[redacted]",
                "Cookie": "[redacted]", "X-Custom": "visible", "webhook-id": "123"}  # fmt: skip
    assert redact(headers) == expected
    assert redact(headers) == expected
    assert redact({"x-api-key": "other"}) == {"x-api-key": "[redacted]"}


def test_attempts_are_counted_by_outcome() -> None:
    def count(outcome: str) -> float:
        return REGISTRY.get_sample_value("sharelinks_delivery_attempts_total", {"outcome": outcome}) or 0.0

    before = {outcome: count(outcome) for outcome in ("delivered", "retrying")}
    observe_attempt("delivered", 0.01)
    observe_attempt("delivered", 0.02)
    observe_attempt("retrying", 0.5)
    assert count("delivered") == before["delivered"] + 2
    assert count("retrying") == before["retrying"] + 1


class FakeTaker:
    """A worker of this process as the enqueuer sees it (wakeup.Taker), recording what it is handed."""

    worker_id = "taker-under-test"
    lease_seconds = 60.0

    def __init__(self, engine: Engine, room: int) -> None:
        self.engine = engine
        self._room = room
        self.adopted: list[Claimed] = []

    def room(self) -> int:
        return self._room

    def adopt(self, messages: list[Claimed]) -> None:
        self.adopted.extend(messages)


def test_new_messages_go_to_the_worker_of_this_process_leased_and_unclaimed(
    client: TestClient, auth: dict, db: Database, receiver: Receiver
) -> None:
    make_program(client, auth)
    enable_extension(client, auth)
    webhook = create_webhook(client, auth, receiver.url)
    full, taker = FakeTaker(db.engine, room=0), FakeTaker(db.engine, room=100)
    elsewhere = FakeTaker(create_engine("sqlite://"), room=100)  # another database's worker takes nothing
    doorbell = wakeup.Doorbell()
    for registered in (full, elsewhere, taker):
        wakeup.register(doorbell, registered)
    try:
        send_event(client, auth, "alex@example.com")
    finally:
        for registered in (full, elsewhere, taker):
            wakeup.unregister(doorbell, registered)
    send_event(client, auth, "jordan@example.com")  # no worker here to take it

    rows = db.call(lambda conn: conn.execute(select(webhook_messages)).all())
    by_email = {row.email_key: row for row in rows}
    alex, jordan = by_email["alex@example.com"], by_email["jordan@example.com"]
    assert (alex.worker_id, alex.status, alex.attempt_count) == ("taker-under-test", "pending", 0)
    assert alex.lease_until > alex.created_at
    assert (jordan.worker_id, jordan.lease_until) == (None, None)  # due: any worker claims it
    [message] = taker.adopted
    assert (message.id, message.webhook_id, message.event_type, message.trigger) == (
        alex.id, int(str(webhook["id"])), "share_link_created", "scheduled")  # fmt: skip
    assert message.event == alex.event and message.event["email"] == "alex@example.com"
    assert full.adopted == [] and elsewhere.adopted == []
    # Leased: a claim passes it by until the lease runs out (the process that holds it died).
    assert [m.id for m in db.call(queue.claim, "another-worker", 10, 60)] == [jordan.id]


def test_after_commit_runs_for_what_committed_and_never_for_what_did_not(db: Database) -> None:
    ran: list[str] = []

    def good(conn: Connection, name: str) -> str:
        after_commit(conn, lambda: ran.append(name))
        return name

    def bad(conn: Connection) -> None:
        after_commit(conn, lambda: ran.append("bad"))
        raise RuntimeError("this unit fails")

    async def main() -> list[object]:  # one batch: SQLite's savepoints, PostgreSQL's re-run alone
        return await asyncio.gather(db.run(good, "a"), db.run(bad), db.run(good, "b"), return_exceptions=True)

    results = asyncio.run(main())
    assert results[0] == "a" and isinstance(results[1], RuntimeError) and results[2] == "b"
    assert sorted(ran) == ["a", "b"]
    with pytest.raises(RuntimeError), db.transaction() as conn:
        after_commit(conn, lambda: ran.append("rolled back"))
        raise RuntimeError("the whole transaction fails")
    db.call(lambda conn: None)  # and nothing of it runs with the next transaction
    assert sorted(ran) == ["a", "b"]


def test_messages_handed_over_after_the_worker_stopped_go_back_at_once(db: Database, settings: Settings) -> None:
    db.call(webhooks.create, {"name": "w", "url": "https://hooks.example.com/x"})
    event = {"event": "Share Link Created", "email": "late@example.com"}
    db.call(webhooks.enqueue, "share_link_created", event, program_id=None, dedupe_key="late")

    async def main() -> None:
        worker = DeliveryWorker(db, SecretBox(TEST_MASTER_KEY), settings)
        worker.start()
        await worker.stop()
        # A transaction that found room before the stop committed after it: its messages arrive now.
        late = await db.run(queue.claim, worker.worker_id, 10, 60)
        assert len(late) == 1
        worker._take(late)
        await wait_until_async(lambda: db.call(_lease) is None, timeout=5.0)

    def _lease(conn: Connection) -> datetime | None:
        return conn.execute(select(webhook_messages.c.lease_until)).scalar_one()  # type: ignore[no-any-return]

    asyncio.run(main())
    assert [m.id for m in db.call(queue.claim, "another-worker", 10, 60)]  # due again for any worker
