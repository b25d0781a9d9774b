"""Webhook delivery: pipeline throughput, event-to-first-attempt latency, ingestion with delivery on.

    python -m bench.bench_delivery                 # SQLite and PostgreSQL
    python -m bench.bench_delivery --only sqlite
    python -m bench.bench_delivery --sections 3 --repeat 5   # ingestion alone, five times over

1. Deliveries/s of the whole pipeline (claim, render, sign HS256, POST, record) into nginx `return 200`
   (one worker), beside a raw aiohttp POST loop on uvloop (64 in flight, same body and headers) to the
   same nginx, run just before each pipeline. One and two `sharelinks worker` processes on each
   database. Target: >= 0.5 of raw on SQLite, and on PostgreSQL with two workers.
2. Event -> first attempt latency while `sharelinks serve` ingests 1,000 events/s (fixed rate, each
   event creates a person, a link and an outbox row), measured from the database's own timestamps.
   Target: p99 <= 1 s.
3. Ingestion with the extension on and a webhook configured, 32 connections (wrk), while the in-process
   worker delivers, beside a no-op FastAPI POST. Target (SQLite): >= 2,000 events/s, p99 <= 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import uvloop
from sqlalchemy import func, select

from bench.bench_api import NOOP_LUA, events_lua
from bench.harness import ROOT, Figure, free_port, machine_report, noop_server, print_table, run_wrk, server
from bench.nginx import nginx
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.extensions import service as extensions
from sharelinks.http.body import Fields
from sharelinks.keys import service as keys
from sharelinks.keys.crypto import SecretBox
from sharelinks.programs import service as programs
from sharelinks.testing import databases
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import webhook_attempts, webhook_messages

MASTER_KEY = "bench-master-key"
IN_FLIGHT = 64
BODY = (
    b'{"event":"Share Link Created","email":"p123@example.com","partner_user_id":"P-123",'
    b'"timestamp":"2026-11-27T10:00:00.000Z","share_link":"https://share.example.com/k7m2q9xa"}'
)
ENV = {"SHARELINKS_SECRET_KEY": MASTER_KEY, "SHARELINKS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
       "SHARELINKS_LOG_LEVEL": "WARNING"}  # fmt: skip


def prepare(url: str, receiver: str) -> str:
    """Program, HS256 key, webhook to `receiver`, Create Share Link on Event; returns an API token."""
    db = Database(url)
    upgrade(db.engine)
    body = {"label": "refer-a-friend", "domains": ["share.example.com"], "destination_url": "https://e.example/r"}
    db.call(programs.create, programs.parse_changes(Fields(body), creating=True))
    key_request = keys.parse_request(Fields({"name": "sig", "algorithm": "HS256", "key": "bench-signing-secret"}))
    key = db.call(keys.create, SecretBox(MASTER_KEY), key_request)
    db.call(webhooks.create, {"name": "nginx", "url": receiver + "/hook", "client_key_id": key.id})
    db.call(extensions.create_from, Fields({"type": "CREATE_SHARE_LINK_ON_EVENT", "program_label": "refer-a-friend"}))
    scopes = frozenset({Scope.USER_SUPPORT})
    token = db.call(tokens.issue, name="bench", scopes=scopes, duration=timedelta(days=1)).access_token
    db.dispose()
    return token


@contextmanager
def database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{tmp}/bench.db"
        return
    url = databases.create_postgres_database("sharelinks_bench_delivery")
    try:
        yield url
    finally:
        databases.drop_postgres_database(url)


# -- 1. pipeline throughput -----------------------------------------------------------------------


async def raw_loop(url: str, n: int) -> float:
    """The baseline: n POSTs, IN_FLIGHT at a time, one aiohttp session. Requests/s."""
    headers = {"Content-Type": "application/json", "X-Extole-Signature": "0" * 64, "webhook-id": "1" * 19}
    queue = iter(range(n))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=IN_FLIGHT)) as session:

        async def lane() -> None:
            for _ in queue:
                async with session.post(url, data=BODY, headers=headers, allow_redirects=False) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(IN_FLIGHT)))
        return n / (time.perf_counter() - started)


def enqueue(url: str, n: int) -> None:
    db = Database(url)
    event = {"event": "Share Link Created", "email": "p@example.com", "partner_user_id": "P-1",
             "timestamp": "2026-11-27T10:00:00.000Z", "share_link": "https://share.example.com/k7m2q9xa"}  # fmt: skip
    for start in range(0, n, 2000):
        db.call(
            lambda conn, s=start: [
                webhooks.enqueue(conn, "share_link_created", event, program_id=None, dedupe_key=str(i))
                for i in range(s, min(n, s + 2000))
            ]
        )
    db.dispose()


def count_delivered(db: Database) -> int:
    query = select(func.count()).where(webhook_messages.c.status == "delivered")
    return int(db.call(lambda conn: conn.execute(query).scalar()))


@contextmanager
def workers(url: str, count: int) -> Iterator[None]:
    with ExitStack() as stack:
        for _ in range(count):
            log = stack.enter_context(tempfile.TemporaryFile())
            args = [sys.executable, "-m", "sharelinks", "worker", "--concurrency", str(IN_FLIGHT)]
            proc = subprocess.Popen(args, env={**os.environ, **ENV, "SHARELINKS_DATABASE_URL": url}, stdout=log,
                                    stderr=log, cwd=ROOT)  # fmt: skip
            stack.callback(proc.wait, 20)
            stack.callback(proc.terminate)
        yield


def pipeline(url: str, receiver: str, n: int, worker_count: int) -> float:
    prepare(url, receiver)
    enqueue(url, n)
    db = Database(url)
    with workers(url, worker_count):
        deadline = time.monotonic() + 300
        while count_delivered(db) < n:
            if time.monotonic() > deadline:
                raise SystemExit("deliveries did not finish")
            time.sleep(0.2)
    span = select(func.min(webhook_attempts.c.started_at), func.max(webhook_messages.c.finished_at)).select_from(
        webhook_attempts.join(webhook_messages)
    )
    first, last = db.call(lambda conn: conn.execute(span).one())
    db.dispose()
    return n / (last - first).total_seconds()


# -- 2. latency at a fixed ingest rate ------------------------------------------------------------


async def fixed_rate(base: str, token: str, rate: int, seconds: int, prefix: str = "lat") -> float:
    """POST /v5/events at `rate`/s for `seconds`, every event a new person; the achieved rate."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    tasks: list[asyncio.Task[Any]] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def post(i: int) -> None:
            body = {"event_name": "converted", "data": {"email": f"{prefix}{i}@example.com"}}
            async with session.post(base + "/v5/events", json=body, headers=headers) as response:
                await response.read()

        started = time.perf_counter()
        for i in range(rate * seconds):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i)))
        await asyncio.gather(*tasks)
        return len(tasks) / (time.perf_counter() - started)


