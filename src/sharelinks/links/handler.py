"""What a share-link request gets, whatever server carried it: routing, the answer, the click.

    GET|HEAD  https://{program domain}/{code}             302 to the destination, click recorded
    GET       https://{program domain}/{code}/qr.png|svg  the link as a QR code (scans marked `qr=1`)
    GET|HEAD  /s/{code}[/qr.png|svg]                      the same on any host (the embedded server)

Two front ends share this: `links.protocol` (the raw HTTP/1.1 path `sharelinks serve` runs) and
`links.router` (an ASGI layer, for any other server and for in-process tests). A warm redirect costs
one dict lookup on either: the answer remembered for its host and path (`answer_warm`); otherwise
routing, the target, then its rendered Location and cookie. Nothing here builds SQL from
request data; the click is an append to an in-memory buffer written in batches (links.clicks).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import parse_qsl, quote, urlencode

from sharelinks import clock
from sharelinks.links import qr
from sharelinks.links.clicks import Clicked, ClickRecorder
from sharelinks.links.pages import NOT_FOUND
from sharelinks.links.targets import LinkTarget, ProgramTarget, Targets

CODE_RE = re.compile(r"[A-Za-z0-9_-]{1,50}")
_is_code = CODE_RE.fullmatch
QR_MARKER = "qr"
NO_STORE = (b"cache-control", b"private, no-store")
COOKIE_NAME = "sharelinks_advocate_code"
QR_DEFAULT_SIZE = 300
QR_DEFAULT_BORDER = 4
EMPTY = (b"content-length", b"0")
# A redirect answered for a host and path is answered again from one dict lookup for this long,
# unless a link or program changes first (Targets.generation). Routing it and looking its target
# up again took a seventh of the event loop's time per redirect.
WARM_SECONDS = 1.0
WARM_MAX = 100_000

Headers = list[tuple[bytes, bytes]]
_REASONS = {200: b"OK", 302: b"Found", 400: b"Bad Request", 404: b"Not Found", 503: b"Service Unavailable"}


class Answer:
    """A response. Those of a warm link are built once and shared, so their HTTP/1.1 head is too."""

    __slots__ = ("_head", "body", "headers", "status", "wire_bytes", "wire_tail")

    def __init__(self, status: int, headers: Headers, body: bytes = b"") -> None:
        self.status, self.headers, self.body = status, headers, body
        self._head: bytes | None = None
        self.wire_tail = self.wire_bytes = b""

    def head(self) -> bytes:
        """The status line and headers as HTTP/1.1 sends them, each line ending in CRLF."""
        if self._head is None:
            lines = [b"HTTP/1.1 %d %s" % (self.status, _REASONS.get(self.status, b""))]
            lines += [name + b": " + value for name, value in self.headers]
            self._head = b"\r\n".join(lines) + b"\r\n"
        return self._head

    def wire(self, tail: bytes) -> bytes:
        """The whole answer as sent, `tail` (the server's own header lines and the blank line) after
        its head. Kept with the last tail (`wire_bytes` is current while `wire_tail` is that very
        tail): it changes once a second (the Date line)."""
        if tail is not self.wire_tail:
            self.wire_tail, self.wire_bytes = tail, self.head() + tail + self.body
        return self.wire_bytes


class Kind(Enum):
    REDIRECT = "redirect"
    QR_PNG = "png"
    QR_SVG = "svg"
    MALFORMED = "malformed"  # a path on a link host that can be no code


class Route(NamedTuple):
    kind: Kind
    code: str
    program: ProgramTarget | None  # the program whose domain was asked, if any


@dataclass(slots=True)
class Visit:
    """The parts of a request its route and answer depend on."""

    method: str  # GET or HEAD
    host: str | None
    path: str
    query: bytes
    client: str
    user_agent: str | None
    referer: str | None
    secure: bool
    close: bool = False  # the client asked to close the connection after the answer


# A Visit's fields in its order, as the fast path reads them (links.protocol).
VisitFields = tuple[str, str | None, str, bytes, str, str | None, str | None, bool, bool]


@dataclass(frozen=True, slots=True)
class Rendered:
    """A target's answer parts, built once: Location before the visitor's query and after it, the
    cookies, and the whole answers for a visit without a query (nearly all of them)."""

    target: LinkTarget
    clicked: Clicked
    location: bytes
    fragment: bytes
    cookie: bytes
    secure_cookie: bytes
    plain: Answer
    secure: Answer


class LinkHandler:
    def __init__(self, targets: Targets, recorder: ClickRecorder, *, cookie_days: float) -> None:
        self.targets = targets
        self.recorder = recorder
        self.cookie_max_age = int(cookie_days * 86400)
        self._rendered: dict[str, Rendered] = {}
        self._warm: dict[tuple[str | None, str], tuple[Rendered, int, float]] = {}

    def domains_fresh(self) -> bool:
        return self.targets.domains_fresh()

    async def refresh(self) -> None:
        await self.targets.refresh_domains()

    def route(self, host: str | None, path: str) -> Route | None:
        """The link request `path` on `host` is, or None when it is the API's. Needs fresh domains."""
        program = self.targets.domains.get(host) if host else None
        embedded = path.startswith("/s/")
        if embedded:
            rest = path[3:]
        elif program is not None and len(path) > 1:
            rest = path[1:]
        else:
            if program is None and host:
                self.targets.unknown_host()
            return None
        code, _, tail = rest.partition("/")
        if tail in ("qr.png", "qr.svg"):
            return Route(Kind.QR_PNG if tail == "qr.png" else Kind.QR_SVG, code, program)
        if tail and not embedded:
            return None  # deeper paths on a program domain: the API's
        if tail or not _is_code(code):
            return Route(Kind.MALFORMED, code, program)
        return Route(Kind.REDIRECT, code, program)

    def answer_warm(
        self,
        method: str,
        host: str | None,
        path: str,
        query: bytes,
        client: str,
        user_agent: str | None,
        referer: str | None,
        secure: bool,
        close: bool = False,
    ) -> Answer | None:
        """The answer to a redirect for the same host and path as one answered within WARM_SECONDS
        (the hot path: no routing), or None. Takes a visit's fields, not a Visit: building one
        was a twentieth of a redirect's instructions, and most never need it. (`close` comes along
        with the others; the caller acts on it.)"""
        entry = self._warm.get((host, path))
        if entry is None or entry[1] != self.targets.generation or entry[2] < time.monotonic():
            return None
        rendered = entry[0]
        if query:
            return self._answer_rendered(
                rendered, Visit(method, host, path, query, client, user_agent, referer, secure)
            )
        # Nearly every visit: no query of the visitor's to carry over. `_answer_rendered` inlined.
        if method == "GET":
            self.recorder.add((clock.timestamp(), rendered.clicked, client, user_agent, referer, False))
        return rendered.secure if secure else rendered.plain

    def answer_cached(self, route: Route, visit: Visit) -> Answer | None:
        """The answer when it needs no database (the warm path), else None."""
        kind = route.kind
        if kind is Kind.MALFORMED:
            return self._unknown(route.program, visit)
        if kind is not Kind.REDIRECT and not _is_code(route.code):
            return self._unknown(None, visit)  # a QR for what can be no code
        target, known = self.targets.cached(route.code.lower())
        if not known:
            return None
        if target is not None and kind is Kind.REDIRECT:
            rendered = self._rendering(target)
            if len(self._warm) >= WARM_MAX:
                self._warm.clear()
            self._warm[(visit.host, visit.path)] = (rendered, self.targets.generation, time.monotonic() + WARM_SECONDS)
            return self._answer_rendered(rendered, visit)
        return self._answer(route, visit, target)

    async def answer(self, route: Route, visit: Visit) -> Answer:
        cached = self.answer_cached(route, visit)
        if cached is not None:
            return cached
        return self._answer(route, visit, await self.targets.resolve(route.code.lower()))

    def _answer(self, route: Route, visit: Visit, target: LinkTarget | None) -> Answer:
        if route.kind is not Kind.REDIRECT:
            return self._qr(route.kind, visit, target)
        if target is None:
            return self._unknown(route.program, visit, route.code)
        return self._redirect(target, visit)

    def _redirect(self, target: LinkTarget, visit: Visit) -> Answer:
        return self._answer_rendered(self._rendering(target), visit)

    def _rendering(self, target: LinkTarget) -> Rendered:
        rendered = self._rendered.get(target.code)
        if rendered is None or rendered.target is not target:
            rendered = self._render(target)
        return rendered

    def _answer_rendered(self, rendered: Rendered, visit: Visit) -> Answer:
        target = rendered.target
        query, via_qr = visit.query, False
        if query and _marks(target.program.advocate_param)(query):
            pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
            via_qr = any(k == QR_MARKER for k, _ in pairs)
            kept = [(k, v) for k, v in pairs if k not in (QR_MARKER, target.program.advocate_param)]
            query = urlencode(kept).encode()
        if visit.method == "GET":
            click = (clock.timestamp(), rendered.clicked, visit.client, visit.user_agent, visit.referer, via_qr)
            self.recorder.add(click)
        if not query:
            return rendered.secure if visit.secure else rendered.plain
        cookie = rendered.secure_cookie if visit.secure else rendered.cookie
        return _redirect(rendered.location + b"&" + query + rendered.fragment, cookie)

    def _render(self, target: LinkTarget) -> Rendered:
        """The program's destination with the advocate's code; the visitor's query goes after it."""
        if len(self._rendered) > 2 * len(self.targets):
            self._rendered.clear()  # targets were dropped or replaced; render again as they come
        destination, hash_mark, fragment = target.program.destination_url.partition("#")
        joiner = "&" if "?" in destination else "?"
        location = f"{destination}{joiner}{target.program.advocate_param}={quote(target.code)}".encode()
        after = f"#{fragment}".encode() if hash_mark else b""
        cookie = f"{COOKIE_NAME}={quote(target.code)}; Max-Age={self.cookie_max_age}; Path=/; SameSite=Lax; HttpOnly"
        plain, secure = cookie.encode(), (cookie + "; Secure").encode()
        rendered = Rendered(
            target,
            Clicked(target.shareable_id, target.code, target.program.id, target.person_id),
            location,
            after,
            plain,
            secure,
            _redirect(location + after, plain),
            _redirect(location + after, secure),
        )
        self._rendered[target.code] = rendered
        return rendered

    def _unknown(self, program: ProgramTarget | None, visit: Visit, orphan: str | None = None) -> Answer:
        """Unknown or deleted code: the program's fallback, else the small 404 page.

        `orphan`: a well-formed code nobody has, recorded as a click.
        """
        if orphan is not None and visit.method == "GET":
            clicked = Clicked(None, orphan[:50], program.id if program else None, None)
            self.recorder.add((clock.timestamp(), clicked, visit.client, visit.user_agent, visit.referer, False))
        if program is not None and program.fallback_url:
            return Answer(302, [(b"location", program.fallback_url.encode()), NO_STORE, EMPTY])
        body = b"" if visit.method == "HEAD" else NOT_FOUND
        headers = [(b"content-type", b"text/html; charset=utf-8"), NO_STORE,
                   (b"content-length", str(len(NOT_FOUND)).encode())]  # fmt: skip
        return Answer(404, headers, body)

    def _qr(self, kind: Kind, visit: Visit, target: LinkTarget | None) -> Answer:
        if target is None:
            return self._unknown(None, visit)
        params = dict(parse_qsl(visit.query.decode("latin-1")))
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
            return Answer(
                400, [(b"content-type", b"text/plain"), (b"content-length", str(len(message)).encode())], message
            )
        content = f"{target.link}?{QR_MARKER}=1"
        if kind is Kind.QR_PNG:
            body, media = qr.png_for_link(content, size, border, level, dark, light), b"image/png"
        else:
            body = qr.svg(content, size, border, level, _hex(dark), _hex(light))
            media = b"image/svg+xml"
        etag = hashlib.sha1(body).hexdigest()[:20].encode()
        headers = [(b"content-type", media), (b"cache-control", b"public, max-age=86400"),
                   (b"etag", b'"' + etag + b'"'), (b"content-length", str(len(body)).encode())]  # fmt: skip
        return Answer(200, headers, b"" if visit.method == "HEAD" else body)


@lru_cache(maxsize=64)
def _marks(advocate_param: str) -> Callable[[bytes], re.Match[bytes] | None]:
    """What finds a QR marker or the program's own parameter in a visitor's query, which must then
    be taken out. One search: on bytes, `in` first tries its operand as an integer, and the TypeError
    it raises and clears cost ~1,800 instructions a test (a browser's redirect with utm_* had two)."""
    return re.compile(re.escape(f"{QR_MARKER}=".encode()) + b"|" + re.escape(advocate_param.encode())).search


def _redirect(location: bytes, cookie: bytes) -> Answer:
    return Answer(302, [(b"location", location), NO_STORE, (b"set-cookie", cookie), EMPTY])


def host_name(value: bytes) -> str:
    """A Host header as the program-domain table keys it: no port, lower case, no trailing dot."""
    return value.decode("latin-1").split(":", 1)[0].lower().rstrip(".")


def _hex(color: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*color)
