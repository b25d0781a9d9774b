"""The fast path's request-head parser (links.protocol): what it takes, and what it leaves to uvicorn.

`None` means "not a plain GET or HEAD for us": the connection goes to uvicorn's own parser, which
answers odd framing with its errors. Anything we do take must be read exactly as uvicorn would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from uvicorn._types import Scope
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware, _TrustedHosts
from uvicorn.server import ServerState

from sharelinks.links.forwarded import TrustedProxies
from sharelinks.links.handler import Visit
from sharelinks.links.protocol import LinkProtocol

UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
BROWSER_HEAD = (
    "GET /alex01?utm_source=mail HTTP/1.1\r\nHost: Share.YourBrand.com\r\nConnection: keep-alive\r\n"
    'sec-ch-ua: "Chromium";v="130", "Google Chrome";v="130"\r\nsec-ch-ua-mobile: ?0\r\n'
    f"Upgrade-Insecure-Requests: 1\r\nUser-Agent: {UA}\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nReferer: https://mail.example.com/\r\n"
    "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: a=b; c=d"
)


@pytest.fixture
def protocol() -> Iterator[LinkProtocol]:
    loop = asyncio.new_event_loop()
    config = Config(app=None, proxy_headers=True, forwarded_allow_ips="10.0.0.1")
    found = LinkProtocol(config, ServerState(), {}, loop)
    found.peer = "192.0.2.7"
    yield found
    loop.close()


def parse(protocol: LinkProtocol, head: str) -> Visit | None:
    fields = protocol._parse(head.encode("latin-1"))
    return None if fields is None else Visit(*fields)


def test_a_browser_request(protocol: LinkProtocol) -> None:
    visit = parse(protocol, BROWSER_HEAD)
    assert visit == Visit(
        "GET", "share.yourbrand.com", "/alex01", b"utm_source=mail", "192.0.2.7", UA, "https://mail.example.com/", False
    )


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("GET /a HTTP/1.1\r\nhOsT:  share.yourbrand.com:443 \r\nuser-agent:x", ("share.yourbrand.com", "x", None)),
        (
            "HEAD /a HTTP/1.1\r\nHost: s.example\r\nReferer:\thttps://r.example/\t",
            ("s.example", None, "https://r.example/"),
        ),
        ("GET /a HTTP/1.1", (None, None, None)),  # no Host: the router decides
        ("GET /a HTTP/1.1\r\nUser-Agent: first\r\nUser-Agent: last\r\nHost: s", ("s", "last", None)),
        ("GET /a HTTP/1.1\r\nHost: s\r\nContent-Length: 0", ("s", None, None)),
        ("GET /a HTTP/1.1\r\nHost: s\r\nX-Note: a: b\r\nX-Empty:", ("s", None, None)),
    ],
)
def test_headers_read(protocol: LinkProtocol, head: str, expected: tuple[str | None, ...]) -> None:
    visit = parse(protocol, head)
    assert visit is not None
    assert (visit.host, visit.user_agent, visit.referer) == expected


@pytest.mark.parametrize(
    "head",
    [
        "POST /a HTTP/1.1\r\nHost: s",
        "GET /a HTTP/2.0\r\nHost: s",
        "GET /a  HTTP/1.1\r\nHost: s",
        "GET /%61 HTTP/1.1\r\nHost: s",  # encoded paths: the ASGI layer decodes them
        "GET /a\x7f HTTP/1.1\r\nHost: s",
        "GET /a HTTP/1.1\r\nHost: s\r\nHost: t",  # two Host headers
        "GET /a HTTP/1.1\r\nHost: s\r\nContent-Length: 5",
        "GET /a HTTP/1.1\r\nHost: s\r\nContent-Length: 0\r\ncontent-length: 5",
        "GET /a HTTP/1.1\r\nHost: s\r\nTransfer-Encoding: chunked",
        "GET /a HTTP/1.1\r\nHost: s\r\nUpgrade: websocket",
        "GET /a HTTP/1.1\r\nHost: s\r\nExpect: 100-continue",
        "GET /a HTTP/1.1\r\nHost: s\r\nX-Folded: a\r\n b",  # obsolete line folding
        "GET /a HTTP/1.1\r\nHost: s\r\n\tX: a",
        "GET /a HTTP/1.1\r\nHost: s\r\nno colon here",
        "GET /a HTTP/1.1\r\nHost: s\r\n: no name",
        "GET /a HTTP/1.1\r\nHost : s",  # white space before the colon (RFC 9112 5.1: a 400)
        "GET /a HTTP/1.1\r\nHost: s\r\nX\x01Y: a",  # not a token
        "GET /a HTTP/1.1\r\nHost: s\nX: bare LF",
        "GET /a HTTP/1.1\r\nHost: s\rX: bare CR",
        "GET /a HTTP/1.1\r\nHost: s\r\nX: a\r",
    ],
)
def test_anything_unusual_goes_to_uvicorn(protocol: LinkProtocol, head: str) -> None:
    assert parse(protocol, head) is None


@pytest.mark.parametrize(
    ("version", "connection", "close"),
    [
        ("1.1", None, False),
        ("1.1", "close", True),
        ("1.1", "Keep-Alive, Close", True),
        ("1.0", None, True),
        ("1.0", "keep-alive", False),
    ],
)
def test_keep_alive(protocol: LinkProtocol, version: str, connection: str | None, close: bool) -> None:
    extra = f"\r\nConnection: {connection}" if connection else ""
    visit = parse(protocol, f"GET /a HTTP/{version}\r\nHost: s{extra}")
    assert visit is not None and visit.close is close


def test_forwarded_headers_count_only_from_a_trusted_proxy(protocol: LinkProtocol) -> None:
    head = (
        "GET /a HTTP/1.1\r\nHost: s\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-For: 10.0.0.1\r\n"
        "X-Forwarded-Proto: https"
    )
    untrusted = parse(protocol, head)
    assert untrusted is not None and (untrusted.client, untrusted.secure) == ("192.0.2.7", False)
    protocol.peer = "10.0.0.1"
    trusted = parse(protocol, head)
    # The chain "198.51.100.1, 10.0.0.1": the proxy itself is skipped, the visitor is the one before it.
    assert trusted is not None and (trusted.client, trusted.secure) == ("198.51.100.1", True)


_V4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda o: ".".join(map(str, o)))
_V6 = st.sampled_from(["::1", "0:0::1", "2001:db8::7", "2001:DB8:0:0:0:0:0:7", "::ffff:10.0.0.1", "fe80::1%eth0"])
_ODD = st.sampled_from(["unknown", "unix:/tmp/s", "010.0.0.1", "10.0.0.1:8080", "[::1]:443", "", "proxy.internal"])
_HOSTS = st.one_of(_V4, _V6, _ODD, st.sampled_from(["10.0.0.1", "127.0.0.1", "192.0.2.7"]))
_SETTINGS = st.one_of(
    st.sampled_from(["*", "127.0.0.1,::1", "10.0.0.0/8", "10.0.0.1, 2001:db8::7", "proxy.internal,10.0.0.1"]),
    st.lists(st.one_of(_V4, _V6, _ODD, st.just("192.0.2.0/24")), max_size=4),
)


@given(setting=_SETTINGS, hosts=st.lists(_HOSTS, min_size=1, max_size=4))
@example(setting="10.0.0.0/8", hosts=["192.0.2.7", "10.0.0.1"])  # a trusted network
@example(setting=["192.0.2.0/24", "::1"], hosts=["198.51.100.1", "192.0.2.7", "::1"])
@example(setting="proxy.internal,10.0.0.1", hosts=["192.0.2.7", "proxy.internal"])  # a literal
@example(setting="127.0.0.1,::1", hosts=["192.0.2.7", "0:0::1", "127.0.0.1"])  # IPv6 spelt another way
def test_trusted_proxies_answer_as_uvicorn_does(setting: list[str] | str, hosts: list[str]) -> None:
    ours, theirs = TrustedProxies(setting), _TrustedHosts(setting)
    for host in hosts:
        assert (host in ours) is (host in theirs), host
    chain = ", ".join(hosts)
    assert ours.get_trusted_client_address(chain) == theirs.get_trusted_client_address(chain)


# Heads built from the lines that matter to either parser, in any order and any case, with values
# that are ordinary, padded, empty, or broken (a bare CR or LF, a vertical tab).
_NAMES = ["Host", "host", "HOST", "User-Agent", "user-agent", "Referer", "X-Forwarded-For", "x-forwarded-for",
          "X-Forwarded-Proto", "Connection", "Content-Length", "Transfer-Encoding", "Upgrade", "Expect",
          "Accept", "Cookie", "X-Hostname", "Host ", "X\x01"]  # fmt: skip
_VALUES = ["share.yourbrand.com", " s.example:8080 ", "", "  ", "close", "keep-alive", " Keep-Alive ",
           "Upgrade, close", "closed", "0", "5", "chunked", "198.51.100.1", "198.51.100.1, 10.0.0.1",
           " https", "HTTPS", "http ", "wss", "ftp", "Mozilla/5.0 (X11)", "\x0bx\x0b", "a\nb", "a\rb",
           "a: b"]  # fmt: skip
_LINES = st.lists(st.tuples(st.sampled_from(_NAMES), st.sampled_from(_VALUES)), max_size=6)
_REQUEST = st.sampled_from(["GET /alex01 HTTP/1.1", "HEAD /alex01?qr=1 HTTP/1.0", "GET /s/x?a=%20 HTTP/1.1",
                            "POST /alex01 HTTP/1.1", "GET /a HTTP/1.2"])  # fmt: skip
_BEHIND_A_PROXY = {"request": "GET /alex01 HTTP/1.1", "host_first": True, "peer": "10.0.0.1", "tls": False}


# Lines before Host only, or on both sides of it (the later counts): wrk's order, and worse.
_AROUND_HOST = [("User-Agent", "a"), ("Referer", "r"), ("X-Forwarded-Proto", "https"), ("Connection", "close"),
                ("X-Forwarded-For", "198.51.100.1"), ("host", "s"), ("User-Agent", "")]  # fmt: skip


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example sets what it reads
@given(request=_REQUEST, host_first=st.booleans(), lines=_LINES, peer=st.sampled_from(["10.0.0.1", "192.0.2.7"]),
       tls=st.booleans())  # fmt: skip
@example(**_BEHIND_A_PROXY, lines=[("X-Forwarded-For", "198.51.100.1"), ("x-forwarded-for", "10.0.0.1")])  # joined
@example(**_BEHIND_A_PROXY, lines=[("User-Agent", " Mozilla/5.0 (X11)\x0b"), ("Referer", "\x0bx\x0b ")])  # padded
@example(**{**_BEHIND_A_PROXY, "host_first": False}, lines=_AROUND_HOST)
def test_the_one_match_reads_a_head_as_the_general_parser_does(
    protocol: LinkProtocol, request: str, host_first: bool, lines: list[tuple[str, str]], peer: str, tls: bool
) -> None:
    protocol.peer, protocol.tls = peer, tls
    lines = [("Host", "share.yourbrand.com"), *lines] if host_first else lines
    head = "\r\n".join([request, *(f"{name}:{value}" for name, value in lines)]).encode("latin-1")
    assert protocol._parse(head) == protocol._parse_any(head)


def test_usual_heads_take_the_one_match(protocol: LinkProtocol, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test above cannot tell which parser answered: this one can (the other one is made to fail).
    Host first, as browsers send it, or after other lines, as wrk does."""
    monkeypatch.setattr(protocol, "_parse_any", lambda head: pytest.fail(f"general parser used for {head!r}"))
    assert parse(protocol, BROWSER_HEAD) is not None
    proxied = parse(protocol, "GET /a HTTP/1.1\r\nHost: s\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https")
    assert proxied is not None and proxied.close is False
    wrk = parse(protocol, "GET /a HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (bench)\r\nHost: s")  # Host after another line
    assert wrk is not None and (wrk.host, wrk.user_agent) == ("s", "Mozilla/5.0 (bench)")


