"""Backfill jobs: create, run in committed chunks (resumable), cancel, and write the result files.

Running: the input is read again from the start, each record judged (so duplicates within the file
are known), records already committed are skipped, and every chunk of valid rows is processed in one
transaction together with the job's new position and counts. A job stopped any way at all (Ctrl-C,
`kill -9`, power loss) continues from its last committed chunk: no row twice, none missing.

Files: the output CSV (email, partner_user_id, person_id, code, share_link, in input order) and the
rejects CSV (row, reason, email, partner_user_id) grow chunk by chunk as chunks commit (backfill.files);
when a stop fell between a commit and its lines, they are rebuilt from the database's state at the
end (`write_files`). Either way they are renamed into place complete, identical on every re-run.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, update

from sharelinks import clock
from sharelinks.backfill import bulk, files
from sharelinks.backfill.models import batch_jobs
from sharelinks.backfill.rows import Judge, Reject, Row, records
from sharelinks.db.database import Database
from sharelinks.db.lookup import require_by_id
from sharelinks.http.errors import ApiError
from sharelinks.ids import new_id, parse_id
from sharelinks.programs import service as programs
from sharelinks.programs.models import programs as programs_table
from sharelinks.programs.service import Program
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import webhooks as webhooks_table

CHUNK = 1000
ACTIVE = ("pending", "in_progress")


class Canceled(Exception):
    pass


@dataclass(frozen=True)
class Job:
    id: int
    program_id: int
    program_label: str
    status: str
    input_path: str
    input_format: str
    output_path: str
    rejects_path: str
    push_webhook_id: int | None
    fire_webhooks: bool
    rows_done: int
    rows_read: int
    succeeded: int
    rejected: int
    links_created: int
    links_reused: int
    output_bytes: int
    rejects_bytes: int
    error: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


_SELECT = select(batch_jobs, programs_table.c.label.label("program_label")).join(programs_table)


def _to_job(row: Any) -> Job:
    return Job(**{f: getattr(row, f) for f in Job.__dataclass_fields__})


def resolve_push_target(conn: Connection, raw: str | None) -> int | None:
    """A webhook id, or a connector id (its webhook): where every row's link is pushed."""
    if not raw:
        return None
    target = parse_id(raw)
    if target is not None:
        if webhooks.get(conn, target) is not None:
            return target
        found = conn.execute(select(webhooks_table.c.id).where(webhooks_table.c.connector_id == target)).scalar()
        if found is not None:
            return int(found)
    raise ApiError("push_target_not_found", push=raw[:40])


def create(
    conn: Connection,
    *,
    program_label: str,
    input_path: Path,
    input_format: str,
    output_path: Path,
    rejects_path: Path,
    push: str | None,
    fire_webhooks: bool | None,
) -> Job:
    program = programs.require_by_label(conn, program_label)
    push_webhook_id = resolve_push_target(conn, push)
    now = clock.now()
    job_id = new_id()
    conn.execute(
        batch_jobs.insert(),
        {
            "id": job_id, "program_id": program.id, "status": "pending", "input_path": str(input_path),
            "input_format": input_format, "output_path": str(output_path), "rejects_path": str(rejects_path),
            "push_webhook_id": push_webhook_id,
            # Pushing implies firing; without a push target, webhooks fire only when asked.
            "fire_webhooks": fire_webhooks if fire_webhooks is not None else push_webhook_id is not None,
            "rows_done": 0, "rows_read": 0, "succeeded": 0, "rejected": 0, "links_created": 0, "links_reused": 0,
            "output_bytes": 0, "rejects_bytes": 0, "error": None, "created_at": now, "updated_at": now,
            "finished_at": None,
        },
    )  # fmt: skip
    return require(conn, str(job_id))


def get(conn: Connection, job_id: int) -> Job | None:
    row = conn.execute(_SELECT.where(batch_jobs.c.id == job_id)).first()
    return None if row is None else _to_job(row)


def require(conn: Connection, raw_id: str) -> Job:
    return require_by_id(conn, raw_id, get, "batch_not_found", "batch_id")


def list_jobs(conn: Connection, offset: int = 0, limit: int = 100) -> list[Job]:
    query = _SELECT.order_by(batch_jobs.c.created_at.desc()).offset(offset).limit(limit)
    return [_to_job(r) for r in conn.execute(query)]


def unfinished(conn: Connection) -> list[Job]:
    return [_to_job(r) for r in conn.execute(_SELECT.where(batch_jobs.c.status.in_(ACTIVE)))]


def cancel(conn: Connection, raw_id: str) -> Job:
    job = require(conn, raw_id)
    if job.status in ACTIVE:
        _set(conn, job.id, status="canceled", finished_at=clock.now())
    return require(conn, raw_id)


def _set(conn: Connection, job_id: int, **values: Any) -> None:
    conn.execute(update(batch_jobs).where(batch_jobs.c.id == job_id).values(**values, updated_at=clock.now()))


