"""Idempotency-Key on POST: repeats get the first answer, never a second effect (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sharelinks import clock
from sharelinks.db.database import Database
from sharelinks.events.models import events
from sharelinks.idempotency import middleware, service
from sharelinks.idempotency.models import idempotency_keys
from sharelinks.idempotency.service import Held, Kept
from sharelinks.tokens.scopes import Scope
from tests.helpers import assert_error, row_count

Json = dict[str, Any]
EVENT = {"event_name": "converted", "data": {"email": "alex@example.com"}}


def with_key(auth: Json, key: str) -> Json:
    return {**auth, "Idempotency-Key": key}


def test_a_repeat_gets_the_first_answer_and_no_second_effect(client: TestClient, auth: Json, db: Database) -> None:
    first = client.post("/v5/events", headers=with_key(auth, "order-1001"), json=EVENT)
    again = client.post("/v5/events", headers=with_key(auth, "order-1001"), json=EVENT)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert again.headers["content-type"] == first.headers["content-type"]
    assert row_count(db, events) == 1
    replays = 'sharelinks_http_requests_total{method="POST",route="(idempotency-key replay)",status="200"}'
    assert replays in client.get("/metrics").text
    # Without the key, or with another, the request runs again.
    assert client.post("/v5/events", headers=with_key(auth, "order-1002"), json=EVENT).json() != first.json()
    assert client.post("/v5/events", headers=auth, json=EVENT).status_code == 200
    assert row_count(db, events) == 3


def test_an_error_answer_is_repeated_too(client: TestClient, auth: Json, db: Database) -> None:
    body = {"label": "refer-a-friend", "domains": ["share.example.com"], "destination_url": "https://example.com/r"}
    created = client.post("/v6/programs", headers=with_key(auth, "p-1"), json=body)
    assert created.status_code == 200
    assert client.post("/v6/programs", headers=with_key(auth, "p-1"), json=body).json() == created.json()
    assert_error(client.post("/v6/programs", headers=with_key(auth, "p-2"), json=body), 400, "program_label_taken")
    repeated = client.post("/v6/programs", headers=with_key(auth, "p-2"), json=body)
    assert_error(repeated, 400, "program_label_taken")
    assert repeated.headers["idempotent-replayed"] == "true"


def test_the_same_key_for_another_request_is_refused(client: TestClient, auth: Json, db: Database) -> None:
    client.post("/v5/events", headers=with_key(auth, "k-1"), json=EVENT)
    other = {**EVENT, "event_name": "signed_up"}
    assert_error(client.post("/v5/events", headers=with_key(auth, "k-1"), json=other), 400, "idempotency_key_reused")
    assert_error(client.post("/v6/events", headers=with_key(auth, "k-1"), json=EVENT), 400, "idempotency_key_reused")
    assert row_count(db, events) == 1


def test_keys_belong_to_their_credential(
    client: TestClient, auth: Json, issue_token: Callable[..., str], db: Database
) -> None:
    other = {"Authorization": f"Bearer {issue_token(Scope.CLIENT_SUPERUSER)}"}
    first = client.post("/v5/events", headers=with_key(auth, "shared"), json=EVENT).json()
    second = client.post("/v5/events", headers=with_key(other, "shared"), json=EVENT).json()
    assert first != second and row_count(db, events) == 2


def test_auth_failures_and_bad_keys_are_not_kept(client: TestClient, auth: Json, db: Database) -> None:
    refused = client.post("/v5/events", headers={"Idempotency-Key": "k", "Authorization": "Bearer nope"}, json=EVENT)
    assert_error(refused, 403, "invalid_access_token")
    assert row_count(db, idempotency_keys) == 0
    for key in ("x" * 256, "two words", "caf\u00e9".encode()):
        response = client.post("/v5/events", headers={**auth, "Idempotency-Key": key}, json=EVENT)
        assert_error(response, 400, "invalid_idempotency_key")
    assert row_count(db, events) == 0


def test_a_repeat_waits_for_the_first_and_then_gets_its_answer(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first request is "running": its key is held. A repeat polls until the answer is kept.
    scope_hash, request_hash = "a" * 64, "b" * 64
    assert db.call(service.claim, scope_hash, request_hash, clock.now()) is Held.OWNED
    assert db.call(service.claim, scope_hash, request_hash, clock.now()) is Held.IN_PROGRESS
    threading.Timer(
        0.3, lambda: db.call(service.keep, scope_hash, 201, [["content-type", "text/plain"]], b"hi")
    ).start()
    assert db.call(service.claim, scope_hash, "c" * 64, clock.now()) is Held.MISMATCH
    monkeypatch.setattr(middleware, "POLL_SECONDS", 0.05)
    held = _claim_waiting(db, scope_hash, request_hash)
    assert held == Kept(201, [["content-type", "text/plain"]], b"hi")


def _claim_waiting(db: Database, scope_hash: str, request_hash: str) -> Held | Kept:
    async def claim() -> Held | Kept:
        waiter = middleware.Idempotency(lambda *_: None, db, max_body_bytes=1024)  # type: ignore[arg-type]
        return await waiter._claim(scope_hash, request_hash)

    return asyncio.run(claim())


def test_a_request_still_running_after_the_wait_gets_409(
    client: TestClient, auth: Json, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(middleware, "WAIT_SECONDS", 0.2)
    monkeypatch.setattr(service, "LOCK", timedelta(hours=1))
    original = service.keep
    # The first request's answer is never kept (as if its process hung after answering).
    monkeypatch.setattr(service, "keep", lambda *args: None)
    assert client.post("/v5/events", headers=with_key(auth, "slow"), json=EVENT).status_code == 200
    monkeypatch.setattr(service, "keep", original)
    assert_error(
        client.post("/v5/events", headers=with_key(auth, "slow"), json=EVENT), 409, "idempotency_key_in_progress"
    )
    assert row_count(db, events) == 1


def test_an_abandoned_key_is_taken_over_and_an_expired_one_forgotten(
    client: TestClient, auth: Json, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = clock.now()
    monkeypatch.setattr(service, "keep", lambda *args: None)  # the first process dies before keeping
    client.post("/v5/events", headers=with_key(auth, "crash"), json=EVENT)
    monkeypatch.undo()
    try:
        clock.set_clock(lambda: start + service.LOCK + timedelta(seconds=1))
        retried = client.post("/v5/events", headers=with_key(auth, "crash"), json=EVENT)
        assert retried.status_code == 200 and "idempotent-replayed" not in retried.headers
        assert client.post("/v5/events", headers=with_key(auth, "crash"), json=EVENT).json() == retried.json()
        assert row_count(db, events) == 2  # at least once: the request ran again after the lock lapsed
        clock.set_clock(lambda: start + service.KEPT + timedelta(seconds=2))
        assert db.call(service.purge, clock.now()) == 1
        assert row_count(db, idempotency_keys) == 0
        fresh = client.post("/v5/events", headers=with_key(auth, "crash"), json=EVENT)
        assert "idempotent-replayed" not in fresh.headers and row_count(db, events) == 3
    finally:
        clock.set_clock(None)


def test_every_post_documents_the_header(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    posts = [ops["post"] for ops in paths.values() if "post" in ops]
    assert posts and all(any(p["name"] == "Idempotency-Key" for p in op.get("parameters", [])) for op in posts)
    gets = [ops["get"] for ops in paths.values() if "get" in ops]
    assert not any(p["name"] == "Idempotency-Key" for op in gets for p in op.get("parameters", []))