@pytest.mark.parametrize(
    "lines",
    [
        [(b"x-forwarded-for", b"198.51.100.1, 10.0.0.1"), (b"x-forwarded-proto", b"https")],
        [(b"x-forwarded-for", b"198.51.100.1"), (b"x-forwarded-for", b" 203.0.113.5 ")],
        [(b"x-forwarded-proto", b" HTTPS ")],  # not one of uvicorn's schemes: left as it was
        [(b"x-forwarded-proto", b"http")],
        [(b"x-forwarded-proto", b"wss")],
        [(b"x-forwarded-for", b"")],
    ],
)
@pytest.mark.parametrize(("peer", "tls"), [("10.0.0.1", True), ("10.0.0.1", False), ("192.0.2.7", True)])
def test_proxy_headers_are_read_as_uvicorns_middleware_reads_them(
    protocol: LinkProtocol, lines: list[tuple[bytes, bytes]], peer: str, tls: bool
) -> None:
    protocol.peer, protocol.tls = peer, tls
    head = b"GET /a HTTP/1.1\r\nHost: s" + b"".join(b"\r\n" + name + b": " + value for name, value in lines)
    visit = parse(protocol, head.decode("latin-1"))
    assert visit is not None
    assert (visit.client, visit.secure) == _uvicorn_sees(lines, peer, tls, "10.0.0.1")


