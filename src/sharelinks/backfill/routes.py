"""/v6/batches: upload a customer file, follow the job, download links and rejects. CLIENT_ADMIN."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from fastapi import APIRouter, Depends
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import FileResponse

from sharelinks.backfill import service
from sharelinks.backfill.rows import detect_format
from sharelinks.backfill.schemas import job_response
from sharelinks.context import AppContext, ctx
from sharelinks.http.auth import require
from sharelinks.http.dates import request_zone
from sharelinks.http.errors import ApiError
from sharelinks.http.paging import page_from
from sharelinks.http.responses import JSON
from sharelinks.ids import new_id
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["backfill"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])
log = logging.getLogger("sharelinks.backfill")
COPY_CHUNK = 1 << 20


def start(app: AppContext, job_id: int) -> None:
    """Run a job in the background of this server process (the only one holding its file)."""

    async def runner() -> None:
        try:
            await service.run(app.db, job_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("backfill job %s failed", job_id)

    task = asyncio.get_running_loop().create_task(runner(), name=f"backfill-{job_id}")
    app.background.add(task)
    task.add_done_callback(app.background.discard)


async def resume_unfinished(app: AppContext) -> None:
    for job in await app.db.run(service.unfinished):
        if Path(job.input_path).is_file():
            start(app, job.id)


async def accept_upload(
    app: AppContext, upload: UploadFile, *, program_label: str, push: str | None, fire_webhooks: bool | None
) -> service.Job:
    """Keep an uploaded customer file in the data folder, create its job and start it.

    Nothing is kept when the job cannot be created. Called while the upload is still open.
    """
    folder = app.settings.resolved_data_dir() / "batches"
    folder.mkdir(parents=True, exist_ok=True)
    name = str(new_id())
    fmt = detect_format(Path(upload.filename or ""))
    input_path = folder / f"{name}.{fmt}"
    with input_path.open("wb") as target:
        while chunk := await upload.read(COPY_CHUNK):
            target.write(chunk)
    try:
        job = await app.db.run(
            lambda conn: service.create(
                conn,
                program_label=program_label,
                input_path=input_path,
                input_format=fmt,
                output_path=folder / f"{name}.links.csv",
                rejects_path=folder / f"{name}.rejects.csv",
                push=push,
                fire_webhooks=fire_webhooks,
            )
        )
    except ApiError:
        input_path.unlink(missing_ok=True)
        raise
    start(app, job.id)
    return job


@router.post("/v6/batches")
async def create_batch(request: Request) -> JSON:
    """multipart/form-data: `file` (CSV or JSON Lines), `program_label`, optional `push`, `fire_webhooks`."""
    app = ctx(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError("unsupported_media_type", message="Upload the file as multipart/form-data.")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ApiError("invalid_batch_file", message="A `file` field with the customer file is required.")
        label = form.get("program_label")
        if not isinstance(label, str) or not label:
            raise ApiError("label_is_missing", message="program_label is required.")
        push = form.get("push")
        fire = form.get("fire_webhooks")
        fire_flag = None if not isinstance(fire, str) or fire == "" else fire.lower() in ("1", "true", "yes", "on")
        job = await accept_upload(
            app, upload, program_label=label, push=push if isinstance(push, str) else None, fire_webhooks=fire_flag
        )
    return JSON(job_response(job, request_zone(request)))


@router.get("/v6/batches")
async def list_batches(request: Request) -> JSON:
    page = page_from(request)
    zone = request_zone(request)
    return JSON([job_response(j, zone) for j in await ctx(request).db.run(service.list_jobs, page.offset, page.limit)])


@router.get("/v6/batches/{batch_id}")
async def get_batch(request: Request, batch_id: str) -> JSON:
    return JSON(job_response(await ctx(request).db.run(service.require, batch_id), request_zone(request)))


@router.post("/v6/batches/{batch_id}/cancel")
async def cancel_batch(request: Request, batch_id: str) -> JSON:
    return JSON(job_response(await ctx(request).db.run(service.cancel, batch_id), request_zone(request)))


async def _file(request: Request, batch_id: str, which: str) -> FileResponse:
    job = await ctx(request).db.run(service.require, batch_id)
    if job.status != "done":
        raise ApiError("batch_not_done", batch_id=batch_id, job_status=job.status)
    path = job.output_path if which == "results" else job.rejects_path
    return FileResponse(path, media_type="text/csv; charset=utf-8", filename=f"batch-{job.id}-{which}.csv")


@router.get("/v6/batches/{batch_id}/results")
async def results(request: Request, batch_id: str) -> FileResponse:
    return await _file(request, batch_id, "results")


@router.get("/v6/batches/{batch_id}/rejects")
async def rejects(request: Request, batch_id: str) -> FileResponse:
    return await _file(request, batch_id, "rejects")
