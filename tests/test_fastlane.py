"""The fast lane: hot routes served in front of FastAPI, exactly as FastAPI would route them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.testclient import TestClient
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from sharelinks.http.auth import require
from sharelinks.http.fastlane import FastLane, hot
from sharelinks.http.responses import JSON
from sharelinks.tokens.scopes import Scope as TokenScope

Json = dict[str, Any]


async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
    """What stands behind the lane in these tests: an answer no real route gives."""
    await send({"type": "http.response.start", "status": 599, "headers": []})
    await send({"type": "http.response.body", "body": b"past the lane"})


@pytest.fixture
def lane_only(app: ASGIApp) -> Iterator[FastLane]:
    """The app's lane with nothing behind it: whatever it does not serve itself fails."""
    lane = app.app.app.app  # type: ignore[attr-defined]  # LinkRouter > RequestObserver > Idempotency > FastLane
    assert isinstance(lane, FastLane)
    behind, lane.app = lane.app, refuse
    yield lane
    lane.app = behind


@pytest.mark.usefixtures("program")
def test_hot_routes_are_served_by_the_lane(client: TestClient, auth: Json, person: Json, lane_only: FastLane) -> None:
    event = client.post(
        "/v5/events", headers=auth, json={"event_name": "converted", "data": {"email": "a@example.com"}}
    )
    assert event.status_code == 200 and list(event.json()) == ["id"]
    link = client.post(f"/v3/persons/{person['id']}/shareables", headers=auth, json={"label": "refer-a-friend"})
    assert link.status_code == 200 and link.json()["person_id"] == person["id"]
    assert link.headers["x-request-id"]  # still observed
    denied = client.post("/v5/events", json={"event_name": "converted"})
    assert denied.status_code == 403 and denied.json()["code"] == "missing_access_token"
    assert client.get(f"/v2/persons/{person['id']}", headers=auth).status_code == 599


def _api(*routers: APIRouter) -> FastAPI:
    api = FastAPI()
    for router in routers:
        api.include_router(router)
    return api


def test_an_earlier_route_that_matches_keeps_the_request() -> None:
    first, second = APIRouter(), APIRouter()

    @first.post("/things/special")
    async def special() -> Json:
        return {"served_by": "fastapi"}

    @second.post("/things/{name}", dependencies=[Depends(require(TokenScope.USER_SUPPORT))])
    @hot
    async def thing(request: Request, name: str) -> JSON:
        return JSON({"served_by": "lane", "name": name})

    api = _api(first, second)
    with TestClient(FastLane(api, api, [first, second])) as client:
        assert client.post("/things/special").json() == {"served_by": "fastapi"}
        # the hot route is reached through the lane, and its scope check runs first
        assert client.post("/things/other").json()["code"] == "missing_access_token"


def test_a_hot_route_may_only_check_a_scope_and_take_path_parameters() -> None:
    router = APIRouter()

    @router.post("/with-query", dependencies=[Depends(require(TokenScope.USER_SUPPORT))])
    @hot
    async def with_query(request: Request, limit: int) -> JSON:
        return JSON({})

    with pytest.raises(TypeError, match="only the request and its path parameters"):
        FastLane(refuse, _api(router), [router])

    unchecked = APIRouter()

    @unchecked.post("/open")
    @hot
    async def open_route(request: Request) -> JSON:
        return JSON({})

    with pytest.raises(TypeError, match="exactly one scope check"):
        FastLane(refuse, _api(unchecked), [unchecked])
