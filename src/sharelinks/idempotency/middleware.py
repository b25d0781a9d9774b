"""`Idempotency-Key` on POST: a repeated request gets the first one's answer instead of a second effect.

As Svix and Stripe do it: the key is the client's (1 to 255 visible ASCII characters), scoped to the
credential that sent it, kept 12 hours. A repeat with the same method, path, query and body gets the
stored status, headers and body, marked `Idempotent-Replayed: true`; a repeat while the first is
still running waits for it (up to `WAIT_SECONDS`, then 409); the same key for a different request
is refused (400). Answers worth repeating are kept: 2xx and 4xx, except those a retry may change
(403 auth problems, 409, 429). A server error, or an answer too large to keep, frees the key.

A POST without the header costs one scan of its header names; nothing else here runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharelinks import clock
from sharelinks.db.database import Database
from sharelinks.http.auth import token_from
from sharelinks.http.errors import ApiError, error_response
from sharelinks.idempotency import service
from sharelinks.idempotency.service import Held, Kept

log = logging.getLogger("sharelinks.idempotency")
HEADER = b"idempotency-key"
KEY_MAX = 255
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.2
ANSWER_MAX = 1 << 20  # bytes of a response body kept for replay
NOT_KEPT = frozenset({403, 409, 429})
KEPT_HEADERS = frozenset({b"content-type", b"location", b"content-disposition"})
PURGE_EVERY_SECONDS = 600.0


@dataclass(frozen=True, slots=True)
class _Answered:
    """The route the request observer labels metrics and the access log with, for answers given
    here without the API (it would say "unmatched")."""

    path: str


REPLAYED = _Answered("(idempotency-key replay)")
REFUSED = _Answered("(idempotency-key refused)")


class Idempotency:
    def __init__(self, app: ASGIApp, db: Database, *, max_body_bytes: int) -> None:
        self.app = app
        self.db = db
        self.max_body_bytes = max_body_bytes
        self._last_purge = time.monotonic()
        self._purging: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        key = next((value for name, value in scope["headers"] if name == HEADER), None)
        if key is None:
            await self.app(scope, receive, send)
            return
        if not 0 < len(key) <= KEY_MAX or not all(0x21 <= byte <= 0x7E for byte in key):
            scope["route"] = REFUSED
            await error_response(ApiError("invalid_idempotency_key", max_length=KEY_MAX))(scope, receive, send)
            return
        credential = _credential(scope)
        body, complete = await _read(receive, self.max_body_bytes)
        replay = _replaying(body, complete, receive)
        if credential is None or not complete:
            # No credential: auth refuses it, nothing to protect. Too large to hold for hashing:
            # passed on as it comes, without idempotency (the app refuses what is over its own limit).
            await self.app(scope, replay, send)
            return
        scope_hash = hashlib.sha256(credential.encode() + b"\0" + key).hexdigest()
        request = hashlib.sha256(b"%s %s?%s\0" % (scope["method"].encode(), scope["path"].encode(),
                                                  scope["query_string"]))  # fmt: skip
        request.update(body)
        held = await self._claim(scope_hash, request.hexdigest())
        if held is Held.OWNED:
            await self._run(scope, replay, send, scope_hash)
        elif isinstance(held, Kept):
            scope["route"] = REPLAYED
            await _send_kept(held, send)
        else:
            scope["route"] = REFUSED
            code = "idempotency_key_reused" if held is Held.MISMATCH else "idempotency_key_in_progress"
            await error_response(ApiError(code))(scope, replay, send)
        self._maybe_purge()

    async def _claim(self, scope_hash: str, request_hash: str) -> Held | Kept:
        """Claim the key, waiting while a first request with it is still running."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            held = await self.db.run(service.claim, scope_hash, request_hash, clock.now())
            if held is not Held.IN_PROGRESS or time.monotonic() >= deadline:
                return held
            await asyncio.sleep(POLL_SECONDS)

    async def _run(self, scope: Scope, receive: Receive, send: Send, scope_hash: str) -> None:
        status = 500
        headers: list[list[str]] = []
        chunks: list[bytes] = []
        size = 0

        async def capture(message: Message) -> None:
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                kept = (pair for pair in message.get("headers", ()) if pair[0].lower() in KEPT_HEADERS)
                headers.extend([name.decode("latin-1"), value.decode("latin-1")] for name, value in kept)
            elif message["type"] == "http.response.body":
                chunk = message.get("body", b"")
                size += len(chunk)
                if size <= ANSWER_MAX:
                    chunks.append(chunk)
            await send(message)

        try:
            await self.app(scope, receive, capture)
        except BaseException:
            await self._release(scope_hash)
            raise
        if status >= 500 or status in NOT_KEPT or size > ANSWER_MAX:
            await self._release(scope_hash)
            return
        try:
            await self.db.run(service.keep, scope_hash, status, headers, b"".join(chunks))
        except Exception:
            # Answered, not kept: the key stays held until its lock lapses, then a repeat runs again.
            log.exception("keeping the answer for an idempotency key failed")

    async def _release(self, scope_hash: str) -> None:
        try:
            await asyncio.shield(self.db.run(service.release, scope_hash))
        except Exception:
            log.exception("freeing an idempotency key failed; it frees itself when its lock lapses")

    def _maybe_purge(self) -> None:
        if time.monotonic() - self._last_purge < PURGE_EVERY_SECONDS:
            return
        self._last_purge = time.monotonic()
        task = asyncio.get_running_loop().create_task(self._purge())
        self._purging.add(task)  # held: the loop keeps only a weak reference
        task.add_done_callback(self._purging.discard)

    async def _purge(self) -> None:
        try:
            await self.db.run(service.purge, clock.now())
        except Exception:
            log.exception("purging expired idempotency keys failed")


def _credential(scope: Scope) -> str | None:
    """The access token the request authenticates with, as `http.auth` reads it; None without one."""
    try:
        return token_from(Request(scope))
    except ApiError:
        return None  # malformed: auth refuses the request


async def _read(receive: Receive, limit: int) -> tuple[bytes, bool]:
    """The request body, or what of it fits in `limit` and False when there is more."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False  # the client went away
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > limit:
            return b"".join(chunks), False
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """A `receive` that gives the app the body read so far, then the rest from the client."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": not complete}

    return replay


async def _send_kept(kept: Kept, send: Send) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in kept.headers]
    headers += [(b"content-length", str(len(kept.body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": kept.status, "headers": headers})
    await send({"type": "http.response.body", "body": kept.body})
