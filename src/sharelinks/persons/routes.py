"""/v2/persons and /v5/persons, scope USER_SUPPORT."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.errors import ApiError
from sharelinks.http.openapi import body_of
from sharelinks.http.paging import page_from
from sharelinks.http.query import name_value_pairs
from sharelinks.http.responses import JSON
from sharelinks.ids import parse_id
from sharelinks.persons import service
from sharelinks.persons.schemas import PersonV2Request, PersonV5Request, v2_response, v5_response
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["persons"], dependencies=[Depends(require(Scope.USER_SUPPORT))])


def path_person_id(raw: str) -> int:
    person_id = parse_id(raw)
    if person_id is None:
        raise ApiError("person_not_found", person_id=raw[:40])
    return person_id


@router.get("/v2/persons")
async def list_v2(request: Request) -> JSON:
    q = request.query_params
    page = page_from(request)
    data = name_value_pairs(q.get("partner_id"), error="invalid_parameter", parameter="partner_id")
    found = await ctx(request).db.run(
        service.search,
        email=q.get("email"),
        partner_user_id=q.get("partner_user_id"),
        last_name=q.get("last_name"),
        data=data,
        offset=page.offset,
        limit=page.limit,
    )
    return JSON([v2_response(p) for p in found])


@router.post("/v2/persons", openapi_extra=body_of(PersonV2Request))
async def create_v2(request: Request) -> JSON:
    app = ctx(request)
    fields = service.parse_v2(Fields(await read_json(request, app.settings.max_body_bytes)))
    person = await app.db.run(service.create, fields)
    return JSON(v2_response(person))


@router.get("/v2/persons/{person_id}")
async def get_v2(request: Request, person_id: str) -> JSON:
    person = await ctx(request).db.run(service.require, path_person_id(person_id))
    return JSON(v2_response(person))


@router.put("/v2/persons/{person_id}", openapi_extra=body_of(PersonV2Request))
async def update_v2(request: Request, person_id: str) -> JSON:
    app = ctx(request)
    pid = path_person_id(person_id)
    fields = service.parse_v2(Fields(await read_json(request, app.settings.max_body_bytes)))
    person = await app.db.run(service.update_person, pid, fields)
    return JSON(v2_response(person))


@router.get("/v5/persons")
async def list_v5(request: Request) -> JSON:
    q = request.query_params
    page = page_from(request)
    keys = name_value_pairs(q.get("person_keys"), error="invalid_parameter", parameter="person_keys")
    partner_user_id = keys.pop("partner_user_id", None)
    found = await ctx(request).db.run(
        service.search,
        email=q.get("identity_key_value"),
        partner_user_id=partner_user_id,
        data=keys,
        offset=page.offset,
        limit=page.limit,
    )
    return JSON([v5_response(p) for p in found])


@router.post("/v5/persons", openapi_extra=body_of(PersonV5Request))
async def create_v5(request: Request) -> JSON:
    app = ctx(request)
    fields = service.parse_v5(Fields(await read_json(request, app.settings.max_body_bytes)))
    if not fields.email:
        raise ApiError("invalid_key_value", message="identity_key_value (an email) is required.")
    person = await app.db.run(service.create, fields, duplicate_error="identity_key_value_already_taken")
    return JSON(v5_response(person))


@router.get("/v5/persons/{person_id}")
async def get_v5(request: Request, person_id: str) -> JSON:
    person = await ctx(request).db.run(service.require, path_person_id(person_id))
    return JSON(v5_response(person))


@router.put("/v5/persons/{person_id}", openapi_extra=body_of(PersonV5Request))
async def update_v5(request: Request, person_id: str) -> JSON:
    app = ctx(request)
    pid = path_person_id(person_id)
    fields = service.parse_v5(Fields(await read_json(request, app.settings.max_body_bytes)))
    person = await app.db.run(service.update_person, pid, fields, duplicate_error="identity_key_value_already_taken")
    return JSON(v5_response(person))
