"""Create-share-link and event-ingest throughput, one server process, 32 concurrent clients.

    python -m bench.bench_api                 # SQLite and PostgreSQL
    python -m bench.bench_api --only sqlite   # one backend

Each figure is printed beside a no-op JSON POST endpoint served by the same framework and server
settings in the same run (the ceiling this machine gives FastAPI+uvicorn), as a ratio.
Targets (issue 2): >= 2,000 links/s and >= 3,000 events/s, p99 <= 50 ms, on each backend.
"""

from __future__ import annotations

import argparse
import secrets
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

from bench.harness import Figure, free_port, machine_report, noop_server, print_table, run_wrk, sharelinks_server
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.http.body import Fields
from sharelinks.ids import new_id
from sharelinks.persons.models import persons
from sharelinks.programs import service as programs
from sharelinks.testing import databases
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope

CONNECTIONS = 32


def prepare(url: str, n_persons: int) -> tuple[str, list[int]]:
    """A migrated database with a program, a token and `n_persons` persons (ids returned)."""
    db = Database(url)
    upgrade(db.engine)
    changes = programs.parse_changes(
        Fields({"label": "refer-a-friend", "domains": ["share.example.com"], "destination_url": "https://e.example/r"}),
        creating=True,
    )
    db.call(programs.create, changes)
    token = db.call(tokens.issue, name="bench", scopes=frozenset({Scope.USER_SUPPORT}), duration=timedelta(days=1))
    now = datetime.now(UTC)
    ids = [new_id() for _ in range(n_persons)]
    rows = [
        {"id": pid, "email": f"p{i}@example.com", "email_key": f"p{i}@example.com", "blocked": False, "data": {},
         "version": 1, "created_at": now, "updated_at": now}
        for i, pid in enumerate(ids)
    ]  # fmt: skip
    with db.transaction() as conn:
        for start in range(0, len(rows), 5000):
            conn.execute(insert(persons), rows[start : start + 5000])
    db.dispose()
    return token.access_token, ids


def shareables_lua(token: str, ids_file: Path, start: int = 0) -> str:
    """POST a link for the next prepared person: from line `start` on, so each run gets fresh persons."""
    return f"""
local ids = {{}}
for line in io.lines("{ids_file}") do ids[#ids + 1] = line end
local i = {start}
request = function()
  i = i + 1
  local id = ids[(i - 1) % #ids + 1]
  return wrk.format("POST", "/v3/persons/" .. id .. "/shareables",
    {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}, '{{"label": "refer-a-friend"}}')
end
"""


def events_lua(token: str) -> str:
    run = secrets.token_hex(3)
    return f"""
local i = 0
request = function()
  i = i + 1
  local body = '{{"event_name": "converted", "data": {{"email": "e{run}-' .. i ..
    '@example.com", "first_name": "Ev"}}}}'
  return wrk.format("POST", "/v5/events",
    {{["Authorization"] = "Bearer {token}", ["Content-Type"] = "application/json"}}, body)
end
"""


NOOP_LUA = """
request = function()
  return wrk.format("POST", "/noop", {["Content-Type"] = "application/json"}, '{"label": "refer-a-friend"}')
end
"""


def bench_backend(backend: str, seconds: int, noop: Figure) -> list[tuple[Figure, Figure]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = (
            f"sqlite:///{tmp}/bench.db"
            if backend == "sqlite"
            else databases.create_postgres_database("sharelinks_bench")
        )
        try:
            # Enough persons that every request in the run creates a *new* link.
            token, ids = prepare(url, n_persons=8000 * (seconds + 2))
            ids_file = Path(tmp) / "ids.txt"
            ids_file.write_text("\n".join(map(str, ids)))
            port = free_port()
            with sharelinks_server(url, port):
                base = f"http://127.0.0.1:{port}"
                # Warm-up runs (unmeasured) compile every statement and fill caches first.
                warm = run_wrk("warm-up", base, shareables_lua(token, ids_file), connections=CONNECTIONS, seconds=2)
                links = run_wrk(f"create share link ({backend})", base, shareables_lua(token, ids_file, warm.requests),
                                connections=CONNECTIONS, seconds=seconds)  # fmt: skip
                if warm.requests + links.requests > len(ids):
                    raise SystemExit("the run outpaced the prepared persons; raise n_persons")
                run_wrk("warm-up", base, events_lua(token), connections=CONNECTIONS, seconds=2)
                events = run_wrk(f"POST /v5/events ({backend})", base, events_lua(token),
                                 connections=CONNECTIONS, seconds=seconds)  # fmt: skip
        finally:
            if backend != "sqlite":
                databases.drop_postgres_database(url)
    return [(links, noop), (events, noop)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    port = free_port()
    with noop_server(port):
        noop = run_wrk("no-op JSON POST (FastAPI)", f"http://127.0.0.1:{port}", NOOP_LUA,
                       connections=CONNECTIONS, seconds=args.seconds)  # fmt: skip
    rows: list[tuple[Figure, Figure]] = []
    for backend in [args.only] if args.only else ["sqlite", "postgresql"]:
        rows += bench_backend(backend, args.seconds, noop)
    targets = {}
    for backend in ("sqlite", "postgresql"):
        targets[f"create share link ({backend})"] = ">= 2000/s, p99 <= 50 ms"
        targets[f"POST /v5/events ({backend})"] = ">= 3000/s, p99 <= 50 ms"
    print_table(f"API throughput, 1 server process, {CONNECTIONS} connections, {args.seconds} s each", rows, targets)
    print(f"baseline: {noop.name}, {noop.rps:.0f} req/s, p99 {noop.p99_ms:.2f} ms")


if __name__ == "__main__":
    with machine_report():
        main()
