"""Share links as an ASGI layer in front of the API: for any ASGI server and for in-process tests.

`sharelinks serve` answers share links before ASGI (links.protocol); requests it hands over, and
every request when the app runs under another server, pass through here. Both use links.handler.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from sharelinks.links.handler import LinkHandler, Visit, VisitFields, host_name


class LinkRouter:
    def __init__(self, app: ASGIApp, handler: LinkHandler) -> None:
        self.app = app
        self.handler = handler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        host, user_agent, referer = _headers(scope)
        client = scope.get("client")
        secure = scope.get("scheme") == "https"
        fields: VisitFields = (scope["method"], host, scope["path"], scope["query_string"],
                               client[0] if client else "", user_agent, referer, secure, False)  # fmt: skip
        answer = self.handler.answer_warm(*fields)
        if answer is None:
            await self.handler.refresh()
            route = self.handler.route(host, scope["path"])
            if route is None:
                await self.app(scope, receive, send)
                return
            answer = await self.handler.answer(route, Visit(*fields))
        await send({"type": "http.response.start", "status": answer.status, "headers": answer.headers})
        await send({"type": "http.response.body", "body": answer.body})


def _headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    host = user_agent = referer = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = host_name(value)
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
    return host, user_agent, referer
