"""The `sharelinks` command, run as a real subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

from fastapi.testclient import TestClient

from sharelinks.db.database import Database


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SHARELINKS_DATABASE_URL": database_url, "COLUMNS": "250"}
    return subprocess.run(
        [sys.executable, "-m", "sharelinks", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_program_and_token_commands(db: Database, client: TestClient) -> None:
    made = run(db.url, "program", "create", "--label", "refer-a-friend", "--domain", "share.example.com",
               "--destination", "https://www.example.com/refer", "--code-style", "name")  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = run(db.url, "program", "list")
    assert "refer-a-friend" in listed.stdout and "share.example.com" in listed.stdout
    duplicate = run(db.url, "program", "create", "--label", "refer-a-friend", "--domain", "x.example.com",
                    "--destination", "https://www.example.com/refer")  # fmt: skip
    assert duplicate.returncode == 2 and "program_label_taken" in duplicate.stderr

    created = run(db.url, "token", "create", "--name", "ci", "--scope", "USER_SUPPORT")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip().splitlines()[-1]
    assert len(token) == 26 and token.isalnum()
    assert client.get("/v2/persons", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert client.get("/v6/programs", headers={"Authorization": f"Bearer {token}"}).status_code == 403

    tokens = run(db.url, "token", "list")
    assert token not in tokens.stdout  # values are never shown again
    token_id = next(line.split("│")[1].strip() for line in tokens.stdout.splitlines() if " ci " in line)
    assert run(db.url, "token", "revoke", token_id).returncode == 0
    assert client.get("/v2/persons", headers={"Authorization": f"Bearer {token}"}).status_code == 403
    assert run(db.url, "token", "create", "--name", "x", "--scope", "GOD_MODE").returncode == 2
