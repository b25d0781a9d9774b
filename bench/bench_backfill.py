"""Backfill of generated customers into a links CSV, beside raw sqlite3 inserts of the same rows.

    python -m bench.bench_backfill                  # 1,000,000 customers, SQLite
    python -m bench.bench_backfill --rows 200000

The baseline, in the same run: Python's sqlite3 `executemany` inserting the same persons and links
(same schema, ids and codes drawn up front, one transaction per 50,000 rows) into a fresh database.
The backfill is the real command (`sharelinks backfill`, a subprocess); its peak RSS is read from the
kernel's accounting of children. Target (issue 6): >= 0.5 of the baseline's rate, peak RSS <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import ROOT
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.http.body import Fields
from sharelinks.ids import new_id
from sharelinks.programs import service as programs
from sharelinks.shareables.codes import ALPHABET

CHUNK = 50_000


def migrated(path: Path) -> int:
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    body = {"label": "refer-a-friend", "domains": ["share.example.com"], "destination_url": "https://e.example/r"}
    program = db.call(programs.create, programs.parse_changes(Fields(body), creating=True))
    db.dispose()
    return program.id


def raw_inserts(path: Path, rows: int) -> float:
    """Rows per second of plain executemany inserts of persons and links."""
    program_id = migrated(path)
    now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for start in range(0, rows, CHUNK):
        people, links = [], []
        for i in range(start, min(rows, start + CHUNK)):
            pid = new_id()
            code = "".join(secrets.choice(ALPHABET) for _ in range(10))  # 10: no collisions at 1M rows
            people.append((pid, f"c{i}@example.com", f"c{i}@example.com", f"C{i}", now, now))
            links.append((new_id(), pid, program_id, code, code, now, now))
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


def backfill(path: Path, source: Path, out: Path) -> tuple[float, float, str]:
    migrated(path)
    env = {**os.environ, "SHARELINKS_DATABASE_URL": f"sqlite:///{path}", "SHARELINKS_LOG_LEVEL": "WARNING"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sharelinks", "backfill", str(source), "--program", "refer-a-friend", "--out", str(out)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return elapsed, max(peak_kb, before) / 1024, done.stdout.strip().splitlines()[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "customers.csv"
        with source.open("w") as f:
            f.write("email,first_name,plan\n")
            for i in range(args.rows):
                f.write(f"c{i}@example.com,C{i},{'gold' if i % 7 == 0 else 'basic'}\n")
        baseline = raw_inserts(folder / "raw.db", args.rows)
        elapsed, peak_mb, summary = backfill(folder / "backfill.db", source, folder / "links.csv")
        rate = args.rows / elapsed
        lines = sum(1 for _ in (folder / "links.csv").open()) - 1
    print(f"\nBackfill of {args.rows:,} generated customers on SQLite (links CSV written: {lines:,} rows)")
    print(f"{'measure':<44}{'rows/s':>10}{'baseline rows/s':>17}{'ratio':>7}{'peak RSS MB':>13}  target")
    print(f"{'sharelinks backfill (whole command)':<44}{rate:>10,.0f}{baseline:>17,.0f}{rate / baseline:>7.2f}"
          f"{peak_mb:>13.0f}  >= 0.5, RSS <= 300 MB")  # fmt: skip
    print(f"baseline: raw sqlite3 executemany of the same persons and links; {summary}")
    print(
        json.dumps({"rows": args.rows, "rate": round(rate), "baseline": round(baseline), "peak_rss_mb": round(peak_mb)})
    )


if __name__ == "__main__":
    main()
