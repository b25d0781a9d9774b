"""The `sharelinks` command, run as a real subprocess against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

from fastapi.testclient import TestClient

from sharelinks.db.database import Database
from sharelinks.testing.receiver import Receiver
from tests.conftest import TEST_MASTER_KEY
from tests.helpers import run_cli as run
from tests.helpers import wait_until


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


def test_keys_webhooks_extension_and_worker_commands(db: Database, client: TestClient, receiver: Receiver) -> None:
    run(db.url, "program", "create", "--label", "refer-a-friend", "--domain", "share.example.com",
        "--destination", "https://www.example.com/refer")  # fmt: skip
    generated = run(db.url, "keys", "create", "--name", "signing", "--algorithm", "STANDARD_WEBHOOKS", "--generate")
    assert generated.returncode == 0, generated.stderr
    secret = generated.stdout.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    from_stdin = run(db.url, "keys", "create", "--name", "pw", "--algorithm", "PASSWORD", "--key-stdin",
                     stdin="typed-secret\n")  # fmt: skip
    assert from_stdin.returncode == 0, from_stdin.stderr
    listed = run(db.url, "keys", "list")
    assert "signing" in listed.stdout and secret not in listed.stdout and "typed-secret" not in listed.stdout
    key_id = next(line.split("│")[1].strip() for line in listed.stdout.splitlines() if " signing " in line)
    bad = run(db.url, "keys", "create", "--name", "b", "--algorithm", "HTTP_BASIC", "--key", "nocolon")
    assert bad.returncode == 2 and "invalid_key" in bad.stderr

    made = run(db.url, "webhooks", "create", "--name", "crm", "--url", receiver.url + "/in", "--key-id", key_id,
               "--retry", "PT0.05S")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert run(db.url, "extension", "create", "--program", "refer-a-friend", "--trigger", "signed_up").returncode == 0
    assert "signed_up" in run(db.url, "extension", "list").stdout

    auth = {"Authorization": "Bearer " + run(db.url, "token", "create", "--name", "t", "--scope",
                                             "USER_SUPPORT").stdout.strip().splitlines()[-1]}  # fmt: skip
    receiver.respond(500, 500)
    assert client.post("/v5/events", headers=auth, json={"event_name": "signed_up",
                       "data": {"email": "alex@example.com"}}).status_code == 200  # fmt: skip
    worker = subprocess.Popen([sys.executable, "-m", "sharelinks", "worker"], env={**os.environ,
                              "SHARELINKS_DATABASE_URL": db.url, "SHARELINKS_SECRET_KEY": TEST_MASTER_KEY,
                              "SHARELINKS_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        receiver.wait_for(2)  # two failures: the schedule (one retry) is spent
        events = wait_until(lambda: "dead_letter" in (out := run(db.url, "webhooks", "events").stdout) and out)
        assert "alex@example.com" in events
        webhook_id = next(line.split("│")[1].strip() for line in run(db.url, "webhooks", "list").stdout.splitlines()
                          if " crm " in line)  # fmt: skip
        replayed = run(db.url, "webhooks", "replay", webhook_id)
        assert "queued 1" in replayed.stdout, replayed.stderr
        [*_, last] = receiver.wait_for(3)
        assert last.header("webhook-signature").startswith("v1,")
        assert run(db.url, "webhooks", "test", webhook_id).returncode == 0
        receiver.wait_for(4)
    finally:
        worker.terminate()
        worker.wait(15)


def test_connector_commands(db: Database, client: TestClient) -> None:
    run(db.url, "program", "create", "--label", "refer-a-friend", "--domain", "share.example.com",
        "--destination", "https://www.example.com/refer", "--fallback", "https://refer.example.com")  # fmt: skip
    made = run(db.url, "connector", "create", "--type", "iterable", "--name", "iterable-eu", "--program",
               "refer-a-friend", "--credential", "api_key=iter-secret", "--option", "region=eu")  # fmt: skip
    assert made.returncode == 0, made.stderr
    listed = run(db.url, "connector", "list")
    assert "iterable-eu" in listed.stdout and "active" in listed.stdout and "iter-secret" not in listed.stdout
    connector_id = next(line.split("│")[1].strip() for line in listed.stdout.splitlines() if "iterable-eu" in line)
    snippet = run(db.url, "connector", "snippet", connector_id)
    assert '{{defaultIfEmpty share_link "https://refer.example.com"}}' in snippet.stdout
    bad = run(db.url, "connector", "create", "--type", "iterable", "--name", "x", "--program", "refer-a-friend",
              "--credential", "api_key=k", "--option", "region=apac")  # fmt: skip
    assert bad.returncode == 2 and "invalid_parameter" in bad.stderr
