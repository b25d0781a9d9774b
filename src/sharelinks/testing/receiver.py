"""A real HTTP receiver on loopback for webhook tests: records every request, answers as told.

with Receiver() as r:
    r.respond(500, 500, 200)        # the next answers, in order; then the default
    ... r.requests[0].json() ...
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from sharelinks.testing.server import free_port


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return orjson.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b'{"ok": true}'
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


Handler = Callable[[Received], Reply]


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests: list[Received] = []
        self.default = Reply()
        self.routes: dict[str, Handler] = {}
        self._script: list[Reply] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def respond(self, *replies: int | Reply) -> None:
        with self._lock:
            self._script.extend(r if isinstance(r, Reply) else Reply(status=r) for r in replies)

    def route(self, path: str, handler: Handler) -> None:
        self.routes[path] = handler

    def wait_for(self, count: int, timeout: float = 15.0, path: str | None = None) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.requests if path is None or r.path == path]
            if len(found) >= count:
                return found
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    async def _handle(self, request: web.Request) -> web.Response:
        received = Received(
            request.method, request.path_qs, dict(request.headers), await request.read(), time.monotonic()
        )
        handler = self.routes.get(request.path)
        with self._lock:
            if handler is None:
                self.requests.append(received)
                reply = self._script.pop(0) if self._script else self.default
        if handler is not None:
            reply = handler(received)
            with self._lock:
                self.requests.append(received)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        return web.Response(status=reply.status, body=reply.body, headers=reply.headers)

    def _serve(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        loop.run_until_complete(self._runner.setup())
        loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._started.set()
        loop.run_forever()
        loop.run_until_complete(self._runner.cleanup())
        loop.close()

    def __enter__(self) -> Receiver:
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        self._started.wait(10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


@contextmanager
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r
