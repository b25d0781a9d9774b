"""/v4/tokens: derive, introspect and revoke access tokens (Extole's token API)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from sharelinks import clock
from sharelinks.context import ctx
from sharelinks.http.auth import authenticate
from sharelinks.http.body import Fields, read_json
from sharelinks.http.errors import ApiError
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.tokens import service
from sharelinks.tokens.scopes import parse_scopes
from sharelinks.tokens.service import Principal

router = APIRouter(tags=["tokens"])
CLIENT_ID = "sharelinks"
MAX_DURATION_SECONDS = 10 * 365 * 24 * 3600


class TokenRequest(BaseModel):
    duration_seconds: int | None = None
    scopes: list[str] | None = None


def token_response(token: str, principal: Principal) -> dict[str, Any]:
    expires_in = None
    if principal.expires_at is not None:
        expires_in = max(0, int((principal.expires_at - clock.now()).total_seconds()))
    return {
        "access_token": token,
        "expires_in": expires_in,
        "client_id": CLIENT_ID,
        "identity_id": None,
        "person_id": None,
        "scopes": sorted(principal.scopes),
        "type": "USER",
    }


@router.post("/v4/tokens", openapi_extra=body_of(TokenRequest))
async def create_token(request: Request) -> JSON:
    app = ctx(request)
    current = await authenticate(request)
    raw = await read_json(request, app.settings.max_body_bytes, required=False)
    body = Fields(raw if raw is not None else {}).only({"client_id", "duration_seconds", "email", "password", "scopes"})
    if body.has("email") or body.has("password"):
        # Console users arrive with the console; until then only tokens can mint tokens.
        raise ApiError("invalid_credentials")
    duration = body.data.get("duration_seconds")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or not 0 < duration <= MAX_DURATION_SECONDS
    ):
        raise ApiError("invalid_duration")
    requested = body.array("scopes")
    scopes = current.scopes if requested is None else parse_scopes([str(s) for s in requested])
    if scopes is None or not scopes <= current.scopes:
        raise ApiError("scopes_denied", message="Requested scopes is not a subset of current scopes.")
    issued = await app.db.run(
        service.issue,
        name=f"derived from {current.name}"[:200],
        scopes=scopes,
        duration=timedelta(seconds=duration) if duration else service.DEFAULT_DURATION,
    )
    return JSON(token_response(issued.access_token, issued.principal))


@router.get("/v4/tokens")
async def introspect_own(request: Request) -> JSON:
    principal = await authenticate(request)
    token = request.headers.get("authorization", "").partition(" ")[2].strip() or request.query_params.get(
        "access_token", ""
    )
    return JSON(token_response(token, principal))


async def _principal_of(request: Request, token: str) -> Principal:
    await authenticate(request)
    app = ctx(request)
    principal = await app.db.run(service.lookup, service.hash_token(token))
    if principal is None:
        raise ApiError("token_not_found")
    return principal


@router.get("/v4/tokens/{token}")
async def introspect(request: Request, token: str) -> JSON:
    principal = await _principal_of(request, token)
    service.check_expiry(principal)
    return JSON(token_response(token, principal))


@router.delete("/v4/tokens/{token}")
async def revoke(request: Request, token: str) -> Response:
    await authenticate(request)
    app = ctx(request)
    token_hash = service.hash_token(token)
    if not await app.db.run(service.revoke_by_hash, token_hash):
        raise ApiError("token_not_found")
    app.token_cache.forget(token_hash)
    return Response(status_code=200)
