"""Connectors against faithful vendor fakes: shapes, auth, batching, partial failures, pauses, rate limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sharelinks import clock
from sharelinks.connectors.vendors import VENDORS
from sharelinks.db.database import Database
from sharelinks.testing import vendors
from sharelinks.testing.vendors import FakeVendors
from tests.conftest import make_program
from tests.helpers import assert_error, enable_extension, send_event, wait_until, webhook_events

CREDENTIALS: dict[str, dict[str, str]] = {
    "hubspot": {"token": vendors.HUBSPOT_TOKEN},
    "klaviyo": {"api_key": vendors.KLAVIYO_KEY},
    "iterable": {"api_key": vendors.ITERABLE_KEY},
    "sfmc": {"client_id": vendors.SFMC_CLIENT[0], "client_secret": vendors.SFMC_CLIENT[1]},
    "braze": {"api_key": vendors.BRAZE_KEY},
    "customerio": {"site_id": vendors.CIO[0], "api_key": vendors.CIO[1]},
}
OPTIONS: dict[str, dict[str, Any]] = {
    "sfmc": {"subdomain": "mc123", "data_extension": "ShareLinks", "match": "external_id"},
    "braze": {"instance_url": "https://rest.iad-01.braze.com"},
}
PROPERTY = {"iterable": "share_link"}


@pytest.fixture
def fake() -> Iterator[FakeVendors]:
    with FakeVendors() as server:
        yield server


@pytest.fixture
def setup(delivering_client: TestClient, auth: dict[str, str]) -> TestClient:
    make_program(delivering_client, auth)
    enable_extension(delivering_client, auth)
    return delivering_client


def connect(client: TestClient, auth: dict, fake: FakeVendors, kind: str, **changes: Any) -> dict[str, Any]:
    body = {"type": kind, "name": f"{kind}-main", "program_label": "refer-a-friend", "base_url": fake.url,
            "credentials": CREDENTIALS[kind], "options": OPTIONS.get(kind, {}), **changes}  # fmt: skip
    response = client.post("/v6/connectors", headers=auth, json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def link_of(client: TestClient, auth: dict, email: str) -> str:
    person = client.get("/v2/persons", headers=auth, params={"email": email}).json()[0]
    return client.get(f"/v4/persons/{person['id']}/shareables", headers=auth).json()[0]["link"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_each_vendor_receives_the_link(setup: TestClient, auth: dict, fake: FakeVendors, kind: str) -> None:
    created = connect(setup, auth, fake, kind)
    assert created["status"] == "active" and created["credentials_set"]
    for secret in CREDENTIALS[kind].values():
        assert secret not in str(created) and secret not in setup.get("/v6/connectors", headers=auth).text
    send_event(setup, auth, "alex@example.com")
    key = "P-alex@example.com" if OPTIONS.get(kind, {}).get("match") == "external_id" else "alex@example.com"
    stored = wait_until(lambda: fake.contact(kind, key))
    assert stored[PROPERTY.get(kind, "extole_share_link")] == link_of(setup, auth, "alex@example.com")
    event = wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "delivered"])[0]
    assert event["attempts"][0]["request_headers"]  # recorded, with secrets redacted
    assert all(secret not in str(event) for secret in CREDENTIALS[kind].values())


def test_hubspot_creates_its_property_and_batches_100(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    connect(setup, auth, fake, "hubspot", options={"limit_requests": 1000, "limit_seconds": 1})
    items = [{"event_name": "converted", "data": {"email": f"c{i}@example.com"}} for i in range(150)]
    assert setup.post("/v5/batch-events", headers=auth, json=items).status_code == 200
    wait_until(lambda: len(fake.contacts("hubspot")) == 150)
    upserts = [r for r in fake.requests if r.path.endswith("/batch/upsert")]
    sizes = [len(r.json()["inputs"]) for r in upserts]
    assert max(sizes) <= 100 and sum(sizes) == 150 and len(upserts) < 10
    assert "extole_share_link" in fake.state.hubspot_properties
    assert upserts[0].header("authorization") == f"Bearer {vendors.HUBSPOT_TOKEN}"


def test_hubspot_207_fails_only_the_bad_contact(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    connect(setup, auth, fake, "hubspot", options={"match": "external_id", "id_property": "email"})
    send_event(setup, auth, "good@example.com", partner_user_id="good@example.com")
    send_event(setup, auth, "bad@example.com", partner_user_id="not-an-email")
    events = wait_until(lambda: {e["status"] for e in webhook_events(setup, auth)} == {"delivered", "dead_letter"}
                        and webhook_events(setup, auth))  # fmt: skip
    dead = next(e for e in events if e["status"] == "dead_letter")
    assert dead["email"] == "bad@example.com" and "invalid" in dead["last_error"]
    assert fake.contact("hubspot", "good@example.com")


def test_permanent_vendor_error_dead_letters_at_once_with_its_message(
    setup: TestClient, auth: dict, fake: FakeVendors
) -> None:
    connect(setup, auth, fake, "klaviyo")
    duplicate = {"status": 409, "code": "duplicate_profile", "title": "Conflict.",
                 "detail": "A profile already exists with one of these identifiers."}  # fmt: skip
    fake.fail("klaviyo", 409, {"errors": [duplicate]})
    send_event(setup, auth, "alex@example.com")
    event = wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "dead_letter"])[0]
    assert event["attempt_count"] == 1
    assert "duplicate_profile" in event["last_error"] and "already exists" in event["last_error"]


def test_retryable_errors_are_retried(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    connect(setup, auth, fake, "iterable")
    fake.fail("iterable", 503)
    send_event(setup, auth, "alex@example.com")
    event = wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "delivered"], timeout=20)[0]
    assert [a["response_status_code"] for a in event["attempts"]] == [503, 200]
    connector = setup.get("/v6/connectors", headers=auth).json()[0]
    assert connector["status"] == "active" and connector["last_error"] is None


def test_rejected_credentials_pause_until_they_are_fixed(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    created = connect(setup, auth, fake, "braze", credentials={"api_key": "wrong-key"})
    send_event(setup, auth, "alex@example.com")
    wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "paused"])
    connector = setup.get(f"/v6/connectors/{created['id']}", headers=auth).json()
    assert connector["status"] == "unauthorized" and "Invalid API key" in connector["last_error"]
    time.sleep(0.5)
    assert fake.calls("braze") == 1  # no retries burnt on bad credentials
    fixed = setup.put(f"/v6/connectors/{created['id']}", headers=auth, json={"credentials": CREDENTIALS["braze"]})
    assert fixed.status_code == 200 and fixed.json()["status"] == "active"
    wait_until(lambda: fake.contact("braze", "alex@example.com"))


@pytest.mark.parametrize(
    ("kind", "eu_credentials"),
    [("iterable", {"api_key": vendors.ITERABLE_EU_KEY}),
     ("customerio", {"site_id": vendors.CIO_EU[0], "api_key": vendors.CIO_EU[1]})],
)  # fmt: skip
def test_a_key_works_only_in_its_own_data_centre(
    setup: TestClient, auth: dict, monkeypatch: pytest.MonkeyPatch, kind: str, eu_credentials: dict
) -> None:
    """No base_url: the region picks the host (here two fakes, one per data centre)."""
    with FakeVendors(region="us") as us, FakeVendors(region="eu") as eu:
        monkeypatch.setattr(VENDORS[kind], "hosts", {"us": us.url, "eu": eu.url})
        body = {"type": kind, "name": kind, "program_label": "refer-a-friend", "credentials": eu_credentials}
        created = setup.post("/v6/connectors", headers=auth, json=body).json()  # region left to its default, us
        send_event(setup, auth, "alex@example.com")
        wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "paused"])
        connector = setup.get(f"/v6/connectors/{created['id']}", headers=auth).json()
        assert connector["status"] == "unauthorized" and "this connector's region is us" in connector["last_error"]
        assert (us.calls(kind), eu.calls(kind)) == (1, 0)
        moved = setup.put(f"/v6/connectors/{created['id']}", headers=auth, json={"options": {"region": "eu"}})
        assert moved.status_code == 200 and moved.json()["status"] == "active", moved.text
        wait_until(lambda: eu.contact(kind, "alex@example.com"))
        assert us.calls(kind) == 1 and not us.contacts(kind)


def test_sfmc_refreshes_an_expired_token_once(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    connect(setup, auth, fake, "sfmc")
    send_event(setup, auth, "a@example.com")
    wait_until(lambda: fake.contact("sfmc", "P-a@example.com"))
    fake.expire_sfmc_tokens()
    send_event(setup, auth, "b@example.com")
    wait_until(lambda: fake.contact("sfmc", "P-b@example.com"))
    tokens = [r for r in fake.requests if r.path == "/v2/token"]
    assert len(tokens) == 2 and tokens[0].json()["grant_type"] == "client_credentials"


def test_rate_limit_is_held_with_zero_429s(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    fake.limit("klaviyo", 20, 1.0)
    connect(setup, auth, fake, "klaviyo", options={"limit_requests": 20, "limit_seconds": 1})
    started = time.monotonic()
    items = [{"event_name": "converted", "data": {"email": f"r{i}@example.com"}} for i in range(60)]
    assert setup.post("/v5/batch-events", headers=auth, json=items).status_code == 200
    wait_until(lambda: len(fake.contacts("klaviyo")) == 60, timeout=30)
    assert fake.throttled("klaviyo") == 0
    assert time.monotonic() - started >= (60 - 1) / 17 * 0.9  # the bucket, not the vendor, set the pace


def test_snippets_carry_the_fallback(setup: TestClient, auth: dict, fake: FakeVendors) -> None:
    expected = {
        "hubspot": "{{ personalization_token('contact.extole_share_link', 'https://refer.yourbrand.com') }}",
        "klaviyo": "{{ person|lookup:'extole_share_link'|default:'https://refer.yourbrand.com' }}",
        "iterable": '{{defaultIfEmpty share_link "https://refer.yourbrand.com"}}',
        "sfmc": "%%extole_share_link%%",
        "braze": "{{custom_attribute.${extole_share_link} | default: 'https://refer.yourbrand.com'}}",
        "customerio": '{{ customer.extole_share_link | default: "https://refer.yourbrand.com" }}',
    }
    for kind, text in expected.items():
        created = connect(setup, auth, fake, kind)
        snippet = setup.get(f"/v6/connectors/{created['id']}/snippet", headers=auth).json()
        assert text in snippet["snippets"].values(), (kind, snippet)
        assert snippet["fallback_url"] == "https://refer.yourbrand.com"
    sfmc = setup.get("/v6/connectors", headers=auth).json()
    sfmc_id = next(c["id"] for c in sfmc if c["type"] == "sfmc")
    ampscript = setup.get(f"/v6/connectors/{sfmc_id}/snippet", headers=auth).json()["snippets"]["ampscript"]
    assert 'AttributeValue("extole_share_link")' in ampscript and "https://refer.yourbrand.com" in ampscript


def test_bad_connector_requests(client: TestClient, auth: dict, program: dict) -> None:
    base = {"name": "x", "program_label": "refer-a-friend", "credentials": {"token": "t"}}
    for change, code in (
        ({"type": "mailchimp"}, "invalid_connector_type"),
        ({"type": "hubspot", "credentials": {}}, "invalid_credentials_fields"),
        ({"type": "sfmc", "credentials": {"client_id": "a", "client_secret": "b"}}, "invalid_parameter"),
        ({"type": "iterable", "credentials": {"api_key": "k"}, "options": {"region": "apac"}}, "invalid_parameter"),
        ({"type": "hubspot", "program_label": "nope"}, "program_not_found"),
        ({"type": "hubspot", "base_url": "http://10.0.0.1"}, "webhook_url_not_allowed"),
    ):
        status = 404 if code == "program_not_found" else 400
        assert_error(client.post("/v6/connectors", headers=auth, json={**base, **change}), status, code)
    assert client.get("/v6/connectors", headers=auth).json() == []
    assert_error(client.get("/v6/connectors/123", headers=auth), 404, "connector_not_found")


MISSHAPEN: dict[str, tuple[str, str, dict[str, str], Any, int]] = {
    # vendor: (method, path, headers, body, expected status)
    "hubspot": ("POST", "/crm/v3/objects/contacts/batch/upsert", {"Authorization": f"Bearer {vendors.HUBSPOT_TOKEN}"},
                {"inputs": [{"idProperty": "email", "id": f"x{i}@example.com", "properties": {}} for i in range(101)]},
                400),
    "klaviyo": ("POST", "/api/profile-import", {"Authorization": f"Klaviyo-API-Key {vendors.KLAVIYO_KEY}",
                                               "Content-Type": "application/json"}, {"data": {}}, 400),
    "iterable": ("POST", "/api/users/update", {"Api-Key": vendors.ITERABLE_KEY},
                 {"email": "a@example.com", "userId": "U1", "dataFields": {}}, 400),
    "sfmc": ("POST", "/v2/token", {}, {"grant_type": "password", "client_id": "x", "client_secret": "y"}, 400),
    "braze": ("POST", "/users/track", {"Authorization": f"Bearer {vendors.BRAZE_KEY}"},
              {"attributes": [{"external_id": str(i)} for i in range(76)]}, 400),
    "customerio": ("POST", "/api/v2/batch", {"Authorization": "Basic " + __import__("base64").b64encode(
        f"{vendors.CIO[0]}:{vendors.CIO[1]}".encode()).decode()}, {"batch": ["x" * 600_000]}, 400),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(MISSHAPEN))
def test_the_fakes_are_strict(fake: FakeVendors, kind: str) -> None:
    """A fake that accepted anything would prove nothing: each refuses a body its vendor refuses."""
    import urllib.error
    import urllib.request

    import orjson

    method, path, headers, body, status = MISSHAPEN[kind]
    request = urllib.request.Request(fake.url + path, data=orjson.dumps(body), method=method,
                                     headers={"Content-Type": "application/json", **headers})  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == status
    unauthenticated = urllib.request.Request(fake.url + path, data=b"{}", method=method)
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(unauthenticated, timeout=10)
    assert denied.value.code in (400, 401)


PUSH_LIMITS = {"hubspot": 20, "klaviyo": 400, "iterable": 5, "sfmc": 40, "braze": 40, "customerio": 40}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(PUSH_LIMITS))
def test_5000_contacts_pushed_within_the_vendor_rate_limit(
    delivering_client: TestClient, auth: dict, fake: FakeVendors, kind: str, db: Any
) -> None:
    if not db.is_sqlite:
        pytest.skip("the push path is the same on both databases; PostgreSQL runs the 20,000-link push")
    make_program(delivering_client, auth)
    limit = PUSH_LIMITS[kind]
    fake.limit(kind, limit, 1.0)
    created = connect(delivering_client, auth, fake, kind, options={**OPTIONS.get(kind, {}), "match": "external_id",
                      "limit_requests": limit, "limit_seconds": 1})  # fmt: skip
    body = "email,partner_user_id\n" + "".join(f"v{i}@example.com,V{i}\n" for i in range(5000))
    job = delivering_client.post("/v6/batches", headers=auth, files={"file": ("c.csv", body, "text/csv")},
                                 data={"program_label": "refer-a-friend", "push": created["id"]}).json()  # fmt: skip
    assert "id" in job, job
    wait_until(lambda: len(fake.contacts(kind)) == 5000, timeout=120, interval=0.2)
    assert fake.throttled(kind) == 0
    assert fake.contact(kind, "V4999")
    bulk = {"klaviyo": "/api/profile-bulk-import-jobs", "sfmc": "/data/v1/async/dataextensions"}
    if kind in bulk:  # a backlog goes through the vendor's asynchronous bulk job
        assert any(r.path.startswith(bulk[kind]) for r in fake.requests)


def test_send_time_pull_gets_or_creates_once(client: TestClient, auth: dict, program: dict) -> None:
    first = client.get("/v6/share-link", headers=auth, params={"email": "Pull@Example.com"})
    assert first.status_code == 200 and first.headers["cache-control"] == "private, max-age=300"
    again = client.get(
        "/v6/share-link", headers=auth, params={"email": "pull@example.com", "program": "refer-a-friend"}
    )
    assert first.json()["share_link"] == again.json()["share_link"]
    assert first.json()["share_link"].startswith("https://share.yourbrand.com/")
    by_puid = client.get("/v6/share-link", headers=auth, params={"partner_user_id": "PULL-2"}).json()
    assert by_puid["partner_user_id"] == "PULL-2" and by_puid["code"]
    person = client.get("/v2/persons", headers=auth, params={"email": "pull@example.com"}).json()[0]
    assert len(client.get(f"/v4/persons/{person['id']}/shareables", headers=auth).json()) == 1
    assert_error(client.get("/v6/share-link", headers=auth), 400, "missing_identity")
    assert_error(client.get("/v6/share-link", headers=auth, params={"email": "nope"}), 400, "invalid_email")
    assert_error(client.get("/v6/share-link", headers=auth, params={"email": "a@example.com", "program": "x"}), 404,
                 "program_not_found")  # fmt: skip


PERMANENT: dict[str, tuple[int, Any, str]] = {
    # vendor: (status, body in the vendor's own shape, what the dead letter must quote)
    "hubspot": (400, {"status": "error", "message": "Property values were not valid", "category": "VALIDATION_ERROR"},
                "Property values were not valid"),
    "klaviyo": (400, {"errors": [{"status": 400, "code": "invalid", "detail": "Invalid email address"}]},
                "Invalid email address"),
    "iterable": (400, {"msg": "Invalid email", "code": "InvalidEmailAddressError", "params": None}, "Invalid email"),
    "sfmc": (400, {"message": "Unable to save rows for data extension", "errorcode": 10006, "documentation": ""},
             "Unable to save rows"),
    "braze": (400, {"message": "Invalid request"}, "Invalid request"),
    "customerio": (400, {"meta": {"error": "bad identifier"}}, "bad identifier"),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(PERMANENT))
def test_each_vendor_permanent_error_dead_letters_and_retryable_retries(
    setup: TestClient, auth: dict, fake: FakeVendors, kind: str
) -> None:
    connect(setup, auth, fake, kind)
    status, body, quoted = PERMANENT[kind]
    data_path = {"hubspot": "/crm/v3/objects", "sfmc": "/hub/"}.get(kind, "")  # not the property or token call
    fake.fail(kind, status, body, path=data_path)
    send_event(setup, auth, "first@example.com")
    dead = wait_until(lambda: [e for e in webhook_events(setup, auth) if e["status"] == "dead_letter"])[0]
    assert dead["attempt_count"] == 1 and quoted in dead["last_error"]
    fake.fail(kind, 503, {"message": "unavailable"}, path=data_path)
    send_event(setup, auth, "second@example.com")
    retried = wait_until(lambda: [e for e in webhook_events(setup, auth, email="second@example.com")
                                  if e["status"] == "delivered"], timeout=20)[0]  # fmt: skip
    assert retried["attempts"][0]["response_status_code"] == 503 and retried["attempt_count"] == 2


def test_hubspot_daily_cap_holds_the_connector_until_the_next_hour(
    setup: TestClient, auth: dict, fake: FakeVendors, db: Database
) -> None:
    # The clock a minute past a whole hour, running: the hold (to the next hour) is 59 minutes long.
    started = datetime.now(UTC)
    hour = started.replace(minute=0, second=0, microsecond=0)
    clock.set_clock(lambda: hour + timedelta(minutes=1) + (datetime.now(UTC) - started))
    created = connect(setup, auth, fake, "hubspot", options={"limit_requests": 1000, "limit_seconds": 1})
    fake.hubspot_daily_limit(2)  # the property and one upsert
    send_event(setup, auth, "a@example.com")
    wait_until(lambda: fake.contact("hubspot", "a@example.com"))

    def event(email: str, status: str) -> dict[str, Any] | None:
        found = [e for e in webhook_events(setup, auth, email=email) if e["status"] == status]
        return found[0] if found else None

    def due(found: dict[str, Any]) -> datetime:
        return datetime.fromisoformat(found["next_attempt_date"])

    send_event(setup, auth, "b@example.com")  # over the cap: 429 with policy DAILY
    capped = wait_until(lambda: event("b@example.com", "retrying"))
    assert capped["attempt_count"] == 1 and "daily limit" in capped["last_error"]
    next_hour = hour + timedelta(hours=1)
    assert due(capped) >= next_hour
    send_event(setup, auth, "c@example.com")  # while held: given back untried, due at the next hour
    held = wait_until(lambda: (e := event("c@example.com", "pending")) and due(e) >= next_hour and e)
    assert held["attempt_count"] == 0
    assert fake.calls("hubspot") == 3 and fake.throttled("hubspot") == 1
    connector = setup.get(f"/v6/connectors/{created['id']}", headers=auth).json()
    assert connector["status"] == "failing" and f"Held until {next_hour:%Y-%m-%d %H:%M} UTC" in connector["last_error"]

    fake.hubspot_new_day()  # the account's midnight: the cap lifts; the clock goes to the next hour
    clock.set_clock(lambda: next_hour + (datetime.now(UTC) - started))
    delivered = wait_until(lambda: event("c@example.com", "delivered"))
    assert delivered["attempt_count"] == 1  # the hold cost it no attempt
    wait_until(lambda: event("b@example.com", "delivered"))
    assert fake.contact("hubspot", "b@example.com") and fake.contact("hubspot", "c@example.com")
