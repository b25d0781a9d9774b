"""Assertions and helpers shared by the tests."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select

from sharelinks.db.database import Database
from sharelinks.ids import DRAW_BITS, NODE_BITS
from tests.conftest import TEST_MASTER_KEY


def run_cli(
    database_url: str, *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`sharelinks *args` as a real subprocess against the database at `database_url`."""
    env = {**os.environ, "SHARELINKS_DATABASE_URL": database_url, "COLUMNS": "250",
           "SHARELINKS_SECRET_KEY": TEST_MASTER_KEY, "SHARELINKS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"}  # fmt: skip
    return subprocess.run([sys.executable, "-m", "sharelinks", *args], env=env, capture_output=True, text=True,
                          timeout=300, check=False, input=stdin, cwd=cwd)  # fmt: skip


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is the Extole envelope, in its property order, with this status and code."""
    body: dict[str, Any] = response.json()
    assert response.status_code == status, (response.status_code, body)
    assert list(body) == ["unique_id", "http_status_code", "code", "message", "parameters"], body
    assert body["http_status_code"] == status
    assert body["code"] == code, body
    assert body["unique_id"].isdigit() and body["message"]
    return body


def create_key(client: Any, auth: dict[str, str], algorithm: str, key: str, **options: Any) -> dict[str, Any]:
    response = client.post(
        "/v2/settings/security/keys",
        headers=auth,
        json={"name": f"{algorithm.lower()}-key", "type": "WEBHOOK", "algorithm": algorithm, "key": key, **options},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def create_webhook(client: Any, auth: dict[str, str], url: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v6/webhooks", headers=auth, json={"name": "crm", "url": url, **fields})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def enable_extension(client: Any, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    body = {"type": "CREATE_SHARE_LINK_ON_EVENT", "program_label": "refer-a-friend", **fields}
    response = client.post("/v6/extensions", headers=auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def send_event(client: Any, auth: dict[str, str], email: str, name: str = "converted", **data: Any) -> Any:
    body = {"event_name": name, "data": {"email": email, "partner_user_id": f"P-{email}", **data}}
    response = client.post("/v5/events", headers=auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def webhook_events(client: Any, auth: dict[str, str], **query: Any) -> list[dict[str, Any]]:
    response = client.get("/v6/webhook-events", headers=auth, params=query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def row_count(db: Database, table: Table) -> int:
    """How many rows `table` holds."""
    return int(db.call(lambda conn: conn.execute(select(func.count()).select_from(table)).scalar_one()))


def ordered_id_parts(value: int) -> tuple[int, int]:
    """(millisecond since the epoch of ordered IDs, node) of an ordered ID (sharelinks.ids)."""
    rest = (value - 10**18) >> DRAW_BITS
    return rest >> NODE_BITS, rest & ((1 << NODE_BITS) - 1)


async def wait_until_async(predicate: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    """`wait_until` for a test running its own event loop: the loop goes on while it waits."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(interval)


def wait_until(predicate: Any, timeout: float = 15.0, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(interval)
