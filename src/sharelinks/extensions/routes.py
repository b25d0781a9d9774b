"""/v6/extensions, scope CLIENT_ADMIN."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.extensions import service
from sharelinks.extensions.schemas import ExtensionRequest, extension_response
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["extensions"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])


@router.get("/v6/extensions")
async def list_extensions(request: Request) -> JSON:
    zone = request_zone(request)
    return JSON([extension_response(e, zone) for e in await ctx(request).db.run(service.list_extensions)])


@router.post("/v6/extensions", openapi_extra=body_of(ExtensionRequest))
async def create_extension(request: Request) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    return JSON(extension_response(await app.db.run(service.create_from, body), request_zone(request)))


@router.get("/v6/extensions/{extension_id}")
async def get_extension(request: Request, extension_id: str) -> JSON:
    return JSON(extension_response(await ctx(request).db.run(service.require, extension_id), request_zone(request)))


@router.put("/v6/extensions/{extension_id}", openapi_extra=body_of(ExtensionRequest))
async def update_extension(request: Request, extension_id: str) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    found = await app.db.run(service.update_from, extension_id, body)
    return JSON(extension_response(found, request_zone(request)))


@router.delete("/v6/extensions/{extension_id}")
async def delete_extension(request: Request, extension_id: str) -> JSON:
    found = await ctx(request).db.run(service.delete_extension, extension_id)
    return JSON(extension_response(found, request_zone(request)))
