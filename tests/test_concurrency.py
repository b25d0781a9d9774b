"""Races through a real HTTP server: identical creates give one link, one person, one event."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

from sharelinks.db.database import Database
from sharelinks.persons.models import persons
from sharelinks.shareables.models import shareables
from sharelinks.testing.server import live_server
from tests.helpers import row_count

Json = dict[str, Any]
PARALLEL = 24


async def fire(base: str, auth: Json, path: str, body: Any, n: int = PARALLEL) -> list[tuple[int, Any]]:
    async with aiohttp.ClientSession(base) as session:

        async def one() -> tuple[int, Any]:
            async with session.post(path, json=body, headers=auth) as response:
                return response.status, await response.json()

        return await asyncio.gather(*(one() for _ in range(n)))


def test_identical_creates_race_to_one_link(
    app: ASGIApp, client: TestClient, auth: Json, program: Json, person: Json, db: Database
) -> None:
    with live_server(app) as base:
        results = asyncio.run(fire(base, auth, f"/v3/persons/{person['id']}/shareables", {"label": "refer-a-friend"}))
        assert {status for status, _ in results} == {200}
        assert len({body["code"] for _, body in results}) == 1
        assert row_count(db, shareables) == 1
        explicit = asyncio.run(
            fire(
                base,
                auth,
                f"/v3/persons/{person['id']}/shareables",
                {"label": "refer-a-friend", "key": "k", "code": "race01"},
            )
        )
        assert {body["code"] for _, body in explicit} == {"race01"} and row_count(db, shareables) == 2


def test_events_for_a_new_email_race_to_one_person(app: ASGIApp, client: TestClient, auth: Json, db: Database) -> None:
    body = {"event_name": "converted", "data": {"email": "racer@example.com", "partner_user_id": "R1"}}
    with live_server(app) as base:
        results = asyncio.run(fire(base, auth, "/v6/events", body))
    assert {status for status, _ in results} == {200}
    assert len({b["person_id"] for _, b in results}) == 1
    assert row_count(db, persons) == 1


def test_different_persons_same_explicit_code_one_winner(
    app: ASGIApp, client: TestClient, auth: Json, program: Json, db: Database
) -> None:
    ids = [client.post("/v2/persons", headers=auth, json={"email": f"p{i}@example.com"}).json()["id"] for i in range(8)]

    async def all_at_once(base: str) -> list[tuple[int, Any]]:
        async with aiohttp.ClientSession(base) as session:

            async def one(pid: str) -> tuple[int, Any]:
                body = {"label": "refer-a-friend", "code": "contested"}
                async with session.post(f"/v3/persons/{pid}/shareables", json=body, headers=auth) as r:
                    return r.status, await r.json()

            return await asyncio.gather(*(one(pid) for pid in ids))

    with live_server(app) as base:
        results = asyncio.run(all_at_once(base))
    assert sorted(status for status, _ in results) == [200] + [400] * 7
    assert {b["code"] for s, b in results if s == 400} == {"code_taken"}
    assert row_count(db, shareables) == 1
