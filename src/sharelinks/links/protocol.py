"""The share-link fast path: HTTP/1.1 read straight off the socket, before any ASGI machinery.

`sharelinks serve` gives uvicorn this protocol class instead of its own. A connection starts here.
Each complete request head is read; a plain GET or HEAD for a share link (links.handler decides) is
answered in place, without a task, a scope or a framework. The first request that is anything else
(another host or path, another method, a body, an upgrade, anything unusual) hands the connection,
with every byte not yet answered, to uvicorn's own httptools protocol for good, so the API, the
console and the ASGI link layer behind them see an ordinary connection (through `http.cork`, so
that an answer's head and body leave in one send).

A code not cached yet needs the database: that one request waits in a task while the connection
buffers what follows, so answers stay in order.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Coroutine
from typing import Any, ClassVar, cast

from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from sharelinks.http.cork import CorkedTransport
from sharelinks.links.forwarded import trusted_proxies
from sharelinks.links.handler import Answer, LinkHandler, Route, Visit, VisitFields, host_name

log = logging.getLogger("sharelinks.links")
MAX_HEAD = 8192
# The request line of a plain GET or HEAD: a target of visible ASCII only (so nothing of it can
# break a header line) and no '%' in its path (encoded paths: the ASGI layer decodes them). One
# match instead of splitting and testing each part: 0.78 → 0.41 µs.
_REQUEST_LINE = re.compile(rb"(GET|HEAD) (/[!-$&->@-~]*)(?:\?([!-~]*))? (HTTP/1\.[01])(?=\r|\Z)").match
UNAVAILABLE = Answer(503, [(b"content-length", b"0")])
_METHODS = {b"GET": "GET", b"HEAD": "HEAD"}
_SCHEMES = {"http", "https", "ws", "wss"}  # what X-Forwarded-Proto may set, for uvicorn
# The headers the fast path reads, by lower-case name. _NOT_PLAIN ones make a request more than a
# plain GET: uvicorn's parser deals with those. Every other header line (a browser sends a dozen:
# Accept*, Cookie, sec-ch-ua*, …) is only checked for its form, by one regular expression over the
# whole head; a second picks out the lines wanted. Both start at a literal line feed, which `re`
# finds in C; a pattern that does not start with a literal scanned ten times slower. With the
# request line matched in one go: wrk's head 2.16 → 1.95 µs, a browser's (16 lines) 7.5 → 6.3 µs,
# against a Python loop over the lines, which also let a space before the colon through.
_HOST, _USER_AGENT, _REFERER, _CONNECTION, _FORWARDED_FOR, _FORWARDED_PROTO, _CONTENT_LENGTH, _NOT_PLAIN = range(8)
_FIELDS = {b"host": _HOST, b"user-agent": _USER_AGENT, b"referer": _REFERER, b"connection": _CONNECTION,
           b"x-forwarded-for": _FORWARDED_FOR, b"x-forwarded-proto": _FORWARDED_PROTO,
           b"content-length": _CONTENT_LENGTH, b"transfer-encoding": _NOT_PLAIN, b"upgrade": _NOT_PLAIN,
           b"expect": _NOT_PLAIN}  # fmt: skip
# A header line that is not `name:` with a token for a name (RFC 9110 5.1): folded, no colon, an
# empty name, white space before the colon. Every line after the request line follows a line feed.
_MALFORMED_LINE = re.compile(rb"\n(?![!#$%&'*+.^_`|~0-9A-Za-z-]+:)").search
_WANTED_LINES = re.compile(
    rb"\n(" + b"|".join(re.escape(name) for name in _FIELDS) + rb"):([^\r]*)", re.IGNORECASE
).findall
# The usual head, checked and read by one match instead of the six calls and the Python loop of
# `_parse_any` (wrk's head for bench_redirect, 46,692 → 34,778 instructions a redirect with its
# click): every line ending in CRLF with no CR inside it, every header name a token, one Host line,
# the lines before it and those after it each a run of lines that are not Host (RFC 9110 asks
# clients to send Host first, as browsers, curl and proxies do; wrk's order is its Lua table's). A
# bare LF is caught by counting (`[^\r]` scans a value in the engine's tight loop; `[^\r\n]` cost
# ~30 instructions a byte). User-Agent, Referer, X-Forwarded-For and X-Forwarded-Proto are captured
# in each run, the last of each counting (`_parse` sends a head with two X-Forwarded-For lines,
# which must be joined, to `_parse_any`), Connection when it is one token. A body's, an upgrade's or
# an expectation's line, a second Host, or any other Connection matches nothing here: such a head,
# or one without Host, is read by `_parse_any`.
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]++"
_VALUE = rb"[ \t]*+([^\r]*+)"
_CAPTURED = (b"user-agent", b"referer", b"x-forwarded-for", b"x-forwarded-proto")


def _lines(*, before_host: bool) -> bytes:
    """A run of header lines, none of them Host, each after its CRLF. Before Host, a Host line ends
    the run at one test, instead of failing every alternative (a thousand instructions a request)."""
    stop = rb"(?!(?i:host):)" if before_host else b""
    return (
        rb"(?:\r\n" + stop + rb"(?:" + b"|".join(b"(?i:" + re.escape(name) + b"):" + _VALUE for name in _CAPTURED)
        + rb"|(?i:connection):[ \t]*+((?i:close|keep-alive))[ \t]*+(?=\r|\Z)"
        + rb"|(?!(?i:" + b"|".join(re.escape(name) for name in _FIELDS if name not in _CAPTURED) + rb"):)"
        + _TOKEN + rb":[^\r]*+))*+"
    )  # fmt: skip


_PLAIN_HEAD = re.compile(
    rb"(GET|HEAD) (/[!-$&->@-~]*+)(?:\?([!-~]*+))? HTTP/1\.([01])(" + _lines(before_host=True)
    + rb")\r\n(?i:host):" + _VALUE + _lines(before_host=False)
).fullmatch  # fmt: skip
_FORWARDED_FOR_LINE = re.compile(rb"\n(?i:x-forwarded-for):").search
# A chain, a port or brackets in X-Forwarded-For: uvicorn's parse. One search, not three `in` tests:
# on bytes `in` first tries its operand as an integer, and the TypeError it raises and clears cost
# ~1,800 instructions a test (402 → 76 ns for the three).
_NOT_ONE_ADDRESS = re.compile(rb"[,:\[]").search
# Bytes a client may send ahead while one of its requests waits on the database; then we stop reading.
MAX_AHEAD = 65536
_HOSTS: dict[bytes, str] = {}  # Host header → host name: a handful of program domains make nearly all


def _host(value: bytes) -> str:
    """`value` as it came (white space and all), remembered."""
    if len(_HOSTS) > 1000:
        _HOSTS.clear()
    name = _HOSTS[value] = host_name(value.strip())
    return name


class LinkProtocol(asyncio.Protocol):
    """uvicorn's protocol interface (constructor, `shutdown`), bound to one LinkHandler by `bind`."""

    handler: ClassVar[LinkHandler]
    # The lines every answer ends its head with (uvicorn's Date, renewed every second) and the blank
    # line, with the list they were built from: one bytes object for all connections, so that an
    # answer's bytes are known to be current by identity (`Answer.wire`).
    tail: ClassVar[tuple[list[tuple[bytes, bytes]] | None, bytes]] = (None, b"")

    @classmethod
    def bind(cls, handler: LinkHandler) -> type[LinkProtocol]:
        return type("BoundLinkProtocol", (cls,), {"handler": handler})

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not config.loaded:
            config.load()
        self.config = config
        self.server_state = server_state
        self.app_state = app_state
        self.loop = _loop or asyncio.get_event_loop()
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiting = False  # an answer is waiting on the database
        self.closing = False
        self.peer = ""
        self.tls = False
        self.last_seen = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.pending: asyncio.Task[None] | None = None
        self.write_paused = False
        self.proxies = trusted_proxies(config.forwarded_allow_ips)

    # -- connection life ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is one without the subclassing
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else ""
        self.tls = transport.get_extra_info("sslcontext") is not None
        self.server_state.connections.add(self)  # type: ignore[arg-type]  # uvicorn waits for these at shutdown
        self.last_seen = self.loop.time()
        self.idle_timer = self.loop.call_later(self.config.timeout_keep_alive, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)  # type: ignore[arg-type]
        if self.idle_timer is not None:
            self.idle_timer.cancel()

    def shutdown(self) -> None:
        """uvicorn's graceful shutdown: close now, or after the answer being prepared."""
        self.closing = True
        if not self.waiting and self.transport is not None:
            self.transport.close()

    def pause_writing(self) -> None:
        self.write_paused = True  # a client that does not read its answers gets no more
        self._pace()

    def resume_writing(self) -> None:
        self.write_paused = False
        self._pace()

    def _pace(self) -> None:
        """Read only while the client reads its answers and is not far ahead of a waiting one."""
        if self.transport is None or self.transport.is_closing():
            return
        if self.write_paused or (self.waiting and len(self.buffer) > MAX_AHEAD):
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    def _idle_check(self) -> None:
        """Keep-alive timeout without a timer per request: one timer, re-armed for what is left."""
        assert self.transport is not None
        idle = self.loop.time() - self.last_seen
        if idle >= self.config.timeout_keep_alive and not self.waiting:
            self.transport.close()
        else:
            self.idle_timer = self.loop.call_later(max(self.config.timeout_keep_alive - idle, 0.1), self._idle_check)

    # -- requests -------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self.buffer = self.buffer + data if self.buffer else data
        self.last_seen = self.loop.time()
        if not self.waiting:
            self._serve()
        elif len(self.buffer) > MAX_AHEAD:
            self._pace()

    def _serve(self) -> None:
        handler = self.handler
        while self.buffer and not self.closing:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self._hand_over()
                return
            fields = self._parse(self.buffer[:end])
            if fields is None:
                self._hand_over()
                return
            answer = handler.answer_warm(*fields)
            if answer is not None:
                self.buffer = self.buffer[end + 4 :]
                close, (defaults, tail) = fields[8], self.tail
                if close or defaults is not self.server_state.default_headers:
                    self._write(answer, close)
                else:  # `_write` inlined for nearly every redirect (the transport is open: `_serve` runs)
                    wire = answer.wire_bytes if answer.wire_tail is tail else answer.wire(tail)
                    self.transport.write(wire)  # type: ignore[union-attr]
                continue
            visit = Visit(*fields)
            if not handler.domains_fresh():
                self._wait_for(self._refresh())
                return
            route = handler.route(visit.host, visit.path)
            if route is None:
                self._hand_over()
                return
            self.buffer = self.buffer[end + 4 :]
            answer = handler.answer_cached(route, visit)
            if answer is None:
                self._wait_for(self._look_up(route, visit))
                return
            self._write(answer, visit.close)

    def _wait_for(self, work: Coroutine[Any, Any, None]) -> None:
        """The slow path: the database first, then on with the requests buffered meanwhile, in order."""
        self.waiting = True

        async def then_serve() -> None:
            await work
            self.waiting = False
            self.pending = None
            if self.transport is not None and not self.transport.is_closing():
                self._pace()
                self._serve()

        self.pending = self.loop.create_task(then_serve())  # held: the loop keeps only a weak reference

    async def _refresh(self) -> None:
        try:
            await self.handler.refresh()
        except Exception:
            log.exception("loading program domains failed")
            self._write(UNAVAILABLE, close=True)

    async def _look_up(self, route: Route, visit: Visit) -> None:
        close = visit.close
        try:
            answer = await self.handler.answer(route, visit)
        except Exception:
            log.exception("share link lookup failed")
            answer, close = UNAVAILABLE, True
        self._write(answer, close)

    def _write(self, answer: Answer, close: bool) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return  # the client left while its answer was looked up
        if close:
            self.closing = True
        tail = self._tail()
        if self.closing:
            self.transport.write(answer.head() + b"connection: close\r\n" + tail + answer.body)
            self.transport.close()
        else:
            self.transport.write(answer.wire(tail))

    def _tail(self) -> bytes:
        defaults, tail = self.tail
        if defaults is not self.server_state.default_headers:
            defaults = self.server_state.default_headers
            tail = b"".join(name + b": " + value + b"\r\n" for name, value in defaults) + b"\r\n"
            type(self).tail = (defaults, tail)
        return tail

    def _parse(self, head: bytes) -> VisitFields | None:
        """A plain GET or HEAD request head, or None for anything uvicorn's parser should see."""
        plain = _PLAIN_HEAD(head)
        if plain is None:
            return self._parse_any(head)
        (method, path, query, minor, before_host, agent_, referer_, forwarded_for_, forwarded_proto_, connection_,
         host, agent, referer, forwarded_for, forwarded_proto, connection) = plain.groups()  # fmt: skip
        if before_host:  # lines before Host (`name_`): where a header is on both sides, the later one counts
            agent = agent_ if agent is None else agent
            referer = referer_ if referer is None else referer
            forwarded_for = forwarded_for_ if forwarded_for is None else forwarded_for
            forwarded_proto = forwarded_proto_ if forwarded_proto is None else forwarded_proto
            connection = connection_ if connection is None else connection
        if head.count(b"\n") != head.count(b"\r"):  # a bare LF, in a value
            return self._parse_any(head)
        client, secure = self.peer, self.tls
        if forwarded_for is not None or forwarded_proto is not None:
            first = _FORWARDED_FOR_LINE(head)
            if first is not None and _FORWARDED_FOR_LINE(head, first.end()):
                return self._parse_any(head)  # X-Forwarded-For twice: the lines are joined there
            client, secure = self._visitor(forwarded_for, forwarded_proto)
        return (
            _METHODS[method], _HOSTS.get(host) or _host(host), path.decode(), query or b"", client,
            agent.strip().decode("latin-1") if agent is not None else None,
            referer.strip().decode("latin-1") if referer is not None else None,
            secure, minor == b"0" if connection is None else connection.lower() == b"close",
        )  # fmt: skip

    def _parse_any(self, head: bytes) -> VisitFields | None:
        """A head `_PLAIN_HEAD` does not take (no Host line or two, two X-Forwarded-For lines, a
        Content-Length of 0, a list in Connection), or None for uvicorn."""
        breaks = head.count(b"\n")
        if head.count(b"\r") != breaks or head.count(b"\r\n") != breaks or _MALFORMED_LINE(head):
            return None  # a bare CR or LF, or a malformed header line: not for us to be lenient about
        request_line = _REQUEST_LINE(head)
        if request_line is None:
            return None
        method, path, query, version = request_line.groups()
        host = user_agent = referer = None
        keep_alive = version == b"HTTP/1.1"
        forwarded_for: list[bytes] = []
        forwarded_proto = None
        for name, raw in _WANTED_LINES(head):
            field = _FIELDS[name.lower()]
            value = raw.strip()
            if field == _HOST:
                if host is not None:
                    return None  # two Host headers
                host = _HOSTS.get(value) or _host(value)
            elif field == _USER_AGENT:
                user_agent = value.decode("latin-1")
            elif field == _REFERER:
                referer = value.decode("latin-1")
            elif field == _CONNECTION:
                tokens = value.lower()
                if tokens.find(b"close") >= 0:  # not `in`: see _NOT_ONE_ADDRESS
                    keep_alive = False
                elif tokens.find(b"keep-alive") >= 0:
                    keep_alive = True
            elif field == _FORWARDED_FOR:
                forwarded_for.append(raw)
            elif field == _FORWARDED_PROTO:
                forwarded_proto = raw
            elif field == _NOT_PLAIN or value != b"0":
                return None  # a body, an upgrade, an expectation (a Content-Length of 0 is no body)
        client, secure = self.peer, self.tls
        if forwarded_for or forwarded_proto is not None:
            client, secure = self._visitor(b", ".join(forwarded_for) if forwarded_for else None, forwarded_proto)
        return _METHODS[method], host, path.decode(), query or b"", client, user_agent, referer, secure, not keep_alive

    def _visitor(self, forwarded_for: bytes | None, forwarded_proto: bytes | None) -> tuple[str, bool]:
        """The visitor's address and whether it came over TLS: the connection's own, or what a trusted
        proxy says of them (the same rule as uvicorn's ProxyHeadersMiddleware on the ASGI path)."""
        client, secure = self.peer, self.tls
        if self.config.proxy_headers and self.peer in self.proxies:
            if forwarded_for is not None:
                if _NOT_ONE_ADDRESS(forwarded_for):
                    client = self.proxies.get_trusted_client_address(forwarded_for.decode("latin-1"))[0] or client
                else:  # one address, no port: uvicorn answers it whether it trusts it or not (in five calls)
                    client = forwarded_for.decode("latin-1").strip() or client
            if forwarded_proto is not None:
                scheme = forwarded_proto.decode("latin-1").strip()
                if scheme in _SCHEMES:  # uvicorn leaves the scheme alone for anything else
                    secure = scheme == "https"
        return client, secure

    def _hand_over(self) -> None:
        """From here on the connection is uvicorn's: its protocol gets the transport and the bytes."""
        assert self.transport is not None
        data, self.buffer = self.buffer, b""
        self.server_state.connections.discard(self)  # type: ignore[arg-type]
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        http = HttpToolsProtocol(self.config, self.server_state, self.app_state, self.loop)
        self.transport.set_protocol(http)
        http.connection_made(CorkedTransport(self.transport, self.loop))  # type: ignore[arg-type]
        if data:
            http.data_received(data)
