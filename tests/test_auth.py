"""Auth on every route: missing, invalid, expired tokens and scopes, all 403 in the envelope."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from sharelinks import clock
from sharelinks.tokens.scopes import Scope
from tests.helpers import assert_error

PUBLIC = {
    "/v4/barcode",
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
}
ANY_TOKEN = "any valid token"
ADMIN_ROUTES = r"^/(v6/(programs|extensions|webhooks|webhook-events|connectors|batches)|v2/settings/security/keys)"


def needed_scope(path: str) -> Scope | str:
    """The policy, written out independently of the routers so a new route must be placed in it."""
    if path.startswith("/v6/shareables/") or path == "/v6/share-link":
        return Scope.USER_SUPPORT
    if path.startswith("/v4/tokens"):
        return ANY_TOKEN
    if path.endswith("/update-shareable-owner"):
        return Scope.CLIENT_SUPERUSER
    if path == "/v6/webhooks/events/send":
        return Scope.CLIENT_SUPERUSER
    if re.match(
        r"^/(v6/(programs|extensions|webhooks|webhook-events|connectors|batches)|v2/settings/security/keys)", path
    ):
        return Scope.CLIENT_ADMIN
    if re.match(r"^/v[2-6]/(persons|shareables|events|async-events|batch-events)", path):
        return Scope.USER_SUPPORT
    raise AssertionError(f"route {path} has no scope in the test policy")


def api_routes(app: ASGIApp) -> list[tuple[str, str]]:
    """Every documented operation, from the OpenAPI schema the app publishes."""
    paths = app.app.app.app.api.openapi()["paths"]  # type: ignore[attr-defined]  # LinkRouter > RequestObserver > Idempotency > FastLane
    return [(method.upper(), path) for path, ops in paths.items() if path not in PUBLIC for method in ops]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1234567890123456789", path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    return client.request(method, concrete(path), headers=headers, json={})


def test_every_route_is_covered(app: ASGIApp) -> None:
    routes = api_routes(app)
    assert len(routes) >= 30
    for _method, path in routes:
        needed_scope(path)


def test_missing_invalid_and_expired_tokens(app: ASGIApp, client: TestClient, issue_token: Callable[..., str]) -> None:
    expired = issue_token(Scope.CLIENT_SUPERUSER, duration_days=1)
    for method, path in api_routes(app):
        assert_error(call(client, method, path, {}), 403, "missing_access_token")
        assert_error(call(client, method, path, {"Authorization": "Bearer WRONGTOKEN"}), 403, "invalid_access_token")
        assert_error(call(client, method, path, {"Authorization": "Basic dXNlcjpwdw=="}), 403, "invalid_access_token")
    later = clock.now() + timedelta(days=2)
    clock.set_clock(lambda: later)
    for method, path in api_routes(app):
        assert_error(call(client, method, path, {"Authorization": f"Bearer {expired}"}), 403, "expired_access_token")


def test_scopes_on_every_route(app: ASGIApp, client: TestClient, issue_token: Callable[..., str]) -> None:
    tokens = {scope: issue_token(scope) for scope in Scope}
    for method, path in api_routes(app):
        needed = needed_scope(path)
        for scope, token in tokens.items():
            response = call(client, method, path, {"Authorization": f"Bearer {token}"})
            allowed = needed == ANY_TOKEN or scope in (needed, Scope.CLIENT_SUPERUSER)
            if allowed:
                assert response.status_code != 403 or response.json()["code"] not in (
                    "scopes_denied", "missing_access_token", "invalid_access_token",
                ), (method, path, scope, response.json())  # fmt: skip
            else:
                assert_error(response, 403, "scopes_denied")


def test_token_in_query_and_cookie(client: TestClient, issue_token: Callable[..., str]) -> None:
    token = issue_token(Scope.USER_SUPPORT)
    assert client.get("/v2/persons", params={"access_token": token}).status_code == 200
    client.cookies.set("extole_token", token)
    assert client.get("/v2/persons").status_code == 200


def test_token_api(client: TestClient, issue_token: Callable[..., str]) -> None:
    token = issue_token(Scope.USER_SUPPORT, Scope.CLIENT_ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    own = client.get("/v4/tokens", headers=headers).json()
    assert own["scopes"] == ["CLIENT_ADMIN", "USER_SUPPORT"] and own["access_token"] == token
    derived = client.post("/v4/tokens", headers=headers, json={"scopes": ["USER_SUPPORT"], "duration_seconds": 60})
    body = derived.json()
    assert list(body) == ["access_token", "expires_in", "client_id", "identity_id", "person_id", "scopes", "type"]
    assert body["scopes"] == ["USER_SUPPORT"] and 0 < body["expires_in"] <= 60
    assert_error(
        client.post("/v4/tokens", headers=headers, json={"scopes": ["CLIENT_SUPERUSER"]}), 403, "scopes_denied"
    )
    assert_error(client.post("/v4/tokens", headers=headers, json={"duration_seconds": -5}), 400, "invalid_duration")
    new = body["access_token"]
    assert client.get(f"/v4/tokens/{new}", headers=headers).json()["scopes"] == ["USER_SUPPORT"]
    assert client.delete(f"/v4/tokens/{new}", headers=headers).status_code == 200
    assert_error(client.get("/v2/persons", headers={"Authorization": f"Bearer {new}"}), 403, "invalid_access_token")
    assert_error(client.delete(f"/v4/tokens/{new}", headers=headers), 404, "token_not_found")