def first_attempt_latencies(url: str, since: datetime) -> list[float]:
    """Seconds from each message's creation (at `since` or later) to its first attempt."""
    db = Database(url)
    first = (
        select(webhook_attempts.c.message_id, func.min(webhook_attempts.c.started_at).label("started"))
        .group_by(webhook_attempts.c.message_id)
        .subquery()
    )
    query = (
        select(webhook_messages.c.created_at, first.c.started)
        .join(first, first.c.message_id == webhook_messages.c.id)
        .where(webhook_messages.c.created_at >= since)
    )
    rows = db.call(lambda conn: conn.execute(query).all())
    db.dispose()
    return sorted((started - created).total_seconds() for created, started in rows)


def sharelinks_serve(url: str, port: int, *, inline_worker: bool = True) -> Any:
    env = {**ENV, "SHARELINKS_DATABASE_URL": url, "SHARELINKS_ACCESS_LOG": "0",
           "SHARELINKS_WORKER": "1" if inline_worker else "0"}  # fmt: skip
    args = [sys.executable, "-m", "sharelinks", "serve", "--port", str(port)]
    return server(args, env, f"http://127.0.0.1:{port}/health/live")


def latency(url: str, receiver: str, seconds: int, inline: bool) -> tuple[float, float, float, int]:
    token = prepare(url, receiver)
    port = free_port()
    with sharelinks_serve(url, port, inline_worker=inline), workers(url, 0 if inline else 1):
        base = f"http://127.0.0.1:{port}"
        # A worker process takes a second or two to start: measure from when it delivers.
        asyncio.run(fixed_rate(base, token, 50, 1, prefix="warm"))
        db = Database(url)
        deadline = time.monotonic() + 60
        while count_delivered(db) < 50 and time.monotonic() < deadline:
            time.sleep(0.1)
        db.dispose()
        since = datetime.now(UTC)
        achieved = asyncio.run(fixed_rate(base, token, 1000, seconds))
        time.sleep(3)  # let the last deliveries land
    values = first_attempt_latencies(url, since)
    return achieved, statistics.median(values) * 1000, values[int(len(values) * 0.99) - 1] * 1000, len(values)


