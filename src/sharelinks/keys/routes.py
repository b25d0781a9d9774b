"""/v2/settings/security/keys: the Security Center, scope CLIENT_ADMIN."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.keys import service
from sharelinks.keys.schemas import KeyRequest, RotateRequest, key_response
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["security keys"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])
BASE = "/v2/settings/security/keys"


@router.get(BASE)
async def list_keys(request: Request) -> JSON:
    zone = request_zone(request)
    return JSON([key_response(k, zone) for k in await ctx(request).db.run(service.list_keys)])


@router.post(BASE, openapi_extra=body_of(KeyRequest))
async def create_key(request: Request) -> JSON:
    app = ctx(request)
    parsed = service.parse_request(Fields(await read_json(request, app.settings.max_body_bytes)))
    key = await app.db.run(service.create, app.secrets, parsed)
    return JSON(key_response(key, request_zone(request)))


@router.get(BASE + "/{key_id}")
async def get_key(request: Request, key_id: str) -> JSON:
    return JSON(key_response(await ctx(request).db.run(service.require, key_id), request_zone(request)))


@router.put(BASE + "/{key_id}", openapi_extra=body_of(KeyRequest))
async def update_key(request: Request, key_id: str) -> JSON:
    app = ctx(request)
    parsed = service.parse_request(Fields(await read_json(request, app.settings.max_body_bytes)))
    key = await app.db.run(service.update_key, app.secrets, key_id, parsed)
    return JSON(key_response(key, request_zone(request)))


@router.post(BASE + "/{key_id}/rotate", openapi_extra=body_of(RotateRequest))
async def rotate_key(request: Request, key_id: str) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes)).only({"key", "grace_period"})
    key = await app.db.run(service.rotate, app.secrets, key_id, body.string("key"), body.string("grace_period"))
    return JSON(key_response(key, request_zone(request)))


@router.delete(BASE + "/{key_id}")
async def delete_key(request: Request, key_id: str) -> JSON:
    key = await ctx(request).db.run(service.delete_key, key_id)
    return JSON(key_response(key, request_zone(request)))
