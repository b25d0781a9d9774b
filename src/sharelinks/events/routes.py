"""POST /v5/events, /v6/events, /v6/async-events (and `/{event_name}` forms), /v5/batch-events."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.events import service
from sharelinks.events.schemas import EventRequest
from sharelinks.events.service import EventIntake, RecordedEvent
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.errors import ApiError
from sharelinks.http.fastlane import hot
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.observability import metrics
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["events"], dependencies=[Depends(require(Scope.USER_SUPPORT))])


async def _intake(request: Request, event_name: str | None) -> EventIntake:
    zone = request_zone(request)
    body = Fields(await read_json(request, ctx(request).settings.max_body_bytes))
    return service.parse_request(body, zone) if event_name is None else service.parse_named(event_name, body, zone)


async def _record(request: Request, event_name: str | None = None) -> RecordedEvent:
    intake = await _intake(request, event_name)
    event = await ctx(request).db.run_together(service.record_together, service.record, intake)
    metrics.EVENTS_RECEIVED.labels(outcome="duplicate" if event.duplicate else "recorded").inc()
    return event


@router.post("/v5/events", openapi_extra=body_of(EventRequest))
@hot
async def submit_v5(request: Request) -> JSON:
    return JSON({"id": str((await _record(request)).id)})


@router.post("/v5/events/{event_name}")
@hot
async def submit_named_v5(request: Request, event_name: str) -> JSON:
    return JSON({"id": str((await _record(request, event_name)).id)})


@router.post("/v6/events", openapi_extra=body_of(EventRequest))
@hot
async def submit_v6(request: Request) -> JSON:
    event = await _record(request)
    return JSON({"event_id": str(event.id), "person_id": str(event.person.id)})


@router.post("/v6/events/{event_name}")
@hot
async def submit_named_v6(request: Request, event_name: str) -> JSON:
    event = await _record(request, event_name)
    return JSON({"event_id": str(event.id), "person_id": str(event.person.id)})


@router.post("/v6/async-events", openapi_extra=body_of(EventRequest))
@hot
async def submit_async(request: Request) -> JSON:
    # Recorded before we answer: "async" only promises the client less in the response.
    return JSON({"event_id": str((await _record(request)).id)})


@router.post("/v6/async-events/{event_name}")
@hot
async def submit_named_async(request: Request, event_name: str) -> JSON:
    return JSON({"event_id": str((await _record(request, event_name)).id)})


@router.post("/v5/batch-events", openapi_extra=body_of(EventRequest, array=True))
@hot
async def submit_batch(request: Request) -> JSON:
    app = ctx(request)
    items = await read_json(request, app.settings.max_batch_body_bytes)
    if not isinstance(items, list):
        raise ApiError("binding_error", field="body", expected="array")
    if len(items) > app.settings.max_batch_items:
        raise ApiError(
            "invalid_parameter",
            message=f"A batch holds at most {app.settings.max_batch_items} events",
            max_items=app.settings.max_batch_items,
        )
    zone = request_zone(request)
    intakes: list[EventIntake | ApiError] = []
    for item in items:
        try:
            intakes.append(service.parse_request(Fields(item), zone))
        except ApiError as error:
            intakes.append(error)
    outcomes = await app.db.run(service.record_many, intakes)
    return JSON([_batch_entry(item, outcome) for item, outcome in zip(items, outcomes, strict=True)])


def _batch_entry(item: Any, outcome: RecordedEvent | ApiError) -> dict[str, Any]:
    if isinstance(outcome, ApiError):
        metrics.EVENTS_RECEIVED.labels(outcome="rejected").inc()
        return {
            "request": item,
            "status": "FAILED",
            "event_id": None,
            "error_message": f"{outcome.code}: {outcome.message}",
        }
    metrics.EVENTS_RECEIVED.labels(outcome="duplicate" if outcome.duplicate else "recorded").inc()
    return {"request": item, "status": "SUCCEEDED", "event_id": str(outcome.id), "error_message": None}
