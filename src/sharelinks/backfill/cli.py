"""`sharelinks backfill`: share links for a whole customer file, with a progress bar and a summary."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sharelinks.backfill import service
from sharelinks.backfill.rows import count_records, detect_format
from sharelinks.clitools import err, fail, migrated_database, out
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.http.errors import ApiError

# Rows per transaction from the command line: larger than the server's, which must not hold its event
# loop for long.
CLI_CHUNK = 5000


def backfill(
    source: Annotated[str | None, typer.Argument(help="CSV or JSON Lines file; '-' reads stdin.")] = None,
    program: Annotated[str | None, typer.Option(help="The program's label.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="Links CSV to write.")] = None,
    rejects: Annotated[Path | None, typer.Option(help="Rejects CSV (default: beside --out).")] = None,
    push: Annotated[str | None, typer.Option(help="A connector or webhook id to push every link to.")] = None,
    fire_webhooks: Annotated[bool | None, typer.Option(help="Send share_link_created for new links.")] = None,
    input_format: Annotated[str | None, typer.Option("--format", help="csv or jsonl (default: by extension).")] = None,
    resume: Annotated[str | None, typer.Option(help="Continue an interrupted job by its id.")] = None,
) -> None:
    """Create (or reuse) a share link for every customer in a file; resumable after any interruption."""
    settings = Settings.from_env()
    migrated_database(settings).dispose()
    # Checkpoints in the background (SQLite): no chunk's commit waits for one. No memory-mapped I/O
    # and a bounded page cache: a backfill touches the whole file, and its memory must stay bounded
    # (peak RSS 253 MB at a million rows). 96 MB: from 16 MB, the million-row rate rose by a fifth.
    db = Database(settings.database_url, background_checkpoints=True, mmap_bytes=0, cache_mib=96)
    db.start_background_tasks()
    try:
        if resume:
            job = db.call(service.require, resume)
        else:
            job = _create(db, settings, source, program, out_path, rejects, push, fire_webhooks, input_format)
    except ApiError as error:
        fail(error)
    total = max(count_records(Path(job.input_path)) - (1 if job.input_format == "csv" else 0), 1)
    columns = (
        TextColumn("[bold]backfill"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err) as bar:
        task = bar.add_task("rows", total=total, completed=job.rows_done, rate="-")

        def progress(current: service.Job) -> None:
            bar.update(task, completed=current.rows_done)
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:,.0f}" if speed else "-")

        try:
            final = asyncio.run(service.run(db, job.id, progress, chunk=CLI_CHUNK))
        except KeyboardInterrupt:
            err.print(f"interrupted; continue with: sharelinks backfill --resume {job.id}")
            raise typer.Exit(code=130) from None
    out.print(
        f"job {final.id}: {final.status}; read {final.rows_read:,}, succeeded {final.succeeded:,} "
        f"({final.links_created:,} new links, {final.links_reused:,} reused), rejected {final.rejected:,}"
    )
    out.print(f"links: {final.output_path}\nrejects: {final.rejects_path}")
    if final.status != "done":
        raise typer.Exit(code=1)


def _create(db: Database, settings: Settings, source: str | None, program: str | None, out_path: Path | None,
            rejects: Path | None, push: str | None, fire: bool | None, fmt: str | None) -> service.Job:  # fmt: skip
    if not source or not program or not out_path:
        err.print("give a file, --program and --out (or --resume JOB_ID)")
        raise typer.Exit(code=2)
    if source == "-":
        # A job must be able to read its input again after a crash: stdin is kept in the data folder.
        folder = settings.resolved_data_dir() / "batches"
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=folder, suffix=f".{fmt or 'csv'}", delete=False) as spool:
            shutil.copyfileobj(sys.stdin.buffer, spool)
        path = Path(spool.name)
    else:
        path = Path(source).resolve()
        if not path.is_file():
            err.print(f"no such file: {source}")
            raise typer.Exit(code=2)
    out_file = out_path.resolve()
    rejects_file = (rejects or out_file.with_name(out_file.stem + ".rejects.csv")).resolve()
    chosen = fmt or detect_format(path)
    return db.call(
        lambda conn: service.create(
            conn,
            program_label=program,
            input_path=path,
            input_format=chosen,
            output_path=out_file,
            rejects_path=rejects_file,
            push=push,
            fire_webhooks=fire,
        )
    )
