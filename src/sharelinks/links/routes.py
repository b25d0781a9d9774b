"""Stats (JSON or CSV) and Extole's barcode endpoint. The redirects themselves live in links.router."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.errors import ApiError
from sharelinks.http.responses import JSON
from sharelinks.links import pull, qr, stats
from sharelinks.tokens.scopes import Scope

support = APIRouter(tags=["links"], dependencies=[Depends(require(Scope.USER_SUPPORT))])
admin = APIRouter(tags=["links"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])
public = APIRouter(tags=["links"])


def _day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ApiError("invalid_parameter", name=name, message=f"{name} is a date, YYYY-MM-DD.") from None


def _render(request: Request, found: stats.Stats) -> Response:
    days = [{"date": d.day.isoformat(), **{m: getattr(d, m) for m in stats.MEASURES}} for d in found.by_day]
    if request.query_params.get("format") == "csv" or "text/csv" in request.headers.get("accept", ""):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["date", *stats.MEASURES])
        for d in days:
            writer.writerow([d["date"], *(d[m] for m in stats.MEASURES)])
        return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
    body: dict[str, Any] = {m: getattr(found, m) for m in stats.MEASURES}
    return JSON({**body, "by_day": days})


@support.get("/v6/shareables/{code}/stats")
async def shareable_stats(request: Request, code: str) -> Response:
    found = await ctx(request).db.run(stats.for_shareable, code, _day(request, "since"), _day(request, "until"))
    return _render(request, found)


@support.get("/v6/share-link")
async def share_link(request: Request) -> Response:
    """Get or create a person's link (send-time pull). Repeat calls are answered from memory."""
    query = request.query_params
    email = (query.get("email") or "").strip().lower() or None
    puid = (query.get("partner_user_id") or "").strip() or None
    key = (email or "", puid or "", query.get("program") or "")
    app = ctx(request)
    found = app.pulls.get(key)
    if found is None:
        found = await app.db.run(pull.pull, email, puid, query.get("program") or None)
        app.pulls.put(key, found)
    return JSON(found.as_json(), headers={"Cache-Control": "private, max-age=300"})


@admin.get("/v6/programs/{label}/stats")
async def program_stats(request: Request, label: str) -> Response:
    found = await ctx(request).db.run(stats.for_program, label, _day(request, "since"), _day(request, "until"))
    return _render(request, found)


def _pixels(request: Request, name: str, code: str, low: int, high: int, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(code, params={name: raw[:20]})
    return int(raw)


@public.get("/v4/barcode")
async def barcode(request: Request) -> Response:
    """Extole's barcode endpoint: QR_CODE only, a PNG of exactly width x height."""
    kind = request.query_params.get("type")
    if not kind:
        raise ApiError("missing_type")
    if kind != "QR_CODE":
        raise ApiError("invalid_parameter", name="type", message="Only QR_CODE is supported.")
    content = request.query_params.get("content")
    if not content or len(content) > 2000:
        raise ApiError("invalid_barcode_content")
    width = _pixels(request, "width", "invalid_barcode_width", qr.SIZE_MIN, qr.SIZE_MAX, 300)
    height = _pixels(request, "height", "invalid_barcode_height", qr.SIZE_MIN, qr.SIZE_MAX, 300)
    margin = _pixels(request, "margin_width", "invalid_barcode_margin_width", 0, qr.MARGIN_MAX, 8)
    if 2 * margin >= min(width, height):
        raise ApiError("invalid_barcode_margin_width", margin_width=str(margin))
    body = qr.png(content, width, height, margin)
    return Response(body, media_type="image/png", headers={"Cache-Control": "public, max-age=86400"})
