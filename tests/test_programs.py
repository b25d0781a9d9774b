"""Programs API: create, read, update, validation."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_error

Json = dict[str, Any]


def test_program_lifecycle(client: TestClient, auth: Json, program: Json) -> None:
    assert program["domains"] == ["share.yourbrand.com", "refer.yourbrand.com"]
    assert program["program_url"] == "https://share.yourbrand.com" and program["code_style"] == "random"
    assert client.get("/v6/programs/refer-a-friend", headers=auth).json() == program
    changed = client.put(
        "/v6/programs/refer-a-friend",
        headers=auth,
        json={
            "destination_url": "https://www.yourbrand.com/new",
            "domains": ["SHARE.yourbrand.com"],
            "fallback_url": None,
        },
    ).json()
    assert changed["destination_url"] == "https://www.yourbrand.com/new"
    assert changed["domains"] == ["share.yourbrand.com"] and changed["fallback_url"] is None
    assert [p["label"] for p in client.get("/v6/programs", headers=auth).json()] == ["refer-a-friend"]
    assert_error(client.get("/v6/programs/nope", headers=auth), 404, "program_not_found")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"domains": ["a.example.com"], "destination_url": "https://x.example"}, "label_is_missing"),
        ({"label": "bad label", "domains": ["a.example.com"], "destination_url": "https://x.example"},
         "label_name_contains_illegal_character"),
        ({"label": "x", "domains": [], "destination_url": "https://x.example"}, "invalid_program_domain"),
        ({"label": "x", "domains": ["not a host"], "destination_url": "https://x.example"}, "invalid_program_domain"),
        ({"label": "x", "domains": ["a.example.com"], "destination_url": "javascript:alert(1)"}, "invalid_url"),
        ({"label": "x", "domains": ["a.example.com"]}, "invalid_url"),
        ({"label": "x", "domains": ["a.example.com"], "destination_url": "https://x.example", "code_style": "fancy"},
         "invalid_code_style"),
        ({"label": "refer-a-friend", "domains": ["b.example.com"], "destination_url": "https://x.example"},
         "program_label_taken"),
        ({"label": "other", "domains": ["share.yourbrand.com"], "destination_url": "https://x.example"},
         "program_domain_taken"),
    ],
)  # fmt: skip
def test_program_validation(client: TestClient, auth: Json, program: Json, body: Json, code: str) -> None:
    assert_error(client.post("/v6/programs", headers=auth, json=body), 400, code)
    assert len(client.get("/v6/programs", headers=auth).json()) == 1
