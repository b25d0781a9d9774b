"""Security keys: every algorithm's rules, write-only secrets, encryption at rest, rotation, known answers."""

from __future__ import annotations

import base64
import logging
import os
import stat
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook as StandardWebhook

from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.keys.algorithms import hs256_hex, standard_signature
from sharelinks.keys.crypto import SecretBox, SecretKeyMissing
from sharelinks.keys.models import security_keys
from tests.helpers import assert_error, create_key, create_webhook

WHSEC = "whsec_" + base64.b64encode(b"w" * 32).decode()
BASE = "/v2/settings/security/keys"

EXTOLE_BODY = (
    '{"type":"reward_earned","event_id":"qb3jju459ugjr2aojk5e","event_time":"2020-05-29T14:14:18.548Z",'
    '"reward_id":"bf67905b4e1b41daf39c30f0","reward_supplier_name":"Advocate Account Credit",'
    '"reward_supplier_id":"701e681a9e46c8b6778f3452","partner_reward_supplier_id":"Advocate Account Credit",'
    '"reward_supplier_type":"CUSTOM_REWARD","person_id": "6816411215104951917","partner_user_id":"1036950000",'
    '"face_value":50,"face_value_type":"USD","message":null,"schema_version":1}'
)


def test_hs256_known_answer() -> None:
    body = EXTOLE_BODY.encode()
    assert len(body) == 468
    assert hs256_hex("my-webhook-secret", body) == "d7ae7c1a3a5354c9c440c2bbf2bedb8c1899dda7ccbaa4546ef27f09dbfbd6c9"


def test_standard_webhooks_known_answer_and_reference_library_agree() -> None:
    secret, msg_id, timestamp = "whsec_plJ3nmyCDGBKInavdOK15jsl", "msg_loFOjxBNrRLzqYUf", 1731705121
    body = b'{"event_type":"ping","data":{"success":true}}'
    expected = "v1,rAvfW3dJ/X/qxhsaXPOyyCGmRKsaKWcsNccKXlIktD0="
    assert standard_signature(secret, msg_id, timestamp, body) == expected
    assert StandardWebhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode()) == expected


@pytest.mark.parametrize(
    ("algorithm", "key", "options"),
    [
        ("PASSWORD", "pw-123456", {}),
        ("HTTP_BASIC", "user:password", {}),
        ("HS256", "my-webhook-secret", {}),
        ("STANDARD_WEBHOOKS", WHSEC, {}),
        (
            "HEADER",
            "klaviyo-private-key",
            {"header_name": "Authorization", "header_value_template": "Klaviyo-API-Key {key}"},
        ),
        (
            "OAUTH2_CLIENT_CREDENTIALS",
            "client-secret-1",
            {"token_url": "https://auth.example.com/v2/token", "client_id": "abc"},
        ),
    ],
)
def test_create_every_algorithm_secret_never_returned(
    client: TestClient, auth: dict, db: Database, algorithm: str, key: str, options: dict
) -> None:
    created = create_key(client, auth, algorithm, key, **options)
    assert created["algorithm"] == algorithm and "key" not in created
    for name, value in options.items():
        assert created[name] == value
    listing = client.get(BASE, headers=auth)
    one = client.get(f"{BASE}/{created['id']}", headers=auth)
    for response in (listing, one):
        assert response.status_code == 200 and key not in response.text
    # At rest: only a ciphertext, which opens with the master key and this row's id only.
    with db.transaction() as conn:
        stored = conn.execute(select(security_keys.c.secret).where(security_keys.c.id == int(created["id"]))).scalar()
    assert key not in stored and stored.startswith("v1.")
    from tests.conftest import TEST_MASTER_KEY

    box = SecretBox(TEST_MASTER_KEY)
    assert box.open(stored, int(created["id"])) == key
    with pytest.raises(ValueError):
        box.open(stored, int(created["id"]) + 1)
    with pytest.raises(ValueError):
        SecretBox("another master key").open(stored, int(created["id"]))


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"algorithm": "RS512", "key": "x"}, "invalid_algorithm"),
        ({"algorithm": "PASSWORD"}, "invalid_key"),
        ({"algorithm": "PASSWORD", "key": ""}, "invalid_key"),
        ({"algorithm": "HTTP_BASIC", "key": "no-colon"}, "invalid_key"),
        ({"algorithm": "STANDARD_WEBHOOKS", "key": "plainsecret"}, "invalid_key"),
        ({"algorithm": "STANDARD_WEBHOOKS", "key": "whsec_" + base64.b64encode(b"short").decode()}, "invalid_key"),
        ({"algorithm": "STANDARD_WEBHOOKS", "key": "whsec_!!!notbase64"}, "invalid_key"),
        ({"algorithm": "HEADER", "key": "k", "header_name": "Bad Header"}, "invalid_header"),
        ({"algorithm": "HEADER", "key": "k", "header_name": "Host"}, "invalid_header"),
        (
            {"algorithm": "HEADER", "key": "k", "header_name": "Api-Key", "header_value_template": "no key"},
            "invalid_header",
        ),
        ({"algorithm": "HEADER", "key": "a\r\nInjected: 1", "header_name": "Api-Key"}, "invalid_key"),
        ({"algorithm": "OAUTH2_CLIENT_CREDENTIALS", "key": "s", "client_id": "c"}, "invalid_url"),
        (
            {"algorithm": "OAUTH2_CLIENT_CREDENTIALS", "key": "s", "token_url": "ftp://x/token", "client_id": "c"},
            "invalid_url",
        ),
        ({"algorithm": "OAUTH2_CLIENT_CREDENTIALS", "key": "s", "token_url": "https://x/token"}, "invalid_parameter"),
        ({"algorithm": "PASSWORD", "key": "k", "type": "SIGNING"}, "invalid_key_type"),
        ({"algorithm": "PASSWORD", "key": "k", "surprise": 1}, "invalid_parameter"),
        ({"algorithm": "PASSWORD", "key": 5}, "binding_error"),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_written(client: TestClient, auth: dict, body: dict, code: str) -> None:
    assert_error(client.post(BASE, headers=auth, json={"name": "k1", **body}), 400, code)
    assert client.get(BASE, headers=auth).json() == []


