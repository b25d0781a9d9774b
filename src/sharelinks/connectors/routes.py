"""/v6/connectors, scope CLIENT_ADMIN."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.connectors import service
from sharelinks.connectors.schemas import ConnectorRequest, connector_response
from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["connectors"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])


@router.get("/v6/connectors")
async def list_connectors(request: Request) -> JSON:
    zone = request_zone(request)
    return JSON([connector_response(c, zone) for c in await ctx(request).db.run(service.list_connectors)])


@router.post("/v6/connectors", openapi_extra=body_of(ConnectorRequest))
async def create_connector(request: Request) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    found = await app.db.run(service.create, app.secrets, body, app.network_policy)
    return JSON(connector_response(found, request_zone(request)))


@router.get("/v6/connectors/{connector_id}")
async def get_connector(request: Request, connector_id: str) -> JSON:
    found = await ctx(request).db.run(service.require, connector_id)
    return JSON(connector_response(found, request_zone(request)))


@router.put("/v6/connectors/{connector_id}", openapi_extra=body_of(ConnectorRequest))
async def update_connector(request: Request, connector_id: str) -> JSON:
    app = ctx(request)
    body = Fields(await read_json(request, app.settings.max_body_bytes))
    found = await app.db.run(service.update_connector, app.secrets, connector_id, body, app.network_policy)
    return JSON(connector_response(found, request_zone(request)))


@router.delete("/v6/connectors/{connector_id}")
async def delete_connector(request: Request, connector_id: str) -> JSON:
    found = await ctx(request).db.run(service.delete_connector, connector_id)
    return JSON(connector_response(found, request_zone(request)))


@router.get("/v6/connectors/{connector_id}/snippet")
async def snippet(request: Request, connector_id: str) -> JSON:
    return JSON(await ctx(request).db.run(service.snippet, connector_id))
