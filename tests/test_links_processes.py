"""Two `sharelinks serve` processes on one PostgreSQL: a change made through one redirects anew in the other."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import orjson
import pytest

from sharelinks.db.database import Database
from sharelinks.http.body import Fields
from sharelinks.persons import service as persons
from sharelinks.programs import service as programs
from sharelinks.shareables import service as shareables
from sharelinks.testing.server import free_port
from sharelinks.tokens import service as tokens
from sharelinks.tokens.scopes import Scope
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import run_cli, wait_until

pytestmark = pytest.mark.slow


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


OPENER = urllib.request.build_opener(NoRedirect)


@contextmanager
def serve(database_url: str) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "SHARELINKS_DATABASE_URL": database_url, "SHARELINKS_SECRET_KEY": TEST_MASTER_KEY,
           "SHARELINKS_WORKER": "0", "SHARELINKS_ACCESS_LOG": "0"}  # fmt: skip
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen([sys.executable, "-m", "sharelinks", "serve", "--port", str(port)], env=env,
                                stdout=log, stderr=log)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until(lambda: _alive(base), timeout=30, interval=0.1)
            yield base
        finally:
            proc.terminate()
            proc.wait(15)


def _alive(base: str) -> bool:
    try:
        return urllib.request.urlopen(base + "/health/live", timeout=1).status == 200  # type: ignore[no-any-return]
    except OSError:
        return False


def location(base: str, code: str) -> str:
    """Where the share link sends a browser; "" when it answers anything but a redirect."""
    request = urllib.request.Request(f"{base}/{code}", headers={"Host": "share.yourbrand.com"})
    try:
        OPENER.open(request, timeout=5)
    except urllib.error.HTTPError as answer:
        return str(answer.headers["Location"] or "")
    return ""


def test_program_change_reaches_the_other_process(db: Database, database_url: str) -> None:
    if db.is_sqlite:
        pytest.skip("several server processes share PostgreSQL")
    body = {"label": "refer-a-friend", "domains": ["share.yourbrand.com"], "destination_url": "https://old.example/r"}
    program = db.call(programs.create, programs.parse_changes(Fields(body), creating=True))
    person, _ = db.call(persons.resolve_for_event, person_id=None, email="a@example.com", partner_user_id=None,
                        first_name=None, last_name=None)  # fmt: skip
    link, _ = db.call(lambda conn: shareables.get_or_create(conn, person=person, program=program))
    token = db.call(tokens.issue, name="t", scopes=frozenset({Scope.CLIENT_ADMIN}), duration=timedelta(days=1))
    with serve(database_url) as first, serve(database_url) as second:
        assert location(second, link.code).startswith("https://old.example/r?")  # now cached in `second`
        request = urllib.request.Request(
            f"{first}/v6/programs/refer-a-friend",
            data=orjson.dumps({"destination_url": "https://new.example/r"}),
            headers={"Authorization": f"Bearer {token.access_token}", "Content-Type": "application/json"},
            method="PUT",
        )
        assert urllib.request.urlopen(request, timeout=5).status == 200
        # Far sooner than the cache's TTL (300 s): the NOTIFY did it.
        wait_until(lambda: location(second, link.code).startswith("https://new.example/r?"), timeout=5)


def test_a_program_created_from_the_cli_serves_its_domain_at_once(db: Database, database_url: str) -> None:
    """The README's walk-through: `sharelinks serve` running, the program made by another process."""
    with serve(database_url) as base:
        request = urllib.request.Request(f"{base}/health/live", headers={"Host": "share.yourbrand.com"})
        assert urllib.request.urlopen(request, timeout=5).status == 200  # no program has this domain yet
        made = run_cli(database_url, "program", "create", "--label", "refer-a-friend", "--domain",
                   "share.yourbrand.com", "--destination", "https://www.yourbrand.com/refer")  # fmt: skip
        assert made.returncode == 0, made.stderr
        program = db.call(programs.require_by_label, "refer-a-friend")
        person, _ = db.call(persons.resolve_for_event, person_id=None, email="a@example.com", partner_user_id=None,
                            first_name=None, last_name=None)  # fmt: skip
        link, _ = db.call(lambda conn: shareables.get_or_create(conn, person=person, program=program))
        # Within a couple of seconds, with no notification on SQLite: an unknown Host reloads the domains.
        wait_until(lambda: location(base, link.code).startswith("https://www.yourbrand.com/refer?"), timeout=5)
