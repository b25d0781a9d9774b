"""The console in a real headless Chromium (Debian's), through each page's main path.

Screenshots of every page, at desktop and phone width, go to test-artifacts/console/ (the folder is
named in the test output).
"""

from __future__ import annotations

import csv
import io
import re
import shutil
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from sharelinks.app import create_app
from sharelinks.config import Settings
from sharelinks.console import users
from sharelinks.db.database import Database
from sharelinks.testing.receiver import Receiver, Reply
from sharelinks.testing.server import live_server
from tests.conftest import SCREENSHOTS

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "console"
PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture
def console(settings: Settings, db: Database, request: pytest.FixtureRequest) -> Iterator[str]:
    if not db.is_sqlite:
        pytest.skip("the console runs the same service code on both databases; the browser test runs once")
    db.call(users.create_user, "pm@yourbrand.com", PASSWORD)
    app = create_app(replace(settings, run_worker=True, click_flush_seconds=0.2), database=db)
    request.config.stash[SCREENSHOTS] = str(SHOTS)
    with live_server(app, lifespan=True) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def shoot(page: Page, name: str) -> None:
    """Both widths; and every visible form control must have a label (keyboard and screen readers)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
             .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
             .map(e => e.name || e.id)"""
    )
    assert unlabelled == [], (name, unlabelled)
    for label, size in (("desktop", DESKTOP), ("phone", PHONE)):
        page.set_viewport_size(size)
        page.screenshot(path=str(SHOTS / f"{name}-{label}.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def submit(page: Page, button: str) -> None:
    page.get_by_role("button", name=button).click()
    page.wait_for_load_state("networkidle")


def test_main_paths_in_a_real_browser(console: str, browser: Browser, tmp_path: Path) -> None:
    with Receiver() as receiver:
        page = browser.new_page(viewport=DESKTOP)
        page.on("dialog", lambda dialog: dialog.accept())
        _sign_in(page, console)
        _program_extension_key_webhook(page, console, receiver)
        _dead_letter_and_replay(page, console, receiver)
        _person_and_custom_link(page, console)
        _backfill(page, console, tmp_path)
        _tokens(page, console)
        _connector(page, console, receiver)
        page.goto(f"{console}/console")
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        shoot(page, "dashboard")
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(f"{console}/console/login")


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/console/programs")
    expect(page).to_have_url(f"{base}/console/login")  # not signed in: sent to sign in
    shoot(page, "login")
    page.get_by_label("Email").fill("pm@yourbrand.com")
    page.get_by_label("Password").fill("wrong password")
    submit(page, "Sign in")
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    page.get_by_label("Email").fill("pm@yourbrand.com")
    page.get_by_label("Password").fill(PASSWORD)
    submit(page, "Sign in")
    expect(page).to_have_url(f"{base}/console")
    cookie = next(c for c in page.context.cookies() if c["name"] == "sharelinks_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def _program_extension_key_webhook(page: Page, base: str, receiver: Receiver) -> None:
    page.goto(f"{base}/console/programs")
    page.get_by_label("Label").fill("refer-a-friend")
    page.get_by_label("Domains").fill("share.yourbrand.com")
    page.get_by_label("Share destination URL").fill("not a url")
    submit(page, "Create program")
    expect(page.get_by_role("alert")).to_contain_text("invalid_url")  # the API's own code and message
    page.get_by_label("Share destination URL").fill("https://www.yourbrand.com/refer")
    page.get_by_label("Fallback URL").fill("https://refer.yourbrand.com")
    submit(page, "Create program")
    expect(page.get_by_role("status")).to_contain_text("Program refer-a-friend created")
    shoot(page, "programs")

    page.goto(f"{base}/console/extensions")
    page.get_by_label("Trigger events").fill("converted")
    submit(page, "Enable Create Share Link on Event")
    expect(page.get_by_role("cell", name="converted")).to_be_visible()
    shoot(page, "extensions")

    page.goto(f"{base}/console/keys")
    page.get_by_label("Name", exact=True).fill("crm-signing")
    page.get_by_label("Algorithm").select_option("HS256")
    page.get_by_label("Secret", exact=False).first.fill("my-webhook-secret")
    submit(page, "Create key")
    expect(page.get_by_role("cell", name="crm-signing")).to_be_visible()
    assert "my-webhook-secret" not in page.content()
    # A Standard Webhooks secret made in the browser: shown to copy, accepted, then never shown again.
    page.get_by_label("Name", exact=True).fill("receiver-standard")
    page.get_by_role("button", name="Generate a Standard Webhooks secret").click()
    generated = page.locator("#key").input_value()
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", generated)
    expect(page.get_by_label("Algorithm")).to_have_value("STANDARD_WEBHOOKS")
    expect(page.locator("#key")).to_have_attribute("type", "text")
    shoot(page, "security-center-generated")
    submit(page, "Create key")
    expect(page.get_by_role("cell", name="receiver-standard")).to_be_visible()
    assert generated not in page.content()
    shoot(page, "security-center")

    page.goto(f"{base}/console/webhooks")
    page.get_by_label("Name", exact=True).fill("crm")
    page.get_by_label("Endpoint URL").fill(receiver.url + "/hook")
    page.get_by_label("Security key").select_option(label="crm-signing (HS256)")
    expect(page.locator("#payload-preview")).to_contain_text('"event": "Share Link Created"')
    page.get_by_label("share_code").check()
    expect(page.locator("#payload-preview")).to_contain_text('"share_code"')
    shoot(page, "webhooks")
    submit(page, "Create webhook")
    submit(page, "Send test event")
    receiver.wait_for(1)
    _reload_until(page, lambda: "200" in page.locator("table").inner_text())
    shoot(page, "webhook")


def _reload_until(page: Page, condition: Any, tries: int = 50) -> None:
    for _ in range(tries):
        if condition():
            return
        page.wait_for_timeout(200)
        page.reload()
    raise AssertionError("page never showed the expected state")


def _dead_letter_and_replay(page: Page, base: str, receiver: Receiver) -> None:
    receiver.default = Reply(500, b"down")
    page.goto(f"{base}/console/webhooks")
    page.get_by_role("link", name="crm").click()
    submit(page, "Send test event")  # a manual send is not retried: it dead-letters at once
    page.goto(f"{base}/console/events?status=dead_letter")
    _reload_until(page, lambda: page.locator("td.status-dead_letter").count() == 1)
    shoot(page, "webhook-events")
    receiver.default = Reply(200)
    page.get_by_role("checkbox").first.check()
    submit(page, "Replay selected")
    page.goto(f"{base}/console/events?status=delivered")
    _reload_until(page, lambda: page.locator("td.status-delivered").count() == 2)
    page.get_by_label("Until (UTC)").fill("2000-01-01T00:00")
    submit(page, "Filter")
    expect(page.get_by_text("No events.")).to_be_visible()  # the time filter applies


def _person_and_custom_link(page: Page, base: str) -> None:
    page.goto(f"{base}/console/persons")
    page.get_by_label("Email, partner_user_id or code").fill("nobody@yourbrand.com")
    submit(page, "Search")
    expect(page.get_by_text("Nobody found")).to_be_visible()


def _backfill(page: Page, base: str, tmp_path: Path) -> None:
    source = tmp_path / "customers.csv"
    source.write_text("email,first_name\nalex@yourbrand.com,Alex\nsam@yourbrand.com,Sam\nnot-an-email,X\n")
    page.goto(f"{base}/console/batches")
    page.get_by_label("CSV or JSON Lines", exact=False).set_input_files(str(source))
    submit(page, "Start backfill")
    _reload_until(page, lambda: page.locator("#job-status").inner_text() == "done")
    shoot(page, "batch")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download links CSV").click()
    links = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert [r["email"] for r in links] == ["alex@yourbrand.com", "sam@yourbrand.com"]
    page.goto(f"{base}/console/batches")
    shoot(page, "batches")
    # The person the backfill made: found by email, given a custom code, shown with its QR code.
    page.goto(f"{base}/console/persons")
    page.get_by_label("Email, partner_user_id or code").fill("alex@yourbrand.com")
    submit(page, "Search")
    shoot(page, "persons")
    page.get_by_role("link").filter(has_text=links[0]["person_id"]).click()
    page.get_by_label("Custom code", exact=False).fill("admin")
    page.get_by_label("Key", exact=False).fill("vip")
    submit(page, "Create share link")
    expect(page.get_by_role("alert")).to_contain_text("code_contains_reserved_word")
    page.get_by_label("Custom code", exact=False).fill("alex-vip")
    page.get_by_label("Key", exact=False).fill("vip")
    submit(page, "Create share link")
    expect(page.get_by_role("status")).to_contain_text("https://share.yourbrand.com/alex-vip")
    qr = page.get_by_role("img", name="QR code for https://share.yourbrand.com/alex-vip")
    expect(qr).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", qr.element_handle()) > 0
    shoot(page, "person")


def _connector(page: Page, base: str, receiver: Receiver) -> None:
    page.goto(f"{base}/console/programs/refer-a-friend")
    shoot(page, "program")
    page.goto(f"{base}/console/connectors")
    page.get_by_label("Vendor", exact=True).select_option("hubspot")
    page.get_by_label("Name", exact=True).fill("hubspot-main")
    page.get_by_label("Credentials", exact=False).fill("token=pat-na1-console")
    page.get_by_label("Base URL override", exact=False).fill(receiver.url)
    submit(page, "Connect")
    expect(page.get_by_text("personalization_token('contact.extole_share_link', 'https://refer.yourbrand.com')")
           ).to_be_visible()  # fmt: skip
    assert "pat-na1-console" not in page.content()
    shoot(page, "connector")
    page.goto(f"{base}/console/connectors")
    shoot(page, "connectors")


def _tokens(page: Page, base: str) -> None:
    page.goto(f"{base}/console/tokens")
    page.get_by_label("Name", exact=True).fill("crm-sync")
    page.get_by_label("USER_SUPPORT").check()
    submit(page, "Create token")
    token = page.locator("#new-token").inner_text()
    assert len(token) == 26
    shoot(page, "tokens")
    assert page.request.get(f"{base}/v2/persons", headers={"Authorization": f"Bearer {token}"}).status == 200
    page.goto(f"{base}/console/tokens")
    assert token not in page.content()  # shown once
    page.get_by_role("button", name="Revoke").click()  # confirmed by the dialog handler
    page.wait_for_load_state("networkidle")
    assert page.request.get(f"{base}/v2/persons", headers={"Authorization": f"Bearer {token}"}).status == 403
