"""Share-link endpoints under /v3, /v4 and /v5, scope USER_SUPPORT (change of owner: CLIENT_SUPERUSER)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.errors import ApiError
from sharelinks.http.fastlane import hot
from sharelinks.http.openapi import body_of
from sharelinks.http.paging import page_from
from sharelinks.http.query import name_value_pairs
from sharelinks.http.responses import JSON
from sharelinks.ids import parse_id
from sharelinks.observability import metrics
from sharelinks.persons.routes import path_person_id
from sharelinks.shareables import service
from sharelinks.shareables.schemas import (
    ChangeOwnerRequest,
    ShareableRequest,
    ShareableUpdateRequest,
    v3_response,
    v5_response,
)
from sharelinks.shareables.service import Shareable
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["shareables"])
support = [Depends(require(Scope.USER_SUPPORT))]


async def _create(request: Request, person_id: str) -> Shareable:
    app = ctx(request)
    pid = path_person_id(person_id)
    body = service.parse_create(Fields(await read_json(request, app.settings.max_body_bytes)))
    shareable, created = await app.db.run_together(
        service.create_together, service.create_alone, (pid, body, app.settings.require_email_for_shareables)
    )
    if created:
        metrics.LINKS_CREATED.labels(source="api").inc()
    return shareable


async def _list(request: Request, person_id: str, *, newest_update_first: bool = False) -> list[Shareable]:
    q = request.query_params
    page = page_from(request)
    labels = {v for v in (q.get("labels") or "").split(",") if v} or None
    data_keys = {v for v in (q.get("data_keys") or "").split(",") if v} or None
    data_values = name_value_pairs(q.get("data_values"), error="data_values_invalid", parameter="data_values")
    found = await ctx(request).db.run(
        service.list_for_person,
        path_person_id(person_id),
        labels=labels,
        data_keys=data_keys,
        data_values=data_values,
        newest_update_first=newest_update_first,
    )
    return found[page.offset : page.offset + page.limit]


async def _update(request: Request, person_id: str, code: str) -> Shareable:
    app = ctx(request)
    pid = path_person_id(person_id)
    body = service.parse_update(Fields(await read_json(request, app.settings.max_body_bytes)))
    return await app.db.run(service.update_shareable, pid, code, body)


async def _get(request: Request, person_id: str, code: str) -> Shareable:
    return await ctx(request).db.run(service.require_code, code, path_person_id(person_id))


def _render(version: str, request: Request) -> Callable[[Shareable], dict[str, Any]]:
    if version == "v5":
        zone = request_zone(request)
        return lambda s: v5_response(s, zone)
    return v3_response


# v5 -------------------------------------------------------------------------------------------


@router.post("/v5/persons/{person_id}/shareables", dependencies=support, openapi_extra=body_of(ShareableRequest))
@hot
async def create_v5(request: Request, person_id: str) -> JSON:
    render = _render("v5", request)
    return JSON(render(await _create(request, person_id)))


@router.get("/v5/persons/{person_id}/shareables", dependencies=support)
async def list_v5(request: Request, person_id: str) -> JSON:
    render = _render("v5", request)
    return JSON([render(s) for s in await _list(request, person_id)])


@router.get("/v5/persons/{person_id}/shareables/{code}", dependencies=support)
async def get_v5(request: Request, person_id: str, code: str) -> JSON:
    render = _render("v5", request)
    return JSON(render(await _get(request, person_id, code)))


@router.put(
    "/v5/persons/{person_id}/shareables/{code}",
    dependencies=support,
    openapi_extra=body_of(ShareableUpdateRequest),
)
async def update_v5(request: Request, person_id: str, code: str) -> JSON:
    render = _render("v5", request)
    return JSON(render(await _update(request, person_id, code)))


# v3 (legacy, still documented: the customer document's curl uses it) ------------------------------


@router.post("/v3/persons/{person_id}/shareables", dependencies=support, openapi_extra=body_of(ShareableRequest))
@hot
async def create_v3(request: Request, person_id: str) -> JSON:
    return JSON(v3_response(await _create(request, person_id)))


@router.get("/v3/persons/{person_id}/shareables", dependencies=support)
async def list_v3(request: Request, person_id: str) -> JSON:
    return JSON([v3_response(s) for s in await _list(request, person_id)])


@router.get("/v3/persons/{person_id}/shareables/{code}", dependencies=support)
async def get_v3(request: Request, person_id: str, code: str) -> JSON:
    return JSON(v3_response(await _get(request, person_id, code)))


@router.put(
    "/v3/persons/{person_id}/shareables/{code}",
    dependencies=support,
    openapi_extra=body_of(ShareableUpdateRequest),
)
async def update_v3(request: Request, person_id: str, code: str) -> JSON:
    return JSON(v3_response(await _update(request, person_id, code)))


@router.delete("/v3/persons/{person_id}/shareables/{code}", dependencies=support)
async def delete_v3(request: Request, person_id: str, code: str) -> JSON:
    deleted = await ctx(request).db.run(service.delete_shareable, path_person_id(person_id), code)
    return JSON(v3_response(deleted))


@router.post(
    "/v3/persons/{person_id}/shareables/{code}/update-shareable-owner",
    dependencies=[Depends(require(Scope.CLIENT_SUPERUSER))],
    openapi_extra=body_of(ChangeOwnerRequest),
)
async def change_owner_v3(request: Request, person_id: str, code: str) -> JSON:
    app = ctx(request)
    pid = path_person_id(person_id)
    body = Fields(await read_json(request, app.settings.max_body_bytes)).only({"new_person_id"})
    raw = body.string_or_number("new_person_id")
    if raw is None:
        raise ApiError("invalid_parameter", message="new_person_id is required", name="new_person_id")
    moved = await app.db.run(service.change_owner, pid, code, parse_id(raw))
    return JSON(v3_response(moved))


@router.get("/v3/shareables/{code}", dependencies=support)
async def get_by_code_v3(request: Request, code: str) -> JSON:
    return JSON(v3_response(await ctx(request).db.run(service.require_code, code)))


@router.get("/v4/persons/{person_id}/shareables", dependencies=support)
async def list_v4(request: Request, person_id: str) -> JSON:
    return JSON([v3_response(s) for s in await _list(request, person_id, newest_update_first=True)])