def _apply(conn: Connection, job_id: int, program: Program, rows: list[Row], rejects: list[Reject], upto: int,
           consumed: int, lengths: tuple[int, int]) -> tuple[bytes, bytes]:  # fmt: skip
    """One chunk and the job's new position, in one transaction; returns the chunk's lines for the
    output and rejects files, whose new lengths (after `lengths`) are committed with it."""
    status = conn.execute(select(batch_jobs.c.status).where(batch_jobs.c.id == job_id).with_for_update()).scalar()
    if status != "in_progress":
        raise Canceled
    job = get(conn, job_id)
    assert job is not None
    linked, refused = bulk.process(conn, program, rows, push_webhook_id=job.push_webhook_id,
                                   fire_webhooks=job.fire_webhooks)  # fmt: skip
    output, rejected = files.render(rows, linked, rejects + refused)
    created = sum(1 for link in linked.values() if link.created)
    _set(conn, job_id, rows_done=upto, rows_read=job.rows_read + consumed, succeeded=job.succeeded + len(linked),
         rejected=job.rejected + len(rejects) + len(refused), links_created=job.links_created + created,
         links_reused=job.links_reused + len(linked) - created, output_bytes=lengths[0] + len(output),
         rejects_bytes=lengths[1] + len(rejected))  # fmt: skip
    return output, rejected


def _start(conn: Connection, job_id: int) -> tuple[Job, Program]:
    job = get(conn, job_id)
    assert job is not None
    if job.status not in ACTIVE:
        raise ApiError("batch_not_active", batch_id=str(job_id), job_status=job.status)
    _set(conn, job_id, status="in_progress", error=None)
    program = programs.get_by_id(conn, job.program_id)
    assert program is not None
    return job, program


Progress = Callable[[Job], None]


async def run(db: Database, job_id: int, progress: Progress | None = None, chunk: int = CHUNK) -> Job:
    """Process the job from where it stands to the end, then write its files. Returns the final job."""
    job, program = await db.run(_start, job_id)
    parts = files.PartFiles(job.output_path, job.rejects_path, (job.output_bytes, job.rejects_bytes))
    judge = Judge()
    rows: list[Row] = []
    rejects: list[Reject] = []
    number = 0
    consumed = 0
    try:
        for record in records(Path(job.input_path), job.input_format):
            number += 1
            verdict = judge.judge(number, record)
            if number <= job.rows_done:
                continue  # committed before: judged only to remember its identity
            consumed += 1
            if isinstance(verdict, Reject):
                rejects.append(verdict)
            elif verdict is not None:
                rows.append(verdict)
            if len(rows) >= chunk:
                parts.append(*await db.run(_apply, job_id, program, rows, rejects, number, consumed, parts.lengths))
                rows, rejects, consumed = [], [], 0
                if progress is not None:
                    progress(await db.run(require, str(job_id)))
        if rows or rejects or consumed:
            parts.append(*await db.run(_apply, job_id, program, rows, rejects, number, consumed, parts.lengths))
        del judge  # its identity set is as large as the file; a rebuild of the results makes another
        if parts.intact:
            parts.finish()
        else:
            await write_files(db, job_id)
        await db.run(lambda conn: _set(conn, job_id, status="done", finished_at=clock.now()))
    except Canceled:
        parts.discard()
    except Exception as exc:
        parts.discard()
        why = f"{type(exc).__name__}: {exc}"[:1000]
        await db.run(lambda conn: _set(conn, job_id, status="failed", error=why, finished_at=clock.now()))
        raise
    final = await db.run(require, str(job_id))
    if progress is not None:
        progress(final)
    return final


def _lookup(conn: Connection, program_label: str, rows: list[Row]) -> dict[str, tuple[int, str, str]]:
    """identity → (person_id, domain, code) for rows already processed."""
    people = bulk.person_rows(conn, rows)
    links = bulk.links_of(conn, [p.id for p in people.values()], program_label)
    return {
        identity: (person.id, links[person.id].domain, links[person.id].code)
        for identity, person in people.items()
        if person.id in links
    }


async def write_files(db: Database, job_id: int, lookup_chunk: int = 1000) -> None:
    job = await db.run(require, str(job_id))
    out_tmp, rej_tmp = Path(job.output_path + ".part"), Path(job.rejects_path + ".part")
    for path in (out_tmp, rej_tmp):
        path.parent.mkdir(parents=True, exist_ok=True)
    judge = Judge()
    with (
        out_tmp.open("w", newline="", encoding="utf-8") as out_file,
        rej_tmp.open("w", newline="", encoding="utf-8") as rej_file,
    ):
        output, rejected = csv.writer(out_file, lineterminator="\n"), csv.writer(rej_file, lineterminator="\n")
        output.writerow(files.OUTPUT_HEADER)
        rejected.writerow(files.REJECTS_HEADER)
        pending: list[Row] = []

        async def flush() -> None:
            found = await db.run(_lookup, job.program_label, pending)
            for row in pending:
                hit = found.get(row.identity)
                if hit is None:
                    rejected.writerow(files.reject_line(bulk.taken(row)))
                else:
                    output.writerow(files.link_line(row, *hit))
            pending.clear()

        for number, record in enumerate(records(Path(job.input_path), job.input_format), start=1):
            verdict = judge.judge(number, record)
            if verdict is None:
                continue
            if isinstance(verdict, Reject):
                if pending:
                    await flush()  # keep the files in input order
                rejected.writerow(files.reject_line(verdict))
                continue
            pending.append(verdict)
            if len(pending) >= lookup_chunk:
                await flush()
        if pending:
            await flush()
    os.replace(out_tmp, job.output_path)
    os.replace(rej_tmp, job.rejects_path)
