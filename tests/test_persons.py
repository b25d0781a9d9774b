"""Persons: v2 and v5 shapes, identity rules, validation and duplicate errors."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_error

Json = dict[str, Any]


def test_v2_create_get_update(client: TestClient, auth: Json) -> None:
    created = client.post(
        "/v2/persons",
        headers=auth,
        json={
            "email": " Alex@Example.COM ",
            "first_name": "Alex",
            "partner_user_id": "USER-1",
            "parameters": {"tier": "gold"},
        },
    )
    assert created.status_code == 200
    body = created.json()
    assert list(body) == [
        "id",
        "email",
        "first_name",
        "last_name",
        "picture_url",
        "partner_user_id",
        "parameters",
        "locale",
    ]
    assert body["email"] == "Alex@Example.COM" and body["parameters"] == {"tier": "gold"}
    assert len(body["id"]) == 19 and body["id"].isdigit()
    assert client.get(f"/v2/persons/{body['id']}", headers=auth).json() == body
    updated = client.put(f"/v2/persons/{body['id']}", headers=auth, json={"last_name": "Smith"}).json()
    assert updated["last_name"] == "Smith" and updated["first_name"] == "Alex"
    # email is matched trimmed and case-insensitively
    found = client.get("/v2/persons", headers=auth, params={"email": "alex@example.com"}).json()
    assert [p["id"] for p in found] == [body["id"]]
    assert client.get("/v2/persons", headers=auth, params={"partner_user_id": "USER-1"}).json()[0]["id"] == body["id"]
    assert client.get("/v2/persons", headers=auth, params={"email": "nobody@example.com"}).json() == []


def test_person_ids_are_not_sequential(client: TestClient, auth: Json) -> None:
    ids = [
        int(client.post("/v2/persons", headers=auth, json={"email": f"p{i}@example.com"}).json()["id"])
        for i in range(5)
    ]
    steps = {b - a for a, b in itertools.pairwise(ids)}
    assert len(steps) == 4 and all(abs(s) > 1000 for s in steps)


def test_duplicates_are_refused(client: TestClient, auth: Json) -> None:
    client.post("/v2/persons", headers=auth, json={"email": "a@example.com", "partner_user_id": "P1"})
    assert_error(
        client.post("/v2/persons", headers=auth, json={"email": "A@EXAMPLE.com"}), 400, "person_email_already_defined"
    )
    assert_error(
        client.post("/v2/persons", headers=auth, json={"email": "b@example.com", "partner_user_id": "P1"}),
        400,
        "person_partner_user_id_already_defined",
    )
    other = client.post("/v2/persons", headers=auth, json={"email": "c@example.com"}).json()
    assert_error(
        client.put(f"/v2/persons/{other['id']}", headers=auth, json={"email": "a@example.com"}),
        400,
        "person_email_already_defined",
    )
    assert len(client.get("/v2/persons", headers=auth).json()) == 2


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"email": "not-an-email"}, "invalid_email"),
        ({"email": "a@b"}, "invalid_email"),
        ({"partner_user_id": "x" * 256}, "partner_user_id_invalid_length"),
        ({"first_name": "x" * 51}, "invalid_length_first_name"),
        ({"last_name": "x" * 51}, "invalid_length_last_name"),
        ({"picture_url": "javascript:alert(1)"}, "invalid_parameter"),
        ({"nickname": "x"}, "invalid_parameter"),
        ({"email": 7}, "binding_error"),
        ({"blocked": "yes"}, "binding_error"),
    ],
)
def test_v2_validation(client: TestClient, auth: Json, body: Json, code: str) -> None:
    assert_error(client.post("/v2/persons", headers=auth, json=body), 400, code)
    assert client.get("/v2/persons", headers=auth).json() == []


def test_v5_persons(client: TestClient, auth: Json) -> None:
    created = client.post("/v5/persons", headers=auth, json={"identity_key_value": "alex@example.com"})
    body = created.json()
    assert list(body) == ["id", "identity_id", "identity_key", "identity_key_value", "locale", "version"]
    assert body["identity_key"] == {"name": "email"} and body["version"] == "1"
    assert_error(
        client.post("/v5/persons", headers=auth, json={"identity_key_value": "ALEX@example.com"}),
        400,
        "identity_key_value_already_taken",
    )
    assert_error(
        client.post("/v5/persons", headers=auth, json={"identity_key_value": "nope"}), 400, "invalid_key_value"
    )
    listed = client.get("/v5/persons", headers=auth, params={"identity_key_value": "alex@example.com"}).json()
    assert isinstance(listed, list) and listed[0]["id"] == body["id"]
    updated = client.put(
        f"/v5/persons/{body['id']}", headers=auth, json={"identity_key_value": "alex2@example.com"}
    ).json()
    assert updated["identity_key_value"] == "alex2@example.com" and updated["version"] == "2"
    assert client.get(f"/v5/persons/{body['id']}", headers=auth).json() == updated
    client.post("/v2/persons", headers=auth, json={"email": "k@example.com", "partner_user_id": "K1"})
    by_key = client.get("/v5/persons", headers=auth, params={"person_keys": "partner_user_id:K1"}).json()
    assert [p["identity_key_value"] for p in by_key] == ["k@example.com"]


def test_unknown_person_is_404(client: TestClient, auth: Json) -> None:
    for path in ("/v2/persons/1234567890123456789", "/v5/persons/1234567890123456789", "/v2/persons/abc"):
        assert_error(client.get(path, headers=auth), 404, "person_not_found")
