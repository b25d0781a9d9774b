"""Share links as a friend meets them: redirects, clicks, cookies, QR codes, stats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import cv2
import httpx2 as httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from sharelinks import clock
from sharelinks.app import create_app
from sharelinks.config import Settings
from sharelinks.db.database import Database
from sharelinks.links.clicks import FLUSH_AT, SLICE, Clicked, ClickRecorder
from sharelinks.links.models import CLICKS_PER_BLOCK, clicks
from sharelinks.testing.server import live_server
from tests.conftest import make_program
from tests.helpers import assert_error, wait_until

HOST = "share.yourbrand.com"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1"


@pytest.fixture(params=["asgi", "socket"])
def links(request: pytest.FixtureRequest, settings: Settings, db: Database) -> Iterator[httpx.Client]:
    """Every test twice: through the ASGI layer in process, and over a socket to the server as
    `sharelinks serve` runs it, where share links are answered by links.protocol before ASGI."""
    app = create_app(replace(settings, click_flush_seconds=0.1), database=db)
    if request.param == "asgi":
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
            yield c
        return
    with live_server(app, lifespan=True) as base, httpx.Client(base_url=base, follow_redirects=False) as c:
        yield c


@pytest.fixture
def code(links: httpx.Client, auth: dict[str, str]) -> str:
    make_program(links, auth)
    person = links.post("/v2/persons", headers=auth, json={"email": "alex@example.com", "first_name": "Alex"}).json()
    created = links.post(f"/v3/persons/{person['id']}/shareables", headers=auth, json={"label": "refer-a-friend"})
    return created.json()["code"]  # type: ignore[no-any-return]


def visit(client: httpx.Client, path: str, *, host: str = HOST, method: str = "GET", ua: str = BROWSER,
          **headers: str) -> Any:  # fmt: skip
    all_headers = {"Host": host, "User-Agent": ua, **headers}
    return client.request(method, path, headers=all_headers)


def stored_clicks(db: Database) -> list[Any]:
    return list(db.call(lambda conn: conn.execute(select(clicks).order_by(clicks.c.clicked_at)).all()))


def stats(client: httpx.Client, auth: dict[str, str], code: str) -> dict[str, Any]:
    response = client.get(f"/v6/shareables/{code}/stats", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_redirect_case_insensitive_302_no_store_cookie(links: httpx.Client, code: str) -> None:
    for path in (f"/{code}", f"/{code.upper()}", f"/{code}/"):
        response = visit(links, path)
        assert response.status_code == 302, (path, response.text)
        assert response.headers["location"] == f"https://www.yourbrand.com/refer?advocate_code={code}"
        assert response.headers["cache-control"] == "private, no-store"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"sharelinks_advocate_code={code};")
    assert f"Max-Age={30 * 86400}" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_query_is_kept_and_our_markers_are_not_passed_on(links: httpx.Client, code: str) -> None:
    response = visit(links, f"/{code}?utm_source=email&utm_campaign=spring%20sale&qr=1&advocate_code=forged")
    query = parse_qs(urlsplit(response.headers["location"]).query)
    assert query == {"advocate_code": [code], "utm_source": ["email"], "utm_campaign": ["spring sale"]}
    for forged in ("advocate_code=forged&utm_source=email", "utm_source=email&advocate_code"):  # no QR marker
        location = visit(links, f"/{code}?{forged}").headers["location"]
        assert parse_qs(urlsplit(location).query) == {"advocate_code": [code], "utm_source": ["email"]}


def test_embedded_path_works_on_any_host(links: httpx.Client, code: str) -> None:
    response = visit(links, f"/s/{code}", host="127.0.0.1:8000")
    assert response.status_code == 302 and response.headers["location"].endswith(f"advocate_code={code}")
    # The API is untouched on its own host, and on a program domain anything deeper than one segment.
    assert visit(links, "/health/live", host="127.0.0.1:8000").status_code == 200
    assert visit(links, "/health/live").status_code == 200


def test_unknown_code_goes_to_the_fallback_or_a_404_page(links: httpx.Client, auth: dict, code: str) -> None:
    response = visit(links, "/nosuchcode")
    assert response.status_code == 302 and response.headers["location"] == "https://refer.yourbrand.com"
    links.put("/v6/programs/refer-a-friend", headers=auth, json={"fallback_url": None})
    page = visit(links, "/nosuchcode")
    assert page.status_code == 404 and "This link is not available" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert visit(links, "/s/nosuchcode", host="localhost").status_code == 404
    assert visit(links, "/bad%20code!").status_code == 404


def test_deleted_link_stops_resolving(links: httpx.Client, auth: dict, code: str) -> None:
    for _ in range(2):  # the first looks the code up, the second's answer is remembered (answer_warm)
        assert visit(links, f"/{code}").status_code == 302
    person_id = links.get(f"/v3/shareables/{code}", headers=auth).json()["person_id"]
    assert links.delete(f"/v3/persons/{person_id}/shareables/{code}", headers=auth).status_code == 200
    assert visit(links, f"/{code}").headers["location"] == "https://refer.yourbrand.com"


def test_head_redirects_without_a_click(links: httpx.Client, db: Database, code: str) -> None:
    response = visit(links, f"/{code}", method="HEAD")
    assert response.status_code == 302 and response.headers["location"].endswith(code)
    visit(links, f"/{code}")
    wait_until(lambda: len(stored_clicks(db)) == 1)
    assert len(stored_clicks(db)) == 1


def test_clicks_are_written_after_the_flush_interval(links: httpx.Client, auth: dict, db: Database, code: str) -> None:
    referer = 'https://mail.example.com/inbox?id=1&q="a\\b"'  # quotes and a backslash survive the batch's JSON
    before = clock.now()
    visit(links, f"/{code}", Referer=referer)
    [row] = wait_until(lambda: stored_clicks(db))
    assert row.code == code and row.shareable_id is not None and row.person_id is not None
    assert row.program_id is not None and row.via_qr is False
    assert before - timedelta(seconds=1) <= row.clicked_at.replace(tzinfo=before.tzinfo) <= clock.now()
    assert row.user_agent == BROWSER and row.referer == referer
    assert len(row.ip_hash) == 32 and "testclient" not in row.ip_hash and row.is_unique is True and not row.is_bot
    assert stats(links, auth, code)["clicks"] == 1


PREVIEWERS = (
    "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
    "Slackbot-LinkExpanding 1.0",
    "WhatsApp/2.23.20.0",
    "Mozilla/5.0 (compatible; Googlebot/2.1)",
    "",
)


def test_bots_and_previews_are_flagged_and_not_counted(
    links: httpx.Client, auth: dict, db: Database, code: str
) -> None:
    for ua in PREVIEWERS:
        assert visit(links, f"/{code}", ua=ua).status_code == 302
    rows = wait_until(lambda: len(stored_clicks(db)) == 5 and stored_clicks(db))
    assert all(r.is_bot and not r.is_unique for r in rows)
    assert stats(links, auth, code)["clicks"] == 0


def test_repeat_clicks_within_an_hour_count_once(links: httpx.Client, auth: dict, db: Database, code: str) -> None:
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # one day: unique visitors are counted per day
    for minutes in (0, 10, 59):
        clock.set_clock(lambda m=minutes: start + timedelta(minutes=m))
        visit(links, f"/{code}")
    wait_until(lambda: len(stored_clicks(db)) == 3)
    clock.set_clock(lambda: start + timedelta(minutes=61))
    visit(links, f"/{code}")
    rows = wait_until(lambda: len(stored_clicks(db)) == 4 and stored_clicks(db))
    assert [r.is_unique for r in rows] == [True, False, False, True]
    found = stats(links, auth, code)
    assert found["clicks"] == 2 and found["unique_visitors"] == 1


def test_the_repeat_window_spans_midnight(links: httpx.Client, db: Database, code: str) -> None:
    """The stored IP hash changes its salt at midnight; the repeat window still knows the visitor."""
    start = datetime(2026, 11, 27, 23, 50, tzinfo=UTC)
    for minutes in (0, 20):
        clock.set_clock(lambda m=minutes: start + timedelta(minutes=m))
        visit(links, f"/{code}")
    rows = wait_until(lambda: len(stored_clicks(db)) == 2 and stored_clicks(db))
    assert [r.is_unique for r in rows] == [True, False]
    assert rows[0].ip_hash != rows[1].ip_hash  # a new day, a new salt for what is stored


def test_shutdown_flushes_buffered_clicks(settings: Settings, db: Database, auth: dict) -> None:
    app = create_app(replace(settings, click_flush_seconds=3600), database=db)
    with TestClient(app, follow_redirects=False) as client:
        make_program(client, auth)
        person = client.post("/v2/persons", headers=auth, json={"email": "a@example.com"}).json()
        code = client.post(f"/v3/persons/{person['id']}/shareables", headers=auth, json={"label": "refer-a-friend"})
        for _ in range(3):
            visit(client, f"/{code.json()['code']}")
        assert stored_clicks(db) == []  # still buffered: the interval is an hour
    assert len(stored_clicks(db)) == 3


def test_cache_follows_a_program_change(links: httpx.Client, auth: dict, code: str) -> None:
    for _ in range(2):  # the first looks the code up, the second's answer is remembered (answer_warm)
        assert visit(links, f"/{code}").headers["location"].startswith("https://www.yourbrand.com/refer?")
    changed = links.put(
        "/v6/programs/refer-a-friend",
        headers=auth,
        json={"destination_url": "https://new.yourbrand.com/r?src=share", "advocate_param": "ref"},
    )
    assert changed.status_code == 200, changed.text
    location = visit(links, f"/{code}").headers["location"]
    assert location == f"https://new.yourbrand.com/r?src=share&ref={code}"


def decode_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    # OpenCV's classic detector misses a small share of valid symbols; its ArUco-based one is the
    # second reader. Either decoding the exact text is the proof.
    text, _, _ = cv2.QRCodeDetector().detectAndDecode(image)
    if not text:
        text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(image)
    return text  # type: ignore[no-any-return]


def test_qr_png_decodes_to_the_link_and_scans_count(links: httpx.Client, auth: dict, db: Database, code: str) -> None:
    for path, host in ((f"/{code}/qr.png", HOST), (f"/s/{code}/qr.png?size=512&margin=2&level=H", "localhost")):
        response = visit(links, path, host=host)
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert decode_qr(response.content) == f"https://{HOST}/{code}?qr=1"
        assert response.headers["cache-control"] == "public, max-age=86400" and response.headers["etag"]
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (512, 512)
    coloured = visit(links, f"/{code}/qr.png?fg=1a237e&bg=fff8e1")
    pixels = cv2.imdecode(np.frombuffer(coloured.content, np.uint8), cv2.IMREAD_COLOR)
    assert tuple(pixels[0, 0]) == (0xE1, 0xF8, 0xFF)  # BGR of the background
    svg = visit(links, f"/{code}/qr.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")
    assert visit(links, f"/{code}/qr.png?size=10").status_code == 400
    assert visit(links, "/nosuchcode/qr.png").status_code == 404
    # A scan: the marker is stripped from the destination and the click counts as a QR scan.
    scanned = visit(links, f"/{code}?qr=1")
    assert "qr=" not in scanned.headers["location"]
    wait_until(lambda: stored_clicks(db))
    assert stored_clicks(db)[0].via_qr
    assert stats(links, auth, code)["qr_scans"] == 1


def test_barcode_endpoint(links: httpx.Client) -> None:
    response = links.get("/v4/barcode", params={"type": "QR_CODE", "content": "https://x.example/abc", "width": 300,
                                                 "height": 200, "margin_width": 10})  # fmt: skip
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = cv2.imdecode(np.frombuffer(response.content, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (200, 300)
    assert decode_qr(response.content) == "https://x.example/abc"
    for params, error in (
        ({"content": "x"}, "missing_type"),
        ({"type": "QR_CODE"}, "invalid_barcode_content"),
        ({"type": "QR_CODE", "content": "x", "width": "5000"}, "invalid_barcode_width"),
        ({"type": "QR_CODE", "content": "x", "height": "abc"}, "invalid_barcode_height"),
        ({"type": "QR_CODE", "content": "x", "margin_width": "65"}, "invalid_barcode_margin_width"),
        ({"type": "EAN_13", "content": "x"}, "invalid_parameter"),
    ):
        assert_error(links.get("/v4/barcode", params=params), 400, error)


def test_stats_by_day_json_and_csv(links: httpx.Client, auth: dict, db: Database, code: str,
                                   issue_token: Callable[..., str]) -> None:  # fmt: skip
    start = clock.now().replace(hour=12)
    for day, ip_count in ((0, 2), (1, 1)):
        clock.set_clock(lambda d=day: start + timedelta(days=d))
        for i in range(ip_count):
            links.get(f"/{code}", headers={"Host": HOST, "User-Agent": BROWSER, "X-Forwarded-For": f"10.0.0.{i}"})
    wait_until(lambda: len(stored_clicks(db)) == 3)
    found = stats(links, auth, code)
    assert [d["date"] for d in found["by_day"]] == [
        start.date().isoformat(),
        (start + timedelta(days=1)).date().isoformat(),
    ]
    assert found["clicks"] == sum(d["clicks"] for d in found["by_day"])
    program = links.get("/v6/programs/refer-a-friend/stats", headers=auth).json()
    assert program["clicks"] == found["clicks"] and len(program["by_day"]) == 2
    csv_text = links.get(f"/v6/shareables/{code}/stats?format=csv", headers=auth).text
    assert csv_text.splitlines()[0] == "date,clicks,unique_visitors,qr_scans"
    since = (start + timedelta(days=1)).date().isoformat()
    assert len(links.get(f"/v6/shareables/{code}/stats", headers=auth, params={"since": since}).json()["by_day"]) == 1
    assert_error(links.get("/v6/shareables/nosuch/stats", headers=auth), 404, "shareable_not_found")
    assert_error(links.get(f"/v6/shareables/{code}/stats?since=yesterday", headers=auth), 400, "invalid_parameter")


def test_stopping_during_a_flush_loses_no_click(db: Database) -> None:
    total = FLUSH_AT + 3 * SLICE + 7
    assert total > 5 * CLICKS_PER_BLOCK  # so they are stored in several blocks

    async def scenario() -> None:
        recorder = ClickRecorder(db, interval=3600)
        recorder.start()
        for i in range(total):  # reaching FLUSH_AT wakes the flusher
            recorder.add((clock.timestamp(), Clicked(None, f"c{i}", None, None), "198.51.100.1", BROWSER, None, False))
        while recorder._buffer:  # taken by the flush: it is under way, slices written beside the loop
            await asyncio.sleep(0)
        await recorder.stop()

    asyncio.run(scenario())
    assert sorted(row.code for row in stored_clicks(db)) == sorted(f"c{i}" for i in range(total))


@pytest.mark.parametrize("retention_days", [30.0, 0.0])
def test_the_click_log_keeps_clicks_for_its_retention(db: Database, retention_days: float) -> None:
    """Blocks whose clicks are all older than the retention go soon after start (then every ten
    minutes); a block with any newer click stays. 0 keeps the log for good."""
    now = clock.timestamp()

    def click(days_ago: float, code: str) -> Any:
        return (now - days_ago * 86400, Clicked(None, code, None, None), "198.51.100.1", BROWSER, None, False)

    async def scenario() -> None:
        writer = ClickRecorder(db, interval=3600)
        for batch in ([click(40, "old1"), click(31, "old2")], [click(31, "mixed-old"), click(29, "mixed-new")],
                      [click(0, "new")]):  # fmt: skip
            for c in batch:
                writer.add(c)
            await writer.flush()  # one block each
        recorder = ClickRecorder(db, interval=0.05, retention_days=retention_days)
        recorder.start()
        await asyncio.sleep(0.3)
        await recorder.stop()

    asyncio.run(scenario())
    codes = sorted(row.code for row in stored_clicks(db))
    if retention_days:
        assert codes == ["mixed-new", "mixed-old", "new"]
    else:
        assert codes == ["mixed-new", "mixed-old", "new", "old1", "old2"]
