"""Share-link API: shapes (v3/v4/v5), idempotent create, every validation rule and error code."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.helpers import assert_error

Json = dict[str, Any]


def create(client: TestClient, auth: Json, person_id: str, body: Json, version: str = "v3") -> Any:
    return client.post(f"/{version}/persons/{person_id}/shareables", headers=auth, json=body)


def test_customer_document_example_v3(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    response = create(client, auth, person["id"], {"label": "refer-a-friend"})
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["code", "key", "label", "link", "person_id", "content", "data"]
    assert body["key"] == "refer-a-friend" and body["label"] == "refer-a-friend"
    assert body["link"] == f"https://share.yourbrand.com/{body['code']}"
    assert body["person_id"] == person["id"] and body["content"] is None and body["data"] == {}
    code = body["code"]
    assert len(code) >= 8 and code == code.lower()


def test_v5_shape_with_content_and_data(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    response = create(
        client,
        auth,
        person["id"],
        {
            "label": "refer-a-friend",
            "code": "Alex01",
            "content": {"partner_content_id": "sku-123", "title": "Hi", "url": "https://x.example/p"},
            "data": {"campaign": "spring"},
            "program_url": "https://refer.yourbrand.com",
        },
        version="v5",
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["code", "key", "label", "link", "content", "data", "created_date", "updated_date"]
    assert body["code"] == "Alex01"  # display case kept
    assert body["link"] == "https://refer.yourbrand.com/Alex01"
    assert body["content"] == {
        "partner_content_id": "sku-123", "title": "Hi", "image_url": None, "description": None,
        "url": "https://x.example/p",
    }  # fmt: skip
    assert body["data"] == {"campaign": {"name": "campaign", "value": "spring"}}
    assert body["created_date"].endswith("+00:00")


def test_v5_omits_content_when_none_and_honours_time_zone(
    client: TestClient, auth: Json, program: Json, person: Json
) -> None:
    headers = {**auth, "Time-Zone": "America/Los_Angeles"}
    response = client.post(f"/v5/persons/{person['id']}/shareables", headers=headers, json={"label": "refer-a-friend"})
    body = response.json()
    assert "content" not in body
    assert body["created_date"][-6:] in ("-07:00", "-08:00")
    bad = client.get(f"/v5/persons/{person['id']}/shareables", headers={**auth, "Time-Zone": "Mars/Olympus"})
    assert_error(bad, 400, "invalid_time_zone")


def test_same_key_returns_same_link(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    first = create(client, auth, person["id"], {"label": "refer-a-friend"}).json()
    again = create(client, auth, person["id"], {"label": "refer-a-friend"})
    assert again.status_code == 200 and again.json() == first
    same_code = create(client, auth, person["id"], {"label": "refer-a-friend", "code": first["code"].upper()})
    assert same_code.status_code == 200 and same_code.json() == first
    other_code = create(client, auth, person["id"], {"label": "refer-a-friend", "code": "different1"})
    assert_error(other_code, 400, "shareable_key_taken")
    assert len(client.get(f"/v3/persons/{person['id']}/shareables", headers=auth).json()) == 1


def test_explicit_key_allows_second_link(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    a = create(client, auth, person["id"], {"label": "refer-a-friend"}).json()
    b = create(client, auth, person["id"], {"label": "refer-a-friend", "key": "employee"}).json()
    assert a["code"] != b["code"] and b["key"] == "employee"


def test_code_taken_case_insensitively_with_free_suggestions(
    client: TestClient, auth: Json, program: Json, person: Json
) -> None:
    create(client, auth, person["id"], {"label": "refer-a-friend", "code": "alex01"})
    other = client.post("/v2/persons", headers=auth, json={"email": "sam@example.com"}).json()
    create(client, auth, other["id"], {"label": "refer-a-friend", "code": "alex0101", "key": "k1"})
    taken = create(client, auth, other["id"], {"label": "refer-a-friend", "code": "ALEX01"})
    body = assert_error(taken, 400, "code_taken")
    suggestions = body["parameters"]["code_suggestions"]
    assert body["parameters"]["code"] == "ALEX01"
    assert len(suggestions) == 3 and "alex0101" not in [s.lower() for s in suggestions]
    for suggestion in suggestions:  # each suggestion really is free
        assert (
            create(
                client, auth, other["id"], {"label": "refer-a-friend", "code": suggestion, "key": suggestion}
            ).status_code
            == 200
        )


def test_name_style_codes(client: TestClient, auth: Json) -> None:
    client.post(
        "/v6/programs",
        headers=auth,
        json={
            "label": "friends",
            "domains": ["f.example.com"],
            "destination_url": "https://e.example/r",
            "code_style": "name",
        },
    )
    made = []
    for i in range(3):
        p = client.post("/v2/persons", headers=auth, json={"email": f"a{i}@example.com", "first_name": "Álex"}).json()
        made.append(create(client, auth, p["id"], {"label": "friends"}).json()["code"])
    assert made == ["alex01", "alex02", "alex03"]
    nameless = client.post("/v2/persons", headers=auth, json={"email": "n@example.com"}).json()
    code = create(client, auth, nameless["id"], {"label": "friends"}).json()["code"]
    assert len(code) == 8  # random when there is no first name


def test_get_list_update_delete_and_lookup(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    pid = person["id"]
    made = create(client, auth, pid, {"label": "refer-a-friend", "code": "alex01", "data": {"a": "1"}}).json()
    create(client, auth, pid, {"label": "refer-a-friend", "key": "second", "data": {"a": "2", "b": "x"}})
    assert client.get(f"/v3/persons/{pid}/shareables/ALEX01", headers=auth).json() == made
    by_code = client.get("/v3/shareables/alex01", headers=auth).json()
    assert by_code["person_id"] == pid
    listed = client.get(f"/v5/persons/{pid}/shareables", headers=auth).json()
    assert [s["key"] for s in listed] == ["refer-a-friend", "second"]
    assert len(client.get(f"/v5/persons/{pid}/shareables?data_keys=b", headers=auth).json()) == 1
    assert len(client.get(f"/v5/persons/{pid}/shareables?data_values=a:1", headers=auth).json()) == 1
    assert len(client.get(f"/v5/persons/{pid}/shareables?labels=other", headers=auth).json()) == 0
    assert len(client.get(f"/v5/persons/{pid}/shareables?limit=1&offset=1", headers=auth).json()) == 1
    assert_error(
        client.get(f"/v5/persons/{pid}/shareables?data_values=nocolon", headers=auth), 400, "data_values_invalid"
    )
    updated = client.put(
        f"/v5/persons/{pid}/shareables/alex01", headers=auth, json={"data": {"c": "3"}, "content": {"title": "T"}}
    ).json()
    assert updated["data"] == {"c": {"name": "c", "value": "3"}} and updated["content"]["title"] == "T"
    assert updated["code"] == "alex01"
    v4 = client.get(f"/v4/persons/{pid}/shareables", headers=auth).json()
    assert v4[0]["code"] == "alex01"  # most recently updated first
    clash = client.put(f"/v3/persons/{pid}/shareables/alex01", headers=auth, json={"key": "second"})
    assert_error(clash, 400, "shareable_key_taken")
    deleted = client.delete(f"/v3/persons/{pid}/shareables/alex01", headers=auth)
    assert deleted.status_code == 200 and deleted.json()["code"] == "alex01"
    assert_error(client.get(f"/v3/persons/{pid}/shareables/alex01", headers=auth), 404, "shareable_not_found")
    assert_error(client.get("/v3/shareables/alex01", headers=auth), 404, "shareable_not_found")


def test_change_owner(client: TestClient, auth: Json, program: Json, person: Json) -> None:
    create(client, auth, person["id"], {"label": "refer-a-friend", "code": "alex01"})
    other = client.post("/v2/persons", headers=auth, json={"email": "new@example.com"}).json()
    path = f"/v3/persons/{person['id']}/shareables/alex01/update-shareable-owner"
    assert_error(
        client.post(path, headers=auth, json={"new_person_id": "1234567890123456789"}), 400, "person_not_found"
    )
    moved = client.post(path, headers=auth, json={"new_person_id": other["id"]})
    assert moved.status_code == 200 and moved.json()["person_id"] == other["id"]


def test_person_must_exist_and_have_email(client: TestClient, auth: Json, program: Json) -> None:
    assert_error(create(client, auth, "1234567890123456789", {"label": "refer-a-friend"}), 404, "person_not_found")
    assert_error(create(client, auth, "not-a-number", {"label": "refer-a-friend"}), 404, "person_not_found")
    anon = client.post("/v2/persons", headers=auth, json={"partner_user_id": "P-9"}).json()
    assert_error(create(client, auth, anon["id"], {"label": "refer-a-friend"}), 400, "person_not_rewardable")


LONG_URL = "https://x.example/" + "a" * 2040


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "label_is_missing"),
        ({"label": ""}, "label_is_missing"),
        ({"label": "x" * 51}, "label_name_length_out_of_range"),
        ({"label": "refer a friend"}, "label_name_contains_illegal_character"),
        ({"label": "refer-a-friend", "code": "abc"}, "code_out_of_range"),
        ({"label": "refer-a-friend", "code": "a" * 51}, "code_out_of_range"),
        ({"label": "refer-a-friend", "code": "al ex"}, "code_illegal_character"),
        ({"label": "refer-a-friend", "code": "admin"}, "code_contains_reserved_word"),
        ({"label": "refer-a-friend", "code": "5h1thead"}, "code_profane_word"),
        ({"label": "refer-a-friend", "data": {"bad name": "v"}}, "data_attribute_name_invalid"),
        ({"label": "refer-a-friend", "data": {"n" * 201: "v"}}, "data_attribute_name_length_out_of_range"),
        ({"label": "refer-a-friend", "data": {"n": 5}}, "data_attribute_value_invalid"),
        ({"label": "refer-a-friend", "data": {"n": "v" * 2001}}, "data_attribute_value_length_out_of_range"),
        ({"label": "refer-a-friend", "content": {"url": "ftp://x.example"}}, "invalid_content_url"),
        ({"label": "refer-a-friend", "content": {"url": LONG_URL}}, "content_url_length_out_of_range"),
        ({"label": "refer-a-friend", "content": {"image_url": "not a url"}}, "content_image_url_invalid"),
        ({"label": "refer-a-friend", "content": {"description": "d" * 1001}}, "content_description_length_exceeded"),
        ({"label": "refer-a-friend", "content": {"colour": "red"}}, "invalid_parameter"),
        ({"label": "refer-a-friend", "key": ""}, "invalid_parameter"),
        ({"label": "unknown-label"}, "invalid_program"),
        ({"label": "refer-a-friend", "program_url": "https://elsewhere.example.com"}, "unknown_program"),
        ({"label": "refer-a-friend", "colour": "red"}, "invalid_parameter"),
        ({"label": 5}, "binding_error"),
        ({"label": "refer-a-friend", "data": ["x"]}, "binding_error"),
        # check order: the label error wins over the code error, the code error over data
        ({"label": "bad label", "code": "ab"}, "label_name_contains_illegal_character"),
        ({"label": "refer-a-friend", "code": "ab", "data": {"bad name": "v"}}, "code_out_of_range"),
    ],
)
def test_validation_errors(client: TestClient, auth: Json, program: Json, person: Json, body: Json, code: str) -> None:
    for version in ("v3", "v5"):
        assert_error(create(client, auth, person["id"], body, version), 400, code)
    # nothing was written by any failed request
    assert client.get(f"/v3/persons/{person['id']}/shareables", headers=auth).json() == []
