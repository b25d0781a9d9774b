"""Backfill of generated customers into a links CSV, beside raw inserts of the same rows.

    python -m bench.bench_backfill                  # 1,000,000 customers, SQLite then PostgreSQL
    python -m bench.bench_backfill --rows 200000 --only sqlite

Baselines, in the same run, into a fresh database of the same schema, with ids and codes drawn the
same way and one transaction per 50,000 rows: on SQLite Python's sqlite3 `executemany`; on PostgreSQL
psycopg's `COPY … FROM STDIN` of the same persons and links. The backfill is the real command
(`sharelinks backfill`, a subprocess); its peak RSS is the kernel's figure for that child (wait4).
Target (issue 6): on SQLite >= 0.5 of the baseline's rate; peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from bench.harness import ROOT, machine_report
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.http.body import Fields
from sharelinks.ids import new_id
from sharelinks.programs import service as programs
from sharelinks.shareables.codes import ALPHABET
from sharelinks.testing import databases

CHUNK = 50_000


def migrated(url: str) -> int:
    db = Database(url)
    upgrade(db.engine)
    body = {"label": "refer-a-friend", "domains": ["share.example.com"], "destination_url": "https://e.example/r"}
    program = db.call(programs.create, programs.parse_changes(Fields(body), creating=True))
    db.dispose()
    return program.id


def generated(rows: int, program_id: int, now: object) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Persons and links as the baselines insert them, CHUNK at a time."""
    for start in range(0, rows, CHUNK):
        people, links = [], []
        for i in range(start, min(rows, start + CHUNK)):
            pid = new_id()
            code = "".join(secrets.choice(ALPHABET) for _ in range(10))  # 10: no collisions at 1M rows
            people.append((pid, f"c{i}@example.com", f"c{i}@example.com", f"C{i}", now, now))
            links.append((new_id(), pid, program_id, code, code, now, now))
        yield people, links


def raw_inserts(path: Path, rows: int) -> float:
    """Rows per second of plain sqlite3 executemany inserts of persons and links."""
    program_id = migrated(f"sqlite:///{path}")
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for people, links in generated(rows, program_id, now):
        with conn:
            conn.executemany(
                "INSERT INTO persons (id, email, email_key, first_name, blocked, data, version, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, 0, '{}', 1, ?, ?)",
                people,
            )
            conn.executemany(
                "INSERT INTO shareables (id, person_id, program_id, key, label, code, code_key, domain, data,"
                " created_at, updated_at) VALUES (?, ?, ?, 'refer-a-friend', 'refer-a-friend', ?, ?,"
                " 'share.example.com', '{}', ?, ?)",
                links,
            )
    elapsed = time.perf_counter() - started
    conn.close()
    return rows / elapsed


def raw_copy(url: str, rows: int) -> float:
    """Rows per second of psycopg COPY of persons and links."""
    program_id = migrated(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        for people, links in generated(rows, program_id, now):
            with conn.transaction(), conn.cursor() as cur:
                with cur.copy("COPY persons (id, email, email_key, first_name, created_at, updated_at, blocked,"
                              " data, version) FROM STDIN") as copy:  # fmt: skip
                    for person in people:
                        copy.write_row((*person, False, "{}", 1))
                with cur.copy("COPY shareables (id, person_id, program_id, code, code_key, created_at, updated_at,"
                              " key, label, domain, data) FROM STDIN") as copy:  # fmt: skip
                    for link in links:
                        copy.write_row((*link, "refer-a-friend", "refer-a-friend", "share.example.com", "{}"))
    return rows / (time.perf_counter() - started)


def backfill(url: str, source: Path, out: Path) -> tuple[float, float, str]:
    """(seconds, peak RSS MB, first line of the summary) of `sharelinks backfill` into `url`."""
    migrated(url)
    env = {**os.environ, "SHARELINKS_DATABASE_URL": url, "SHARELINKS_LOG_LEVEL": "WARNING"}
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "sharelinks", "backfill", str(source), "--program", "refer-a-friend", "--out",
             str(out)], env=env, cwd=ROOT, stdout=stdout, stderr=stderr, text=True,
        )  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        stdout.seek(0)
        stderr.seek(0)
        if proc.returncode != 0:
            raise SystemExit(stderr.read()[-2000:])
        return elapsed, usage.ru_maxrss / 1024, stdout.read().strip().splitlines()[0]


@contextmanager
def database(backend: str, folder: Path, name: str) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{folder / name}.db"
        return
    url = databases.create_postgres_database(f"sharelinks_bench_{name}")
    try:
        yield url
    finally:
        databases.drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "customers.csv"
        with source.open("w") as f:
            f.write("email,first_name,plan\n")
            for i in range(args.rows):
                f.write(f"c{i}@example.com,C{i},{'gold' if i % 7 == 0 else 'basic'}\n")
        for backend in [args.only] if args.only else ["sqlite", "postgresql"]:
            with database(backend, folder, "raw") as url:
                baseline = (
                    raw_inserts(folder / "raw.db", args.rows) if backend == "sqlite" else raw_copy(url, args.rows)
                )
            with database(backend, folder, "backfill") as url:
                out = folder / f"links-{backend}.csv"
                elapsed, peak_mb, summary = backfill(url, source, out)
            lines = sum(1 for _ in out.open()) - 1
            results.append((backend, args.rows / elapsed, baseline, peak_mb, lines, summary))
    print(f"\nBackfill of {args.rows:,} generated customers into a links CSV")
    print(f"{'measure':<36}{'rows/s':>9}  {'baseline':<21}{'rows/s':>9}{'ratio':>7}{'peak RSS MB':>13}  target")
    for backend, rate, baseline, peak_mb, lines, summary in results:
        against = "sqlite3 executemany" if backend == "sqlite" else "psycopg COPY"
        target = ">= 0.5, RSS <= 300 MB" if backend == "sqlite" else "reported; RSS <= 300 MB"
        print(f"{'sharelinks backfill, ' + backend:<36}{rate:>9,.0f}  {against:<21}{baseline:>9,.0f}"
              f"{rate / baseline:>7.2f}{peak_mb:>13.0f}  {target}")  # fmt: skip
        print(f"  CSV rows written: {lines:,}; {summary}")
        print(json.dumps({"backend": backend, "rows": args.rows, "rate": round(rate), "baseline": round(baseline),
                          "peak_rss_mb": round(peak_mb)}))  # fmt: skip


if __name__ == "__main__":
    with machine_report():
        main()
