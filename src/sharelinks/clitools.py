"""What every `sharelinks` subcommand shares: the consoles, the database, error output."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer
from rich.console import Console

from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.http.errors import ApiError

# Piped or redirected (`| awk '{print $2}'`, `> file`), a listing keeps every column whole: rich
# would otherwise fit it to 80 columns and cut ids short with an ellipsis.
out = Console(width=None if sys.stdout.isatty() else 1000)
err = Console(stderr=True)


def database(settings: Settings) -> Database:
    return Database(settings.database_url, pool_size=2)


def migrated_database(settings: Settings | None = None) -> Database:
    db = database(settings or Settings.from_env())
    upgrade(db.engine)
    return db


def fail(error: ApiError) -> NoReturn:
    err.print(f"[red]error[/red] {error.code}: {error.message} {error.parameters or ''}")
    raise typer.Exit(code=2)


def safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def tune_gc() -> None:
    """Fewer, cheaper garbage collections in a long-running process (`serve`, `worker`).

    Everything imported so far is frozen out of the collector's view, and the youngest generation is
    collected less often: a full collection otherwise walks every object and showed up as 50-100 ms
    stalls in the p99 of our API benchmarks. In a delivery worker, aiohttp's objects alive across
    requests in flight made the collector run 1,400 times for 20,000 deliveries (gen2 over the whole
    heap a dozen times): 30 µs of every delivery, against 0.1 µs after this (gc.callbacks, in process).
    The young generation is collected every 5,000 allocations and the middle one every 500 of those
    (the same 2.5 million allocations as 50,000 times 50 before): with 50,000, redirects from distinct
    visitors (each click new tuples in the repeat window) saw young-generation passes of 7-12 ms,
    p99 6.3-6.5 ms; with 5,000, 5.6-6.0, the same throughput there, for the API and the worker
    (interleaved runs of the three benches).
    """
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(5_000, 500, 100)
