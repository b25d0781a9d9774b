"""The busiest API routes without the framework's per-request layers.

Creating share links and recording events are called thousands of times a second. FastAPI's
exception, body-limit and exit-stack layers, its router and its dependency solver cost about as much
per request as those endpoints themselves (measured: README, "The fast lane"). A route whose endpoint is
marked `@hot` is still declared, documented and served by FastAPI; in front of it, this layer matches
the request against the API's own routes, in FastAPI's order, and when the first match is a hot
route it runs what FastAPI would have run: the scope check the route declares, then the same
endpoint function, errors turned into the same envelope.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from sharelinks.http.auth import scope_check
from sharelinks.http.errors import ApiError, error_response, handle_unexpected

F = TypeVar("F", bound=Callable[..., Any])
_HOT = "__sharelinks_hot__"


def hot(endpoint: F) -> F:
    """Mark an endpoint for the fast lane. It may take only `request` and path parameters, and
    depend only on a scope check (`http.auth.require`): the lane refuses any other at startup."""
    setattr(endpoint, _HOT, True)
    return endpoint


class _Candidate(NamedTuple):
    regex: re.Pattern[str]
    route: APIRoute
    check: Callable[[Request], Any] | None  # the scope check of a hot route; None: FastAPI serves it


class FastLane:
    """`app` in front of which hot routes are served; `routers` are the API's routers in the order
    `api` includes them (no prefixes), which is the order FastAPI matches their routes in."""

    def __init__(self, app: ASGIApp, api: FastAPI, routers: Iterable[APIRouter]) -> None:
        self.app = app
        self.api = api
        self.candidates: dict[str, list[_Candidate]] = {}
        for route in (route for router in routers for route in router.routes):
            if isinstance(route, APIRoute):
                for method in route.methods or ():
                    entry = _Candidate(
                        route.path_regex, route, _check_of(route) if getattr(route.endpoint, _HOT, False) else None
                    )
                    self.candidates.setdefault(method, []).append(entry)
        # Routes after a method's last hot one cannot lead to it: they are not looked at (nor are
        # methods without a hot route).
        for method, candidates in list(self.candidates.items()):
            hot_at = [i for i, entry in enumerate(candidates) if entry.check is not None]
            if hot_at:
                self.candidates[method] = candidates[: hot_at[-1] + 1]
            else:
                del self.candidates[method]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        candidates = self.candidates.get(scope["method"]) if scope["type"] == "http" else None
        if candidates:
            path = scope["path"]
            for regex, route, check in candidates:
                match = regex.match(path)
                if match is not None:
                    if check is not None:
                        await self._serve(scope, receive, send, route, check, match.groupdict())
                        return
                    break
        await self.app(scope, receive, send)

    async def _serve(
        self, scope: Scope, receive: Receive, send: Send, route: APIRoute, check: Callable[[Request], Any],
        params: dict[str, str],
    ) -> None:  # fmt: skip
        scope["app"] = self.api  # what FastAPI sets: the endpoints find the app context through it
        scope["route"] = route  # the route template for metrics and the access log
        request = Request(scope, receive)
        response: Response
        try:
            await check(request)
            response = await route.endpoint(request, **params)
        except ApiError as error:
            response = error_response(error)
        except Exception as exc:
            response = await handle_unexpected(request, exc)
        await response(scope, receive, send)


def _check_of(route: APIRoute) -> Callable[[Request], Any]:
    """The route's one dependency, a scope check; anything more and the route cannot be hot."""
    checks = [d.call for d in route.dependant.dependencies if d.call is not None and scope_check(d.call) is not None]
    if len(checks) != 1 or len(route.dependant.dependencies) != 1:
        raise TypeError(f"hot route {route.path} must depend on exactly one scope check")
    names = set(inspect.signature(route.endpoint).parameters)
    if names - {"request"} != {p.name for p in route.dependant.path_params} or route.dependant.query_params:
        raise TypeError(f"hot route {route.path} may take only the request and its path parameters")
    return checks[0]
