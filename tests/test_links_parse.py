"""The fast path's request-head parser (links.protocol): what it takes, and what it leaves to uvicorn.

`None` means "not a plain GET or HEAD for us": the connection goes to uvicorn's own parser, which
answers odd framing with its errors. Anything we do take must be read exactly as uvicorn would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import _TrustedHosts
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
    return protocol._parse(head.encode("latin-1"))


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
