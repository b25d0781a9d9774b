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
