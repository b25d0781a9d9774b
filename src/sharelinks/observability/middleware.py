"""One pure-ASGI middleware for every request: request id, access log, metrics.

Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a stream per request.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharelinks.ids import new_id
from sharelinks.observability import metrics
from sharelinks.observability.access_log import AccessLog
from sharelinks.observability.logs import request_id


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


class RequestObserver:
    def __init__(self, app: ASGIApp, *, access_log: AccessLog | None = None) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or format(new_id(), "x")
        token = request_id.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = _route_template(scope)
            method = scope["method"]
            metrics.observe_request(method, route, status, elapsed)
            if self.access_log is not None:
                # Route template only: raw paths and query strings may carry tokens and emails.
                self.access_log.record(
                    request_id=rid, method=method, route=route, status=status, duration_ms=round(elapsed * 1000, 3)
                )
            request_id.reset(token)


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            # Only a short, plain id is echoed back: it ends up in logs and headers.
            if 0 < len(text) <= 64 and text.replace("-", "").isalnum():
                return text
    return None