def test_names_are_unique_update_rotate_delete(client: TestClient, auth: dict, program: dict) -> None:
    key = create_key(client, auth, "HS256", "first-secret")
    assert_error(client.post(BASE, headers=auth, json={"name": "hs256-key", "algorithm": "HS256", "key": "x"}), 400,
                 "key_name_taken")  # fmt: skip
    updated = client.put(f"{BASE}/{key['id']}", headers=auth, json={"description": "for the CRM"})
    assert updated.json()["description"] == "for the CRM"
    assert_error(client.put(f"{BASE}/{key['id']}", headers=auth, json={"key": "sneaky"}), 400, "invalid_key")
    assert_error(client.put(f"{BASE}/{key['id']}", headers=auth, json={"algorithm": "PASSWORD"}), 400,
                 "invalid_algorithm")  # fmt: skip
    rotated = client.post(f"{BASE}/{key['id']}/rotate", headers=auth, json={"key": "second-secret"})
    assert rotated.json()["version"] == 2 and "second-secret" not in rotated.text
    # HS256 has one header: no grace period, the old secret stops at once.
    assert rotated.json()["retired_keys_in_grace"] == 0
    assert_error(client.post(f"{BASE}/{key['id']}/rotate", headers=auth, json={"key": "x", "grace_period": "P8D"}),
                 400, "invalid_grace_period")  # fmt: skip
    webhook = create_webhook(client, auth, "https://hooks.example.com/in", client_key_id=key["id"])
    assert_error(client.delete(f"{BASE}/{key['id']}", headers=auth), 400, "key_in_use")
    client.delete(f"/v6/webhooks/{webhook['id']}", headers=auth)
    assert client.delete(f"{BASE}/{key['id']}", headers=auth).status_code == 200
    assert_error(client.get(f"{BASE}/{key['id']}", headers=auth), 404, "key_not_found")
    assert_error(client.get(f"{BASE}/not-a-number", headers=auth), 404, "key_not_found")


def test_secrets_never_reach_the_logs(client: TestClient, auth: dict, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    create_key(client, auth, "PASSWORD", "log-canary-secret")
    client.post(BASE, headers=auth, json={"name": "x", "algorithm": "HTTP_BASIC", "key": "log-canary-2"})
    assert "log-canary" not in caplog.text


def test_embedded_master_key_file_is_created_owner_only(tmp_path: Path) -> None:
    settings = replace(Settings(), database_url=f"sqlite:///{tmp_path}/s.db", secret_key=None)
    box = SecretBox.from_settings(settings)
    path = tmp_path / "s.db.secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sealed = box.seal("hello", 1)
    assert SecretBox.from_settings(settings).open(sealed, 1) == "hello"  # the same key on the next start


def test_postgresql_needs_an_explicit_master_key() -> None:
    settings = replace(Settings(), database_url="postgresql+psycopg://x@127.0.0.1/x", secret_key=None)
    with pytest.raises(SecretKeyMissing):
        SecretBox.from_settings(settings)
