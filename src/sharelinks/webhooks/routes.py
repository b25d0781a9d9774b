"""/v6/webhooks, the webhook events report, replay. CLIENT_ADMIN; raw send needs CLIENT_SUPERUSER."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from sharelinks import clock
from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import parse_iso8601, request_zone, rfc3339
from sharelinks.http.errors import ApiError
from sharelinks.http.openapi import body_of
from sharelinks.http.paging import page_from
from sharelinks.http.responses import JSON
from sharelinks.ids import parse_id
from sharelinks.tokens.routes import CLIENT_ID
from sharelinks.tokens.scopes import Scope
from sharelinks.webhooks import service
from sharelinks.webhooks.schemas import (
    CSV_COLUMNS,
    ReplayRequest,
    SendRequest,
    WebhookRequest,
    dispatch_response,
    event_response,
    webhook_response,
)

router = APIRouter(tags=["webhooks"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])
superuser = APIRouter(tags=["webhooks"], dependencies=[Depends(require(Scope.CLIENT_SUPERUSER))])


@superuser.post("/v6/webhooks/events/send", openapi_extra=body_of(SendRequest))
async def send_event(request: Request) -> JSON:
    """Re-send one raw event, as taken from the webhook events report; `event_id` keeps its id."""
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes)).only(
        {"type", "event_id", "client_id", "webhook_id", "event"}
    )
    kind = body.string("type") or "CLIENT"
    if kind not in ("CONSUMER", "CLIENT", "REWARD", "PARTNER"):
        raise ApiError("invalid_parameter", name="type", message="type is CONSUMER, CLIENT, REWARD or PARTNER.")
    webhook_id = body.string_or_number("webhook_id")
    if not webhook_id:
        raise ApiError("missing_webhook_id")
    client_id = body.string_or_number("client_id")
    if not client_id:
        raise ApiError("missing_client_id")
    if client_id != CLIENT_ID:
        raise ApiError("request_client_id_invalid", client_id=client_id[:40])
    event_id = body.string_or_number("event_id")
    event = body.obj("event")
    raw_event: dict[str, Any] = event.data if event is not None else {}
    sent_id = await app.db.run(service.replay_one, webhook_id, event_id, raw_event)
    return JSON(
        {
            "type": kind,
            "event_id": str(sent_id),
            "client_id": CLIENT_ID,
            "webhook_id": webhook_id,
            "event_time": rfc3339(clock.now(), request_zone(request)),
            "event": raw_event,
        }
    )


@router.get("/v6/webhooks")
async def list_webhooks(request: Request) -> JSON:
    zone = request_zone(request)
    return JSON([webhook_response(w, zone) for w in await ctx(request).db.run(service.list_webhooks)])


@router.post("/v6/webhooks", openapi_extra=body_of(WebhookRequest))
async def create_webhook(request: Request) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    webhook = await app.db.run(service.create_from, body, app.network_policy)
    return JSON(webhook_response(webhook, request_zone(request)))


@router.get("/v6/webhooks/{webhook_id}")
async def get_webhook(request: Request, webhook_id: str) -> JSON:
    return JSON(webhook_response(await ctx(request).db.run(service.require, webhook_id), request_zone(request)))


@router.put("/v6/webhooks/{webhook_id}", openapi_extra=body_of(WebhookRequest))
async def update_webhook(request: Request, webhook_id: str) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    webhook = await app.db.run(service.update_from, webhook_id, body, app.network_policy)
    return JSON(webhook_response(webhook, request_zone(request)))


@router.delete("/v6/webhooks/{webhook_id}")
async def delete_webhook(request: Request, webhook_id: str) -> JSON:
    webhook = await ctx(request).db.run(service.delete_webhook, webhook_id)
    return JSON(webhook_response(webhook, request_zone(request)))


@router.get("/v6/webhooks/{webhook_id}/preview")
async def preview_webhook(request: Request, webhook_id: str) -> Response:
    """The exact body a sample `Share Link Created` would carry."""
    webhook = await ctx(request).db.run(service.require, webhook_id)
    body = service.preview(webhook, service.sample_event(clock.now()))
    return Response(body, media_type="application/json")


@router.post("/v6/webhooks/{webhook_id}/test")
async def send_test_event(request: Request, webhook_id: str) -> JSON:
    event_id = await ctx(request).db.run(service.enqueue_test, webhook_id)
    return JSON({"event_id": str(event_id), "webhook_id": webhook_id, "status": "pending"})


@router.get("/v6/webhooks/{webhook_id}/dispatches/recent")
async def recent_dispatches(request: Request, webhook_id: str) -> JSON:
    page = page_from(request)
    zone = request_zone(request)
    rows = await ctx(request).db.run(service.recent_dispatches, webhook_id, page.offset, page.limit)
    return JSON([dispatch_response(r, zone) for r in rows])


@router.post("/v6/webhooks/{webhook_id}/replay", openapi_extra=body_of(ReplayRequest))
async def replay(request: Request, webhook_id: str) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes, required=False) or {})
    body.only({"status", "since", "until"})
    since, until = _time(body.string("since"), "since"), _time(body.string("until"), "until")
    count = await app.db.run(service.replay_many, webhook_id, body.string("status") or "dead_letter", since, until)
    return JSON({"webhook_id": webhook_id, "replayed": count})


def _time(raw: str | None, name: str) -> Any:
    if raw is None or raw == "":
        return None
    parsed = parse_iso8601(raw)
    if parsed is None:
        raise ApiError("invalid_parameter", name=name, message=f"{name} must be an ISO-8601 time.")
    return parsed


@router.get("/v6/webhook-events")
async def webhook_events(request: Request) -> Response:
    """The webhook events report, JSON (with attempts) or CSV (`format=csv` or `Accept: text/csv`)."""
    query = request.query_params
    page = page_from(request)
    status = query.get("status") or None
    if status is not None and status not in service.STATUSES:
        raise ApiError("invalid_status", delivery_status=status[:20], allowed=list(service.STATUSES))
    raw_webhook = query.get("webhook_id") or None
    webhook_id = parse_id(raw_webhook) if raw_webhook else None
    if raw_webhook and webhook_id is None:
        raise ApiError("webhook_not_found", status=400, webhook_id=raw_webhook[:40])
    where = service.ReportFilter(
        webhook_id=webhook_id,
        status=status,
        since=_time(query.get("since"), "since"),
        until=_time(query.get("until"), "until"),
        email=query.get("email") or None,
        offset=page.offset,
        limit=page.limit,
    )
    zone = request_zone(request)
    rows = await ctx(request).db.run(service.report, where)
    items = [event_response(row, attempts, zone) for row, attempts in rows]
    wants_csv = query.get("format") == "csv" or "text/csv" in request.headers.get("accept", "")
    if not wants_csv:
        return JSON(items)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for item in items:
        writer.writerow(["" if item[c] is None else item[c] for c in CSV_COLUMNS])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
