"""Worker processes: no message lost to `kill -9`, none delivered twice by concurrent workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import func, select

from sharelinks.db.database import Database
from sharelinks.testing.receiver import Receiver, Reply
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import webhook_messages
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import wait_until

pytestmark = pytest.mark.slow


@contextmanager
def worker_process(
    database_url: str, concurrency: int = 32, poll_seconds: float = 0.1
) -> Iterator[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "SHARELINKS_DATABASE_URL": database_url,
        "SHARELINKS_SECRET_KEY": TEST_MASTER_KEY,
        "SHARELINKS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
        # A short lease so a killed worker's claims come back within seconds, not minutes; it still
        # exceeds the total request timeout, as it must.
        "SHARELINKS_DELIVERY_LEASE_SECONDS": "3",
        "SHARELINKS_DELIVERY_TOTAL_TIMEOUT": "2",
        "SHARELINKS_DELIVERY_POLL_SECONDS": str(poll_seconds),
        "SHARELINKS_LOG_LEVEL": "WARNING",
    }
    args = [sys.executable, "-m", "sharelinks", "worker", "--concurrency", str(concurrency)]
    # Output to a file, never a pipe nobody reads: a full pipe would block the worker.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=log)
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()


def enqueue(db: Database, url: str, count: int) -> set[str]:
    def run(conn: object) -> set[str]:
        webhooks.create(conn, {"name": "load", "url": url})  # type: ignore[arg-type]
        for i in range(count):
            event = {"event": "Share Link Created", "email": f"p{i}@example.com", "share_link": f"https://s/{i}"}
            webhooks.enqueue(conn, "share_link_created", event, program_id=None, dedupe_key=str(i))  # type: ignore[arg-type]
        rows = conn.execute(select(webhook_messages.c.id))  # type: ignore[attr-defined]
        return {str(r.id) for r in rows}

    return db.call(run)


def delivered(db: Database) -> int:
    query = select(func.count()).where(webhook_messages.c.status == "delivered")
    return int(db.call(lambda conn: conn.execute(query).scalar()))


def test_a_worker_process_wakes_when_another_process_enqueues(
    db: Database, database_url: str, receiver: Receiver
) -> None:
    """No waiting for the poll: NOTIFY on PostgreSQL, the file's data_version on SQLite."""
    first = enqueue(db, receiver.url, 1)
    with worker_process(database_url, poll_seconds=60):
        receiver.wait_for(1, timeout=30)  # the worker is up and has looked at the queue
        wait_until(lambda: delivered(db) == 1)
        time.sleep(0.5)  # and now waits: for a wake-up, or a minute
        started = time.monotonic()
        later = enqueue_more(db, 3)
        receiver.wait_for(4, timeout=10)
        assert time.monotonic() - started < 10
    assert {r.header("webhook-id") for r in receiver.requests} == first | later


def enqueue_more(db: Database, count: int) -> set[str]:
    """`count` more messages to the webhook `enqueue` made; their ids."""

    def run(conn: object) -> set[str]:
        before = {r.id for r in conn.execute(select(webhook_messages.c.id))}  # type: ignore[attr-defined]
        for i in range(count):
            event = {"event": "Share Link Created", "email": f"late{i}@example.com", "share_link": f"https://s/{i}"}
            webhooks.enqueue(conn, "share_link_created", event, program_id=None, dedupe_key=f"late{i}")  # type: ignore[arg-type]
        rows = conn.execute(select(webhook_messages.c.id))  # type: ignore[attr-defined]
        return {str(r.id) for r in rows if r.id not in before}

    return db.call(run)


def test_kill_9_mid_delivery_loses_nothing(db: Database, database_url: str, receiver: Receiver) -> None:
    receiver.default = Reply(200, delay=0.1)
    ids = enqueue(db, receiver.url, 300)
    with worker_process(database_url) as first:
        receiver.wait_for(60, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    in_flight_at_kill = len(ids) - delivered(db)
    assert in_flight_at_kill > 0
    with worker_process(database_url):
        wait_until(lambda: delivered(db) == len(ids), timeout=60, interval=0.2)
    received = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(received) == ids  # every message arrived
    duplicates = {i for i, n in received.items() if n > 1}
    # Redeliveries only of what the killed worker had in flight (at most its concurrency), same ids.
    # The killed worker held at most its lanes plus the attempts awaiting their batched write.
    assert len(duplicates) <= 2 * 32


def test_four_workers_never_deliver_twice(db: Database, database_url: str, receiver: Receiver) -> None:
    if db.is_sqlite:
        pytest.skip("scale-out workers run on PostgreSQL")
    ids = enqueue(db, receiver.url, 600)
    with worker_process(database_url, 16), worker_process(database_url, 16), worker_process(database_url, 16), \
            worker_process(database_url, 16):  # fmt: skip
        wait_until(lambda: delivered(db) == len(ids), timeout=60, interval=0.2)
        time.sleep(0.5)
    received = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(received) == ids
    assert max(received.values()) == 1


def restart_postgres() -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart", "-m", "fast"],
        check=True,
        capture_output=True,
        timeout=60,
    )


def test_postgresql_restart_under_load_loses_nothing(db: Database, database_url: str, receiver: Receiver) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL only")
    if not os.path.isdir("/etc/postgresql"):
        pytest.skip("no local PostgreSQL cluster to restart")
    receiver.default = Reply(200, delay=0.05)
    ids = enqueue(db, receiver.url, 400)
    with worker_process(database_url):
        receiver.wait_for(50, timeout=30)
        restart_postgres()
        db.engine.dispose()  # this process's pooled connections died with the server
        wait_until(lambda: delivered(db) == len(ids), timeout=90, interval=0.5)
    received = Counter(r.header("webhook-id") for r in receiver.requests)
    assert set(received) == ids
