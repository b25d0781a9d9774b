"""The share-link hot path: an ASGI layer in front of the API, with no framework routing and no ORM.

    GET|HEAD  https://{program domain}/{code}             302 to the destination, click recorded
    GET       https://{program domain}/{code}/qr.png|svg  the link as a QR code (scans marked `qr=1`)
    GET|HEAD  /s/{code}[/qr.png|svg]                      the same on any host (the embedded server)

Everything else goes to the API untouched. A warm code costs a dict lookup; the click is an append to
an in-memory buffer written in batches (links.clicks). Nothing here builds SQL from request data.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, quote, urlencode

from starlette.types import ASGIApp, Receive, Scope, Send

from sharelinks import clock
from sharelinks.links import qr
from sharelinks.links.clicks import ClickRecorder
from sharelinks.links.pages import NOT_FOUND
from sharelinks.links.targets import LinkTarget, ProgramTarget, Targets

CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
QR_MARKER = "qr"
NO_STORE = (b"cache-control", b"private, no-store")
COOKIE_NAME = "sharelinks_advocate_code"
QR_DEFAULT_SIZE = 300
QR_DEFAULT_BORDER = 4


class LinkRouter:
    def __init__(self, app: ASGIApp, targets: Targets, recorder: ClickRecorder, *, cookie_days: float) -> None:
        self.app = app
        self.targets = targets
        self.recorder = recorder
        self.cookie_max_age = int(cookie_days * 86400)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        host, user_agent, referer = _headers(scope)
        domains = await self.targets.refresh_domains()
        host_program = domains.get(host) if host else None
        embedded = path.startswith("/s/")
        if embedded:
            rest = path[3:]
        elif host_program is not None and len(path) > 1:
            rest = path[1:]
        else:
            await self.app(scope, receive, send)
            return
        code, _, tail = rest.partition("/")
        if tail in ("qr.png", "qr.svg"):
            await self._qr(scope, send, code, tail[3:])
            return
        if tail and not embedded:
            await self.app(scope, receive, send)  # deeper paths on a program domain: the API's
            return
        if tail or not CODE_RE.match(code):
            await self._unknown(scope, send, host_program)
            return
        target = await self.targets.resolve(code.lower())
        if target is None:
            await self._unknown(scope, send, host_program, (code, user_agent, referer))
            return
        query = scope["query_string"]
        via_qr = False
        if query and (b"qr=" in query or target.program.advocate_param.encode() in query):
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            via_qr = any(k == QR_MARKER for k, _ in pairs)
            kept = [(k, v) for k, v in pairs if k not in (QR_MARKER, target.program.advocate_param)]
            query = urlencode(kept).encode()
        location = _destination(target, query)
        if scope["method"] == "GET":
            client = scope.get("client")
            self.recorder.add(
                (clock.now(), target.shareable_id, target.code, target.program.id, target.person_id,
                 client[0] if client else "", user_agent, referer, via_qr)
            )  # fmt: skip
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE_NAME}={quote(target.code)}; Max-Age={self.cookie_max_age}; Path=/; SameSite=Lax; HttpOnly"
        await _respond(
            send,
            302,
            [(b"location", location), NO_STORE, (b"set-cookie", (cookie + secure).encode()),
             (b"content-length", b"0")],
        )  # fmt: skip

    async def _unknown(
        self,
        scope: Scope,
        send: Send,
        program: ProgramTarget | None,
        orphan: tuple[str, str | None, str | None] | None = None,
    ) -> None:
        """Unknown or deleted code: the program's fallback, else the small 404 page.

        `orphan` (code, user agent, referer): a well-formed code nobody has, recorded as a click.
        """
        if orphan is not None and scope["method"] == "GET":
            code, user_agent, referer = orphan
            client = scope.get("client")
            self.recorder.add(
                (clock.now(), None, code, program.id if program else None, None, client[0] if client else "",
                 user_agent, referer, False)
            )  # fmt: skip
        if program is not None and program.fallback_url:
            await _respond(send, 302, [(b"location", program.fallback_url.encode()), NO_STORE,
                                       (b"content-length", b"0")])  # fmt: skip
            return
        body = b"" if scope["method"] == "HEAD" else NOT_FOUND
        headers = [(b"content-type", b"text/html; charset=utf-8"), NO_STORE,
                   (b"content-length", str(len(NOT_FOUND)).encode())]  # fmt: skip
        await _respond(send, 404, headers, body)

    async def _qr(self, scope: Scope, send: Send, code: str, kind: str) -> None:
        target = await self.targets.resolve(code.lower()) if CODE_RE.match(code) else None
        if target is None:
            await self._unknown(scope, send, None)
            return
        params = dict(parse_qsl(scope["query_string"].decode("latin-1")))
        try:
            size = int(params.get("size", QR_DEFAULT_SIZE))
            border = int(params.get("margin", QR_DEFAULT_BORDER))
        except ValueError:
            size, border = -1, -1
        level = params.get("level", "M").upper()
        dark = qr.parse_color(params.get("fg", "000000"))
        light = qr.parse_color(params.get("bg", "ffffff"))
        if not (qr.SIZE_MIN <= size <= qr.SIZE_MAX and 0 <= border <= 16 and level in qr.LEVELS and dark and light):
            message = b"size 64-2048, margin 0-16 modules, level L|M|Q|H, fg/bg hex colours"
            await _respond(send, 400, [(b"content-type", b"text/plain"), (b"content-length",
                                       str(len(message)).encode())], message)  # fmt: skip
            return
        content = f"{target.link}?{QR_MARKER}=1"
        if kind == "png":
            body, media = qr.png_for_link(content, size, border, level, dark, light), b"image/png"
        else:
            body = qr.svg(content, size, border, level, _hex(dark), _hex(light))
            media = b"image/svg+xml"
        etag = hashlib.sha1(body).hexdigest()[:20].encode()
        headers = [(b"content-type", media), (b"cache-control", b"public, max-age=86400"),
                   (b"etag", b'"' + etag + b'"'), (b"content-length", str(len(body)).encode())]  # fmt: skip
        await _respond(send, 200, headers, b"" if scope["method"] == "HEAD" else body)


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)


def _headers(scope: Scope) -> tuple[str | None, str | None, str | None]:
    host = user_agent = referer = None
    for name, value in scope["headers"]:
        if name == b"host":
            host = value.decode("latin-1").split(":", 1)[0].lower().rstrip(".")
        elif name == b"user-agent":
            user_agent = value.decode("latin-1")
        elif name == b"referer":
            referer = value.decode("latin-1")
    return host, user_agent, referer


def _destination(target: LinkTarget, query: bytes) -> bytes:
    """The program's destination with the advocate's code, then the visitor's own query, kept."""
    destination, hash_mark, fragment = target.program.destination_url.partition("#")
    joiner = "&" if "?" in destination else "?"
    location = f"{destination}{joiner}{target.program.advocate_param}={quote(target.code)}".encode()
    if query:
        location += b"&" + query
    return location + (f"#{fragment}".encode() if hash_mark else b"")


async def _respond(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
