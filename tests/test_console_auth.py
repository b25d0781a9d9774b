"""Console sign-in rules: hashed passwords, lockout, CSRF on every form, session cookie, user CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from sharelinks import clock
from sharelinks.console import users
from sharelinks.console.models import console_users
from sharelinks.db.database import Database

PASSWORD = "a long enough password"


def sign_in(client: TestClient, password: str = PASSWORD) -> object:
    return client.post("/console/login", data={"email": "pm@example.com", "password": password}, follow_redirects=False)


def csrf_of(client: TestClient) -> str:
    page = client.get("/console/programs").text
    match = re.search(r'name="csrf" value="([^"]+)"', page)
    assert match is not None
    return match.group(1)


def test_passwords_are_scrypt_hashes_and_wrong_ones_lock_the_account(client: TestClient, db: Database) -> None:
    db.call(users.create_user, "PM@example.com", PASSWORD)
    stored = db.call(lambda conn: conn.execute(select(console_users.c.password_hash)).scalar())
    assert stored.startswith("scrypt$") and PASSWORD not in stored
    for _ in range(users.LOCK_AFTER):
        assert "Wrong email or password" in sign_in(client, "nope nope nope").text  # type: ignore[attr-defined]
    locked = sign_in(client)
    assert "locked" in locked.text  # type: ignore[attr-defined]
    later = clock.now() + users.LOCK_FOR + timedelta(seconds=1)
    clock.set_clock(lambda: later)
    assert sign_in(client).status_code == 303  # type: ignore[attr-defined]


def test_session_cookie_and_csrf(client: TestClient, db: Database) -> None:
    db.call(users.create_user, "pm@example.com", PASSWORD)
    assert client.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    response = sign_in(client)
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    form = {"label": "refer-a-friend", "domains": "share.example.com", "destination_url": "https://e.example/r"}
    assert client.post("/console/programs", data=form).status_code == 403  # no CSRF token
    assert client.post("/console/programs", data={**form, "csrf": "forged"}).status_code == 403
    done = client.post("/console/programs", data={**form, "csrf": csrf_of(client)}, follow_redirects=False)
    assert done.status_code == 303
    assert client.post("/console/logout", data={"csrf": csrf_of(client)}, follow_redirects=False).status_code == 303
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_user_create_command(db: Database) -> None:
    env = {**os.environ, "SHARELINKS_DATABASE_URL": db.url}
    command = [sys.executable, "-m", "sharelinks", "user", "create", "ops@example.com", "--password-stdin"]
    made = subprocess.run(command, input=PASSWORD + "\n", env=env, capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert isinstance(db.call(users.sign_in, "ops@example.com", PASSWORD), users.Session)
    short = subprocess.run([sys.executable, "-m", "sharelinks", "user", "create", "x@example.com", "--password-stdin"],
                           input="short\n", env=env, capture_output=True, text=True)  # fmt: skip
    assert short.returncode == 2 and "invalid_parameter" in short.stderr
