"""The baseline: a no-op JSON POST endpoint on the same framework and server settings as Sharelinks."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.requests import Request

from sharelinks.http.responses import JSON

app = FastAPI()


@app.post("/noop")
async def noop(request: Request) -> JSON:
    await request.body()
    return JSON({"ok": True})
