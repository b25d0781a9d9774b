"""/v6/programs: configuration, scope CLIENT_ADMIN."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request

from sharelinks.context import ctx
from sharelinks.http.auth import require
from sharelinks.http.body import Fields, read_json
from sharelinks.http.dates import request_zone
from sharelinks.http.openapi import body_of
from sharelinks.http.responses import JSON
from sharelinks.programs import service
from sharelinks.programs.schemas import ProgramRequest, program_response
from sharelinks.tokens.scopes import Scope

router = APIRouter(tags=["programs"], dependencies=[Depends(require(Scope.CLIENT_ADMIN))])


@router.get("/v6/programs")
async def list_programs(request: Request) -> JSON:
    zone = request_zone(request)
    found = await ctx(request).db.run(service.list_programs)
    return JSON([program_response(p, zone) for p in found])


@router.post("/v6/programs", openapi_extra=body_of(ProgramRequest))
async def create_program(request: Request) -> JSON:
    app = ctx(request)
    changes = service.parse_changes(Fields(await read_json(request, app.settings.max_body_bytes)), creating=True)
    program = await app.db.run(service.create, changes)
    return JSON(program_response(program, request_zone(request)))


@router.get("/v6/programs/{label}")
async def get_program(request: Request, label: str) -> JSON:
    program = await ctx(request).db.run(service.require_by_label, label)
    return JSON(program_response(program, request_zone(request)))


@router.put("/v6/programs/{label}", openapi_extra=body_of(ProgramRequest))
async def update_program(request: Request, label: str) -> JSON:
    app = ctx(request)
    changes = service.parse_changes(Fields(await read_json(request, app.settings.max_body_bytes)), creating=False)
    program = await app.db.run(service.update_program, label, changes)
    return JSON(program_response(program, request_zone(request)))