# X-Forwarded-For values as proxies write them and as they should not: one address or a chain,
# ports, brackets, padding (str.strip() also strips \x1c-\x1f, \x85 and \xa0; bytes.strip() does not).
_PADDING = st.sampled_from(["", " ", "\t", " \x1c", "\xa0", "\x85 "])
_FORWARDED_FOR = st.lists(st.tuples(_PADDING, _HOSTS, _PADDING).map("".join), min_size=1, max_size=3).map(",".join)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])  # each example sets what it reads
@given(setting=_SETTINGS, forwarded_for=_FORWARDED_FOR, peer=st.sampled_from(["10.0.0.1", "127.0.0.1", "192.0.2.7"]))
@example(setting="10.0.0.1", forwarded_for="198.51.100.1 \x1c", peer="10.0.0.1")  # stripped as str, not bytes
@example(setting="10.0.0.1", forwarded_for="[x]", peer="10.0.0.1")  # brackets taken off, with no colon in
@example(setting="*", forwarded_for="198.51.100.1:8080", peer="192.0.2.7")  # the port taken off
def test_any_forwarded_for_is_read_as_uvicorns_middleware_reads_it(
    protocol: LinkProtocol, setting: list[str] | str, forwarded_for: str, peer: str
) -> None:
    protocol.peer, protocol.proxies = peer, TrustedProxies(setting)
    line = (b"x-forwarded-for", forwarded_for.encode("latin-1"))
    visit = parse(protocol, "GET /a HTTP/1.1\r\nHost: s\r\nX-Forwarded-For: " + forwarded_for)
    assert visit is not None
    assert visit.client == _uvicorn_sees([line], peer, False, setting)[0]


def _uvicorn_sees(lines: list[tuple[bytes, bytes]], peer: str, tls: bool, trusted: list[str] | str) -> tuple[str, bool]:
    """The client address and whether the scheme is https, after uvicorn's ProxyHeadersMiddleware."""
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: object, send: object) -> None:
        seen.update(scope)

    scope = {"type": "http", "client": (peer, 5000), "scheme": "https" if tls else "http", "headers": lines}
    asyncio.run(ProxyHeadersMiddleware(app, trusted_hosts=trusted)(scope, None, None))  # type: ignore[arg-type]
    return seen["client"][0], seen["scheme"] == "https"
