"""Assertions shared by the tests."""

from __future__ import annotations

from typing import Any


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the Extole envelope, in its property order, with this status and code."""
    body: dict[str, Any] = response.json()
    assert response.status_code == status, (response.status_code, body)
    assert list(body) == ["unique_id", "http_status_code", "code", "message", "parameters"], body
    assert body["http_status_code"] == status
    assert body["code"] == code, body
    assert body["unique_id"].isdigit() and body["message"]
    return body


def create_key(client: Any, auth: dict[str, str], algorithm: str, key: str, **options: Any) -> dict[str, Any]:
    response = client.post(
        "/v2/settings/security/keys",
        headers=auth,
        json={"name": f"{algorithm.lower()}-key", "type": "WEBHOOK", "algorithm": algorithm, "key": key, **options},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def create_webhook(client: Any, auth: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v6/webhooks", headers=auth, json={"name": "crm", "url": url, **fields})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def enable_extension(client: Any, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"type": "CREATE_SHARE_LINK_ON_EVENT", "program_label": "refer-a-friend", **fields}
    response = client.post("/v6/extensions", headers=auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def send_event(client: Any, auth: dict[str, str], email: str, name: str = "converted", **data: Any) -> Any:
    body = {"event_name": name, "data": {"email": email, "partner_user_id": f"P-{email}", **data}}
    response = client.post("/v5/events", headers=auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def webhook_events(client: Any, auth: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    response = client.get("/v6/webhook-events", headers=auth, params=query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
