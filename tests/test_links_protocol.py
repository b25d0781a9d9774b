"""The raw share-link front end (links.protocol) over real sockets: what an HTTP/1.1 client may send.

Requests are written by hand, so pipelining, split heads, odd framing and a connection that
changes hands from the fast path to uvicorn are exercised as they arrive on the wire.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

import httpx2 as httpx
import pytest
from sqlalchemy import select

from sharelinks.app import create_app
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.links.models import clicks
from sharelinks.links.protocol import MAX_AHEAD
from sharelinks.testing.server import live_server
from tests.conftest import make_program
from tests.helpers import wait_until

HOST = "share.yourbrand.com"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@pytest.fixture
def server(settings: Settings, db: Database) -> Iterator[str]:
    app = create_app(replace(settings, click_flush_seconds=0.1), database=db)
    with live_server(app, lifespan=True) as base:
        yield base


@pytest.fixture
def codes(server: str, auth: dict[str, str]) -> list[str]:
    with httpx.Client(base_url=server) as client:
        make_program(client, auth)
        found = []
        for name in ("alex", "sam", "kim"):
            person = client.post("/v2/persons", headers=auth, json={"email": f"{name}@example.com"}).json()
            link = client.post(f"/v3/persons/{person['id']}/shareables", headers=auth, json={"label": "refer-a-friend"})
            found.append(link.json()["code"])
        return found


def connect(base: str) -> socket.socket:
    parts = urlsplit(base)
    return socket.create_connection((parts.hostname, parts.port), timeout=5)


def get(path: str, *extra: str, host: str = HOST, version: str = "1.1") -> bytes:
    lines = [f"GET {path} HTTP/{version}", f"Host: {host}", "User-Agent: Mozilla/5.0 (test)", *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_replies(sock: socket.socket, count: int) -> list[Reply]:
    """`count` responses, framed by Content-Length as a client would."""
    data, replies = b"", []
    while len(replies) < count:
        end = data.find(b"\r\n\r\n")
        if end >= 0:
            status_line, *lines = data[:end].decode("latin-1").split("\r\n")
            headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
            length = int(headers.get("content-length", "0"))
            if len(data) >= end + 4 + length:
                replies.append(Reply(int(status_line.split()[1]), headers, data[end + 4 : end + 4 + length]))
                data = data[end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed after {len(replies)} of {count} responses")
        data += chunk
    return replies


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_pipelined_requests_are_answered_in_order(server: str, codes: list[str]) -> None:
    with connect(server) as sock:
        # A cold code first (looked up in the database), then warm ones and the API, in one write.
        sock.sendall(get(f"/{codes[0]}") + get(f"/{codes[1]}") + get("/nosuchcode") + get("/health/live"))
        first, second, unknown, api = read_replies(sock, 4)
    assert first.headers["location"].endswith(f"advocate_code={codes[0]}")
    assert second.headers["location"].endswith(f"advocate_code={codes[1]}")
    assert unknown.status == 302 and unknown.headers["location"] == "https://refer.yourbrand.com"
    assert api.status == 200 and b"ok" in api.body.lower()


def test_a_connection_handed_to_the_api_keeps_serving_links(server: str, codes: list[str]) -> None:
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}"))
        assert read_replies(sock, 1)[0].status == 302
        sock.sendall(get("/health/live", host="127.0.0.1"))  # not a link: uvicorn takes the connection
        assert read_replies(sock, 1)[0].status == 200
        sock.sendall(get(f"/{codes[1]}"))  # now answered by the ASGI layer, the same way
        reply = read_replies(sock, 1)[0]
    assert reply.status == 302 and reply.headers["location"].endswith(f"advocate_code={codes[1]}")


def test_a_head_split_across_packets(server: str, codes: list[str]) -> None:
    request = get(f"/{codes[0]}")
    with connect(server) as sock:
        for start in range(0, len(request), 7):
            sock.sendall(request[start : start + 7])
            time.sleep(0.002)
        reply = read_replies(sock, 1)[0]
    assert reply.status == 302 and reply.headers["location"].endswith(codes[0])


def test_connection_close_and_http_1_0(server: str, codes: list[str]) -> None:
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}", "Connection: close"))
        reply = read_replies(sock, 1)[0]
        assert reply.status == 302 and reply.headers["connection"] == "close"
        assert closed_by_server(sock)
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}", version="1.0"))
        assert read_replies(sock, 1)[0].status == 302
        assert closed_by_server(sock)
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}", "Connection: keep-alive", version="1.0"))
        assert read_replies(sock, 1)[0].status == 302
        sock.sendall(get(f"/{codes[1]}", "Connection: keep-alive", version="1.0"))
        assert read_replies(sock, 1)[0].status == 302


def test_nothing_unsafe_reaches_a_header(server: str, codes: list[str]) -> None:
    with connect(server) as sock:
        # A control byte in the target: not ours to answer, and uvicorn's parser refuses it.
        sock.sendall(f"GET /{codes[0]}?a=\x01b HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        reply = read_replies(sock, 1)[0]
    assert reply.status == 400 and "location" not in reply.headers
    with connect(server) as sock:
        # A bare LF could hide a header from us that a proxy in front would see: handed over too.
        sock.sendall(f"GET /{codes[0]} HTTP/1.1\r\nHost: {HOST}\r\nX-A: 1\nX-B: 2\r\n\r\n".encode())
        reply = read_replies(sock, 1)[0]
    assert reply.status == 400 and "location" not in reply.headers  # uvicorn refuses it
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}?next=%0d%0aSet-Cookie:%20x=1"))  # encoded: passed on as it came
        reply = read_replies(sock, 1)[0]
    assert reply.headers["location"].endswith("&next=%0d%0aSet-Cookie:%20x=1")
    assert reply.headers["set-cookie"].startswith("sharelinks_advocate_code=")


@pytest.mark.parametrize(
    "line",
    ["Host : other.example", " X-Folded: 1", "NoColon", ": no-name", "X-A: 1\rB: 2", "X\x01Bad: 1", "X-A: 1\nHost: x"],
    ids=["space-before-colon", "folded", "no-colon", "no-name", "bare-cr", "control-in-name", "bare-lf"],
)
def test_a_malformed_header_line_is_left_to_uvicorn(server: str, codes: list[str], line: str) -> None:
    # The fast path answers only heads whose every line is `token: value`; uvicorn's parser refuses the rest.
    with connect(server) as sock:
        sock.sendall(f"GET /{codes[0]} HTTP/1.1\r\nHost: {HOST}\r\n{line}\r\n\r\n".encode())
        reply = read_replies(sock, 1)[0]
    assert reply.status == 400 and "location" not in reply.headers


def test_a_get_with_a_body_is_left_to_uvicorn(server: str, codes: list[str]) -> None:
    with connect(server) as sock:
        sock.sendall(get(f"/{codes[0]}", "Content-Length: 5")[:-2] + b"\r\nhello" + get(f"/{codes[1]}"))
        first, second = read_replies(sock, 2)
    assert first.status == 302 and first.headers["location"].endswith(codes[0])
    assert second.status == 302 and second.headers["location"].endswith(codes[1])


def test_a_trusted_proxy_names_the_visitor_and_the_scheme(server: str, codes: list[str], db: Database) -> None:
    with connect(server) as sock:
        for forwarded in ("203.0.113.7", "203.0.113.7", "198.51.100.9"):
            sock.sendall(get(f"/{codes[0]}", f"X-Forwarded-For: {forwarded}", "X-Forwarded-Proto: https"))
            reply = read_replies(sock, 1)[0]
            assert reply.headers["set-cookie"].endswith("; Secure")
        sock.sendall(get(f"/{codes[0]}"))
        assert not read_replies(sock, 1)[0].headers["set-cookie"].endswith("; Secure")

    def hashes() -> list[str]:
        return list(db.call(lambda conn: conn.execute(select(clicks.c.ip_hash).order_by(clicks.c.id)).scalars().all()))

    first, again, other, direct = wait_until(lambda: len(hashes()) == 4 and hashes())
    assert first == again and len({first, other, direct}) == 3


def test_a_long_pipeline_behind_a_lookup_is_read_in_turn(server: str, codes: list[str]) -> None:
    # A cold code (a database lookup), then well over MAX_AHEAD bytes of requests sent at once: reading
    # pauses while the lookup waits, and every request is still answered, in order.
    burst = get(f"/{codes[2]}") + b"".join(get(f"/{codes[i % 2]}") for i in range(2000))
    assert len(burst) > 2 * MAX_AHEAD
    with connect(server) as sock:
        sock.sendall(burst)
        replies = read_replies(sock, 2001)
    assert replies[0].headers["location"].endswith(codes[2])
    assert all(r.headers["location"].endswith(codes[i % 2]) for i, r in enumerate(replies[1:]))


def test_header_text_is_stored_as_sent(server: str, codes: list[str], db: Database) -> None:
    # Latin-1 bytes, quotes and backslashes: the click batch travels as JSON on SQLite and by COPY on
    # PostgreSQL, and must come back as the visitor sent it.
    agent = 'Mozilla/5.0 (caf\xe9; "q" \\ x)'
    head = f"GET /{codes[0]} HTTP/1.1\r\nHost: {HOST}\r\nUser-Agent: {agent}\r\nReferer: https://r.example/\xe9\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(head.encode("latin-1"))
        assert read_replies(sock, 1)[0].status == 302

    def stored() -> list[Any]:
        return list(db.call(lambda conn: conn.execute(select(clicks.c.user_agent, clicks.c.referer)).all()))

    [(user_agent, referer)] = wait_until(lambda: stored())
    assert (user_agent, referer) == (agent, "https://r.example/\xe9")


def test_warm_answers_follow_a_change_at_once(server: str, codes: list[str], auth: dict[str, str]) -> None:
    """A redirect answered before is answered from one lookup (handler.answer_warm) until a link
    or its program changes: the very next request sees the change."""
    with connect(server) as sock, httpx.Client(base_url=server) as api:
        for _ in range(3):  # the first looks the code up, the second remembers its answer, the third uses it
            sock.sendall(get(f"/{codes[0]}"))
            assert read_replies(sock, 1)[0].headers["location"].startswith("https://www.yourbrand.com/refer?")
        changed = api.put(
            "/v6/programs/refer-a-friend", headers=auth, json={"destination_url": "https://new.example/r"}
        )
        assert changed.status_code == 200, changed.text
        sock.sendall(get(f"/{codes[0]}"))
        assert read_replies(sock, 1)[0].headers["location"] == f"https://new.example/r?advocate_code={codes[0]}"

        for _ in range(2):
            sock.sendall(get(f"/{codes[1]}"))
            assert read_replies(sock, 1)[0].headers["location"].endswith(codes[1])
        person_id = api.get(f"/v3/shareables/{codes[1]}", headers=auth).json()["person_id"]
        assert api.delete(f"/v3/persons/{person_id}/shareables/{codes[1]}", headers=auth).status_code == 200
        sock.sendall(get(f"/{codes[1]}"))
        assert read_replies(sock, 1)[0].headers["location"] == "https://refer.yourbrand.com"