# -- 3. ingestion with delivery on ----------------------------------------------------------------


def ingestion(url: str, receiver: str, seconds: int, inline: bool) -> tuple[Figure, int]:
    token = prepare(url, receiver)
    port = free_port()
    with sharelinks_serve(url, port, inline_worker=inline), workers(url, 0 if inline else 1):
        base = f"http://127.0.0.1:{port}"
        run_wrk("warm-up", base, events_lua(token), connections=32, seconds=2)
        name = f"events + link + outbox, worker {'inline' if inline else 'own process'}"
        figure = run_wrk(name, base, events_lua(token), connections=32, seconds=seconds)
        db = Database(url)
        time.sleep(3)
        delivered = count_delivered(db)
        db.dispose()
    return figure, delivered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--sections", default="123", help="which of the three to run, e.g. 3")
    parser.add_argument("--repeat", type=int, default=1, help="runs of section 3 (the machine's speed wanders)")
    args = parser.parse_args()
    backends = [args.only] if args.only else ["sqlite", "postgresql"]
    with nginx(free_port(), "return 200 '{\"ok\":true}';") as receiver:
        if "1" in args.sections:
            pipelines(args, backends, receiver)
        if "2" in args.sections:
            latencies(args, backends, receiver)
        if "3" in args.sections:
            ingestions(args, receiver)


def pipelines(args: argparse.Namespace, backends: list[str], receiver: str) -> None:
    print(f"\n1. Delivery pipeline into nginx `return 200` ({args.deliveries} messages, {IN_FLIGHT} in flight)")
    print(f"{'measure':<44}{'deliveries/s':>13}{'raw aiohttp/s':>15}{'ratio':>7}  target")
    for backend in backends:
        for worker_count in (1, 2):
            # The baseline right before each pipeline, so that both see the machine as it is then
            # (its speed drifts by a tenth within a run); on uvloop, as the workers are.
            raw = uvloop.run(raw_loop(receiver + "/hook", args.deliveries))
            with database(backend) as url:
                rate = pipeline(url, receiver, args.deliveries, worker_count)
            name = f"pipeline, {backend}, {worker_count} worker process(es)"
            target = ">= 0.5" if backend == "sqlite" or worker_count == 2 else "(reported)"
            print(f"{name:<44}{rate:>13.0f}{raw:>15.0f}{rate / raw:>7.2f}  {target}")


def latencies(args: argparse.Namespace, backends: list[str], receiver: str) -> None:
    print(f"\n2. Event -> first attempt while ingesting 1,000 events/s for {args.seconds} s")
    print(f"{'setup':<32}{'achieved/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'events':>8}  target")
    for backend in backends:
        for inline in (True, False):
            with database(backend) as url:
                achieved, p50, p99, count = latency(url, receiver, args.seconds, inline)
            name = f"{backend}, worker {'inline' if inline else 'own process'}"
            print(f"{name:<32}{achieved:>11.0f}{p50:>9.1f}{p99:>9.1f}{count:>8}  p99 <= 1000 ms")


def ingestions(args: argparse.Namespace, receiver: str) -> None:
    port = free_port()
    with noop_server(port):
        noop = run_wrk("no-op JSON POST (FastAPI)", f"http://127.0.0.1:{port}", NOOP_LUA, connections=32,
                       seconds=args.seconds)  # fmt: skip
    rows, notes = [], []
    for run in range(args.repeat):
        for inline in (True, False):
            with database("sqlite") as url:
                figure, delivered = ingestion(url, receiver, args.seconds, inline)
            if args.repeat > 1:
                figure = replace(figure, name=f"{figure.name} #{run + 1}")
            rows.append((figure, noop))
            notes.append(f"   {figure.name}: {delivered} delivered 3 s after the run (warm-up included)")
    print_table(
        "3. Ingestion on SQLite with Create Share Link on Event and a webhook, 32 connections",
        rows,
        {f.name: ">= 2000/s, p99 <= 50 ms" for f, _ in rows},
    )
    print("\n".join(notes))


if __name__ == "__main__":
    with machine_report():
        main()
