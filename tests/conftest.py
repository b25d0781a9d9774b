"""Every test that uses `db`, `app` or `client` runs twice: on SQLite and on PostgreSQL.

PostgreSQL is required (it runs on 127.0.0.1:5432 on our machines and `.ci/run` starts it). Set
SHARELINKS_SKIP_POSTGRES=1 to run the SQLite half alone on a machine without it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from starlette.types import ASGIApp

import sharelinks.models  # noqa: F401
from sharelinks import clock
from sharelinks.app import create_app
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.db.migrate import upgrade
from sharelinks.testing import databases
from sharelinks.testing.receiver import Receiver
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope

TEST_MASTER_KEY = "sharelinks-tests-master-key"
# Set by the console browser test to the folder of its screenshots; printed in the run's summary.
SCREENSHOTS = pytest.StashKey[str]()
BACKENDS = ["sqlite"] if os.environ.get("SHARELINKS_SKIP_POSTGRES") == "1" else ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.db"
    db = Database(f"sqlite:///{path}")
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    try:
        url = databases.create_postgres_database()
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable ({exc}). Start it (see .ci/run) or set SHARELINKS_SKIP_POSTGRES=1.",
            pytrace=False,
        )
    db = Database(url)
    upgrade(db.engine)
    db.dispose()
    yield url
    databases.drop_postgres_database(url)


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    if request.param == "sqlite":
        path = tmp_path / "sharelinks.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    if not database.is_sqlite:
        databases.truncate_all(database)
    yield database
    database.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        database_url=database_url,
        access_log=False,
        token_cache_seconds=0.0,
        secret_key=TEST_MASTER_KEY,
        # The delivery tests start their own worker; elsewhere it would only add noise.
        run_worker=False,
        webhook_allow_networks="127.0.0.0/8",
        delivery_poll_seconds=0.05,
        data_dir=str(tmp_path / "data"),
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> ASGIApp:
    return create_app(settings, database=db)


@pytest.fixture
def client(app: ASGIApp) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def issue_token(db: Database) -> Callable[..., str]:
    def issue(*scopes: Scope, duration_days: float | None = 30) -> str:
        from datetime import timedelta

        duration = timedelta(days=duration_days) if duration_days is not None else None
        return db.call(tokens.issue, name="test", scopes=frozenset(scopes), duration=duration).access_token

    return issue


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> dict[str, str]:
    """Headers for a token that may do everything."""
    return {"Authorization": f"Bearer {issue_token(Scope.CLIENT_SUPERUSER)}"}


@pytest.fixture
def program(client: TestClient, auth: dict[str, str]) -> dict[str, object]:
    return make_program(client, auth)


def make_program(client: TestClient, auth: dict[str, str]) -> dict[str, object]:
    response = client.post(
        "/v6/programs",
        headers=auth,
        json={
            "label": "refer-a-friend",
            "domains": ["share.yourbrand.com", "refer.yourbrand.com"],
            "destination_url": "https://www.yourbrand.com/refer",
            "fallback_url": "https://refer.yourbrand.com",
        },
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def person(client: TestClient, auth: dict[str, str]) -> dict[str, object]:
    response = client.post(
        "/v2/persons",
        headers=auth,
        json={"email": "Alex@Example.com ", "first_name": "Alex", "partner_user_id": "USER-1"},
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture(autouse=True)
def _restore_clock() -> Iterator[None]:
    yield
    clock.set_clock(None)


@pytest.fixture
def delivering_client(settings: Settings, db: Database) -> Iterator[TestClient]:
    """A client of an app whose delivery worker runs, as in `sharelinks serve`."""
    app = create_app(replace(settings, run_worker=True), database=db)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    folder = config.stash.get(SCREENSHOTS, None)
    if folder:
        terminalreporter.write_line(f"console screenshots (desktop and phone width): {folder}")
