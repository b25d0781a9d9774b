"""Bearer-token auth and scopes, as a FastAPI dependency: `principal = Depends(require(Scope.X))`.

The token may come as `Authorization: Bearer`, `?access_token=` or the `extole_token` cookie, the three
ways Extole accepts. Failures are 403 in the error envelope, never 401.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.http.errors import ApiError
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope, allows
from sharelinks.tokens.service import Principal


def token_from(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise ApiError("invalid_access_token")
    return request.query_params.get("access_token") or request.cookies.get("extole_token") or None


async def authenticate(request: Request) -> Principal:
    token = token_from(request)
    if token is None:
        raise ApiError("missing_access_token")
    if len(token) > 200:
        raise ApiError("invalid_access_token")
    app = ctx(request)
    token_hash = tokens.hash_token(token)
    hit, principal = app.token_cache.get(token_hash)
    if not hit:
        principal = await app.db.run(tokens.lookup, token_hash)
        app.token_cache.put(token_hash, principal)
    if principal is None:
        raise ApiError("invalid_access_token")
    tokens.check_expiry(principal)
    request.state.principal = principal
    return principal


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        principal = await authenticate(request)
        if not allows(principal.scopes, scope):
            raise ApiError("scopes_denied", required_scope=scope.value)
        return principal

    dependency.__name__ = f"require_{scope.value.lower()}"
    dependency.required_scope = scope  # type: ignore[attr-defined]  # for scope_check
    return dependency


def scope_check(dependency: Callable[..., object]) -> Scope | None:
    """The scope a dependency made by `require` checks; None for any other callable."""
    scope = getattr(dependency, "required_scope", None)
    return scope if isinstance(scope, Scope) else None
