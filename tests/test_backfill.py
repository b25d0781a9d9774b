"""Backfill: every bad-row class, identical re-runs, resume after kill -9, the API, a pushed backfill."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select

from sharelinks.backfill import service
from sharelinks.backfill.models import batch_jobs
from sharelinks.backfill.rows import DigestSet
from sharelinks.db.database import Database
from sharelinks.persons.models import persons
from sharelinks.shareables.models import shareables
from sharelinks.testing import vendors
from sharelinks.testing.vendors import FakeVendors
from tests.conftest import TEST_MASTER_KEY, make_program
from tests.helpers import assert_error, row_count, run_cli, wait_until


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8")))


@pytest.fixture
def prepared(client: TestClient, auth: dict[str, str], program: dict[str, Any]) -> TestClient:
    # Someone who already holds partner_user_id TAKEN-1, under another email.
    client.post("/v2/persons", headers=auth, json={"email": "owner@example.com", "partner_user_id": "TAKEN-1"})
    return client


MESSY = (
    "\ufeffEMAIL,First_Name,Last_Name,Partner_User_ID,Plan\r\n"
    "alex@example.com,Alex,Doe,USER-1,gold\r\n"
    '"sam@example.com","Sam, Jr.",,USER-2,"multi\nline"\r\n'
    "not-an-email,Bad,,,\r\n"
    ",Nameless,,,\r\n"
    "ALEX@example.com,Again,,,\r\n"
    f"long@example.com,{'x' * 51},,,\r\n"
    "new@example.com,New,,TAKEN-1,\r\n"
    ",,,,\r\n"
    ",Only,,USER-9,\r\n"
    f"data@example.com,Data,,,{'y' * 1001}\r\n"
)


def test_every_bad_row_class_is_rejected_and_the_rest_linked(
    prepared: TestClient, db: Database, tmp_path: Path
) -> None:
    source = tmp_path / "customers.csv"
    source.write_bytes(MESSY.encode())
    out = tmp_path / "links.csv"
    done = run_cli(db.url, "backfill", str(source), "--program", "refer-a-friend", "--out", str(out))
    assert done.returncode == 0, done.stderr
    links = rows_of(out)
    assert [r["email"] for r in links] == ["alex@example.com", "sam@example.com", ""]
    assert [r["partner_user_id"] for r in links] == ["USER-1", "USER-2", "USER-9"]
    assert all(r["share_link"] == f"https://share.yourbrand.com/{r['code']}" and r["person_id"] for r in links)
    rejects = {int(r["row"]): r["reason"].split(":")[0] for r in rows_of(tmp_path / "links.rejects.csv")}
    assert rejects == {
        3: "invalid_email",
        4: "missing_identity",
        5: "duplicate_in_file",
        6: "invalid_length_first_name",
        7: "partner_user_id_taken",
        10: "data_too_long",
    }
    summary = done.stdout
    assert "succeeded 3" in summary and "rejected 6" in summary
    sam = prepared.get("/v2/persons", headers=_auth(prepared, db), params={"email": "sam@example.com"}).json()[0]
    assert sam["first_name"] == "Sam, Jr."


def _auth(client: TestClient, db: Database) -> dict[str, str]:
    from datetime import timedelta

    from sharelinks.tokens import service as tokens
    from sharelinks.tokens.scopes import Scope

    issued = db.call(tokens.issue, name="t", scopes=frozenset({Scope.CLIENT_SUPERUSER}), duration=timedelta(days=1))
    return {"Authorization": f"Bearer {issued.access_token}"}


def test_rerun_is_byte_identical_and_reuses_every_link(prepared: TestClient, db: Database, tmp_path: Path) -> None:
    source = tmp_path / "customers.jsonl"
    lines = [orjson.dumps({"email": f"p{i}@example.com", "first_name": f"P{i}", "tier": i % 3}) for i in range(500)]
    source.write_bytes(b"\n".join(lines) + b"\n{not json}\n")
    first = run_cli(db.url, "backfill", str(source), "--program", "refer-a-friend", "--out", str(tmp_path / "a.csv"))
    second = run_cli(db.url, "backfill", str(source), "--program", "refer-a-friend", "--out", str(tmp_path / "b.csv"))
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.rejects.csv").read_bytes() == (tmp_path / "b.rejects.csv").read_bytes()
    assert "500 new links" in first.stdout and "500 reused" in second.stdout
    assert row_count(db, shareables) == 500
    assert rows_of(tmp_path / "a.rejects.csv")[0]["reason"] == "not a JSON object"


def test_stdin(prepared: TestClient, db: Database, tmp_path: Path) -> None:
    done = run_cli(db.url, "backfill", "-", "--program", "refer-a-friend", "--out", str(tmp_path / "o.csv"),
                      stdin="email\nstdin@example.com\n", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert rows_of(tmp_path / "o.csv")[0]["email"] == "stdin@example.com"


ROWS = 60_000


@pytest.mark.slow
def test_resume_after_kill_9(prepared: TestClient, db: Database, tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_text("email,first_name\n" + "".join(f"k{i}@example.com,K{i}\n" for i in range(ROWS)))
    out = tmp_path / "links.csv"
    env = {**os.environ, "SHARELINKS_DATABASE_URL": db.url, "SHARELINKS_SECRET_KEY": TEST_MASTER_KEY}
    proc = subprocess.Popen([sys.executable, "-m", "sharelinks", "backfill", str(source), "--program",
                             "refer-a-friend", "--out", str(out)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip

    def progress() -> int:
        if db.is_sqlite:  # a plain read: this engine's transactions all take SQLite's write lock
            with sqlite3.connect(db.url.removeprefix("sqlite:///")) as raw:
                return int(raw.execute("SELECT max(rows_done) FROM batch_jobs").fetchone()[0] or 0)
        return int(db.call(lambda conn: conn.execute(select(func.max(batch_jobs.c.rows_done))).scalar() or 0))

    wait_until(lambda: progress() > 0, timeout=120, interval=0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    stopped_at = progress()
    assert 0 < stopped_at < ROWS and not out.exists()
    job_id = db.call(lambda conn: conn.execute(select(batch_jobs.c.id)).scalar())
    resumed = run_cli(db.url, "backfill", "--resume", str(job_id))
    assert resumed.returncode == 0, resumed.stderr
    links = rows_of(out)
    assert [r["email"] for r in links] == [f"k{i}@example.com" for i in range(ROWS)]
    assert len({r["code"] for r in links}) == ROWS
    assert row_count(db, shareables) == ROWS and row_count(db, persons) == ROWS + 1  # plus the prepared owner


@pytest.mark.slow
def test_hundred_thousand_rows(prepared: TestClient, db: Database, tmp_path: Path) -> None:
    if not db.is_sqlite:
        pytest.skip("the CI-sized run is on the embedded default; PostgreSQL runs the smaller ones")
    source = tmp_path / "100k.csv"
    source.write_text("email,partner_user_id\n" + "".join(f"c{i}@example.com,C{i}\n" for i in range(100_000)))
    started = time.monotonic()
    done = run_cli(db.url, "backfill", str(source), "--program", "refer-a-friend", "--out", str(tmp_path / "o.csv"))
    assert done.returncode == 0, done.stderr
    assert sum(1 for _ in (tmp_path / "o.csv").open()) == 100_001
    assert row_count(db, shareables) == 100_000
    print(f"100,000 rows in {time.monotonic() - started:.1f} s")


def test_api_upload_progress_and_downloads(prepared: TestClient, auth: dict, tmp_path: Path) -> None:
    body = "email,first_name\n" + "".join(f"api{i}@example.com,A\n" for i in range(50)) + "broken,B\n"
    response = prepared.post("/v6/batches", headers=auth, files={"file": ("customers.csv", body, "text/csv")},
                             data={"program_label": "refer-a-friend"})  # fmt: skip
    assert response.status_code == 200, response.text
    job_id = response.json()["id"]
    job = wait_until(
        lambda: (j := prepared.get(f"/v6/batches/{job_id}", headers=auth).json())["status"] == "done" and j
    )
    assert job["counts"] == {"read": 51, "succeeded": 50, "rejected": 1, "links_created": 50, "links_reused": 0}
    results = prepared.get(job["results_url"], headers=auth)
    assert results.headers["content-type"].startswith("text/csv")
    assert len(list(csv.DictReader(io.StringIO(results.text)))) == 50
    rejects = list(csv.DictReader(io.StringIO(prepared.get(job["rejects_url"], headers=auth).text)))
    assert rejects[0]["row"] == "51" and rejects[0]["reason"].startswith("invalid_email")
    assert prepared.get("/v6/batches", headers=auth).json()[0]["id"] == job_id
    assert_error(prepared.post("/v6/batches", headers=auth, files={"file": ("c.csv", "email\n", "text/csv")}), 400,
                 "label_is_missing")  # fmt: skip
    assert_error(prepared.post("/v6/batches", headers=auth, json={}), 415, "unsupported_media_type")
    assert_error(prepared.get("/v6/batches/123", headers=auth), 404, "batch_not_found")
    unknown_push = {"program_label": "refer-a-friend", "push": "999"}
    response = prepared.post("/v6/batches", headers=auth, files={"file": ("c.csv", "email\n", "text/csv")},
                             data=unknown_push)  # fmt: skip
    assert_error(response, 400, "push_target_not_found")


def test_cancel(prepared: TestClient, auth: dict, db: Database) -> None:
    body = "email\n" + "".join(f"cx{i}@example.com\n" for i in range(20_000))
    job_id = prepared.post("/v6/batches", headers=auth, files={"file": ("c.csv", body, "text/csv")},
                           data={"program_label": "refer-a-friend"}).json()["id"]  # fmt: skip
    canceled = prepared.post(f"/v6/batches/{job_id}/cancel", headers=auth).json()
    final = wait_until(lambda: (j := prepared.get(f"/v6/batches/{job_id}", headers=auth).json())["status"] in
                       ("canceled", "done") and j)  # fmt: skip
    assert canceled["status"] in ("canceled", "done") and final["status"] == canceled["status"]
    if final["status"] == "canceled":
        assert final["counts"]["read"] < 20_000
        assert_error(prepared.get(f"/v6/batches/{job_id}/results", headers=auth), 400, "batch_not_done")


@pytest.mark.slow
def test_push_20000_links_within_the_vendor_rate_limit(delivering_client: TestClient, auth: dict) -> None:
    with FakeVendors() as fake:
        make_program(delivering_client, auth)
        fake.limit("hubspot", 50, 1.0)
        connector = delivering_client.post("/v6/connectors", headers=auth, json={
            "type": "hubspot", "name": "crm", "program_label": "refer-a-friend", "base_url": fake.url,
            "credentials": {"token": vendors.HUBSPOT_TOKEN}, "options": {"limit_requests": 50, "limit_seconds": 1}},
        ).json()  # fmt: skip
        body = "email\n" + "".join(f"push{i}@example.com\n" for i in range(20_000))
        fields = {"program_label": "refer-a-friend", "push": connector["id"]}
        job_id = delivering_client.post("/v6/batches", headers=auth, files={"file": ("c.csv", body, "text/csv")},
                                        data=fields).json()["id"]  # fmt: skip
        wait_until(lambda: delivering_client.get(f"/v6/batches/{job_id}", headers=auth).json()["status"] == "done",
                   timeout=120)  # fmt: skip
        wait_until(lambda: len(fake.contacts("hubspot")) == 20_000, timeout=120, interval=0.2)
        assert fake.throttled("hubspot") == 0
        upserts = [r for r in fake.requests if r.path.endswith("/batch/upsert")]
        assert all(len(r.json()["inputs"]) <= 100 for r in upserts) and len(upserts) < 400


class Stop(BaseException):
    """Stands for the process dying: not an Exception, so the job is not marked failed."""


@pytest.mark.parametrize("damage", ["lines_lost", "tail_left"])
def test_result_files_after_a_stop_between_commit_and_write(
    prepared: TestClient, db: Database, tmp_path: Path, damage: str
) -> None:
    source = tmp_path / "c.csv"
    source.write_text("email,first_name\n" + "".join(f"f{i}@example.com,F{i}\n" if i % 9 else "bad,B\n"
                                                     for i in range(60)))  # fmt: skip

    def job(name: str) -> Any:
        return db.call(service.create, program_label="refer-a-friend", input_path=source, input_format="csv",
                       output_path=tmp_path / f"{name}.csv", rejects_path=tmp_path / f"{name}.rejects.csv",
                       push=None, fire_webhooks=None)  # fmt: skip

    stopped = job("a")
    chunks = 0

    def stop_after_two_chunks(_: Any) -> None:
        nonlocal chunks
        chunks += 1
        if chunks == 2:
            raise Stop

    with pytest.raises(Stop):
        asyncio.run(service.run(db, stopped.id, stop_after_two_chunks, chunk=10))
    committed = db.call(service.require, str(stopped.id))
    part = tmp_path / "a.csv.part"
    assert part.stat().st_size == committed.output_bytes > 0
    if damage == "lines_lost":  # the stop came after a commit, before its lines were appended
        os.truncate(part, committed.output_bytes - 10)
    else:  # lines appended for a chunk whose commit never happened
        part.write_bytes(part.read_bytes() + b"x@example.com,,1,abc,https://x/abc\n")
    assert asyncio.run(service.run(db, stopped.id)).status == "done"
    again = asyncio.run(service.run(db, job("b").id))
    assert again.links_reused == 53 and again.rejected == 7
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert (tmp_path / "a.rejects.csv").read_bytes() == (tmp_path / "b.rejects.csv").read_bytes()
    assert len(rows_of(tmp_path / "a.csv")) == 53 and not part.exists()


@given(st.lists(st.integers(min_value=1, max_value=2**64 - 1), max_size=3000))
def test_digest_set_answers_as_a_set_does(digests: list[int]) -> None:
    compact, reference = DigestSet(), set()
    for digest in digests:  # enough members to grow it several times
        assert compact.add(digest) == (digest not in reference)
        reference.add(digest)
    assert not any(compact.add(d) for d in reference)
