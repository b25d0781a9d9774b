"""Instructions a warm redirect costs, counted by callgrind: the same figure on a busy machine as on an idle one.

    python -m bench.bench_instructions               # every case, N=5,000 and 25,000 requests each
    python -m bench.bench_instructions --case wrk

Wall-clock figures on a shared 2-core machine wander by tens of percent within minutes, so a change
of a few per cent to the redirect path cannot be seen in `bench_redirect`'s requests per second.
This runs the warm path in process, the way `sharelinks serve` does (uvloop, the raw protocol of
links.protocol, the real LinkHandler and ClickRecorder, the clicks prepared a slice at a time as a
flush does, without the database write), under `valgrind --tool=callgrind`, for two request counts.
The difference divided by the difference in requests is the cost of one request with its click,
start-up and warm-up cancelled out; two runs of the same code give the same count to within a few
instructions. The transport's `write` is a C function, so the count holds Python's work and not a
fake socket's; the kernel's part (one read, one write a request) is not counted: compare it with
`strace -c` or with nginx in `bench_redirect`.

Cases: `wrk` (wrk's head, one visitor, as bench_redirect's warm row), `xff` (a new visitor each
behind a trusted proxy, as its second row), `browser` (a browser's 16-line head with a query).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

from bench.harness import ROOT, require_tool

HOST = "share.example.com"
CODES = 1000
SLICE = 250  # clicks prepared at a time, as ClickRecorder.flush does
UA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"


def head(case: str, i: int) -> bytes:
    path = f"/code{i % CODES:05d}"
    # Byte for byte what wrk sends for bench_redirect's Lua (its header order is its table's).
    if case == "wrk":
        return f"GET {path} HTTP/1.1\r\nUser-Agent: Mozilla/5.0 (bench)\r\nHost: {HOST}\r\n\r\n".encode()
    if case == "xff":
        address = f"10.{i % 250}.{i // 250 % 250}.{i // 62500 % 250}"
        return (f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nX-Forwarded-For: {address}\r\n"
                "User-Agent: Mozilla/5.0 (bench)\r\n\r\n").encode()  # fmt: skip
    return (
        f"GET {path}?utm_source=mail HTTP/1.1\r\nHost: {HOST}\r\nConnection: keep-alive\r\n"
        'sec-ch-ua: "Chromium";v="130", "Google Chrome";v="130"\r\nsec-ch-ua-mobile: ?0\r\n'
        f"Upgrade-Insecure-Requests: 1\r\nUser-Agent: {UA}\r\n"
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
        "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: navigate\r\nReferer: https://mail.example.com/\r\n"
        "Accept-Encoding: gzip, deflate, br\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: a=b; c=d\r\n\r\n"
    ).encode()


class _Transport:
    """What the protocol calls on a transport; `write` is C (a deque's append), as uvloop's is."""

    def __init__(self) -> None:
        self.write: Any = collections.deque(maxlen=1).append

        self.is_closing = bool  # bool() is False

    def get_extra_info(self, name: str) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else None


def serve(case: str, requests: int, heads_file: Path) -> None:
    """The measured process: `requests` warm redirects (after one warm-up pass over the codes), the
    heads read from `heads_file` (the parent builds them: built here, they would be counted too)."""
    import uvloop
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from sharelinks.clitools import tune_gc
    from sharelinks.links import handler as handler_module
    from sharelinks.links.clicks import ClickRecorder, Prepared
    from sharelinks.links.handler import LinkHandler
    from sharelinks.links.protocol import LinkProtocol
    from sharelinks.links.targets import LinkTarget, ProgramTarget, Targets

    handler_module.WARM_SECONDS = 1e9  # valgrind runs ~50x slower: nothing may expire meanwhile
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    nothing: Any = None  # no database and no ASGI app: the warm path reaches neither
    targets = Targets(nothing)
    program = ProgramTarget(1, "https://www.example.com/refer", None, "advocate_code")
    targets.domains = {HOST: program}
    targets._domains_loaded_at = 1e18  # fresh for good
    for n in range(CODES):
        code = f"code{n:05d}"
        targets._codes[code] = (LinkTarget(n + 1, code, HOST, n + 1, program), 1e18)
    recorder = ClickRecorder(nothing)
    handler = LinkHandler(targets, recorder, cookie_days=30)
    config = Config(app=nothing, proxy_headers=True, forwarded_allow_ips="127.0.0.1")
    state = ServerState()
    state.default_headers = [(b"date", b"Sat, 28 Nov 2026 14:00:00 GMT")]
    protocol = LinkProtocol.bind(handler)(config, state, {}, loop)
    protocol.connection_made(cast(Any, _Transport()))
    heads = heads_file.read_bytes().split(b"\0")[: CODES + requests]
    tune_gc()
    prepared = Prepared()
    for number, data in enumerate(heads, 1):
        protocol.data_received(data)
        if number % SLICE == 0:
            batch, recorder._buffer = recorder._buffer, []
            recorder._prepare(batch, prepared)
            if len(prepared.rows) >= 5000:
                prepared = Prepared()  # a flush writes these and starts again
    assert protocol._tail and not protocol.buffer, "every request was answered on the fast path"


def count(case: str, requests: int) -> int:
    """Instructions callgrind counts for one process serving `requests`."""
    with tempfile.TemporaryDirectory() as folder:
        out, heads = Path(folder) / "callgrind.out", Path(folder) / "heads"
        heads.write_bytes(b"\0".join(head(case, i) for i in range(CODES + requests)))
        subprocess.run(
            [require_tool("valgrind", "valgrind"), "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-m", "bench.bench_instructions", "--serve", case, str(requests), str(heads)],
            cwd=ROOT, env={**os.environ, "PYTHONHASHSEED": "0"}, check=True, capture_output=True,
        )  # fmt: skip
        found = re.search(rb"^(?:summary|totals): (\d+)", out.read_bytes(), re.MULTILINE)
        assert found is not None, "callgrind wrote no total"
        return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--case", choices=["wrk", "xff", "browser"], action="append")
    parser.add_argument("--few", type=int, default=5000)
    parser.add_argument("--many", type=int, default=25000)
    parser.add_argument("--serve", nargs=3, metavar=("CASE", "REQUESTS", "HEADS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), Path(args.serve[2]))
        return
    print("instructions a warm redirect with its click (callgrind; one process, in-memory transport)")
    for case in args.case or ["wrk", "xff", "browser"]:
        few, many = count(case, args.few), count(case, args.many)
        print(f"{case:8} {(many - few) / (args.many - args.few):10,.0f}", flush=True)


if __name__ == "__main__":
    main()
