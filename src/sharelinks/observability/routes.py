"""/health/live, /health/ready and /metrics (unauthenticated: expose them only where you scrape from)."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import Response

from sharelinks.context import ctx
from sharelinks.http.responses import JSON
from sharelinks.observability.metrics import REGISTRY

router = APIRouter(tags=["operations"])
log = logging.getLogger("sharelinks.health")


@router.get("/health/live")
async def live() -> JSON:
    return JSON({"status": "ok"})


@router.get("/health/ready")
async def ready(request: Request) -> JSON:
    app = ctx(request)
    try:
        await app.db.run(lambda conn: conn.exec_driver_sql("SELECT 1"))
    except Exception as exc:
        log.warning("database not ready", extra={"error": type(exc).__name__})
        return JSON({"status": "unavailable", "database": "down"}, status_code=503)
    return JSON({"status": "ok", "database": app.db.dialect})


@router.get("/metrics", include_in_schema=False)
async def prometheus() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
