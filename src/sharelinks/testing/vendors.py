"""Faithful fakes of the vendor APIs the connectors write to, on one loopback server.

Modelled from shared/spec/vendor-contracts.md §8: each vendor's auth and its 401 body, upsert
semantics, batch limits, rate limiting with the vendor's own 429 shape, partial failures, conflicts,
SFMC's token endpoint with expiring tokens. Every request is recorded; `contact()` reads stored values.
A fake is one data centre (`region`): Iterable and Customer.io take only that region's keys, as a
key works only in its own (§10).

    with FakeVendors() as fake:
        fake.limit("klaviyo", 10, 1.0)         # at most 10 requests per 1 s window, then 429
        fake.hubspot_daily_limit(2)            # HubSpot's daily cap: 2 requests, then 429 DAILY
        fake.fail("hubspot", 503)              # the next HubSpot request answers 503
"""

from __future__ import annotations

import base64
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from sharelinks.testing.receiver import Received, Receiver

HUBSPOT_TOKEN = "pat-na1-test-token"
KLAVIYO_KEY = "pk_test_klaviyo"
ITERABLE_KEY = "iterable-test-key"  # the US data centre's; the EU's below
ITERABLE_EU_KEY = "iterable-test-key-eu"
SFMC_CLIENT = ("sfmc-client-id", "sfmc-client-secret")
BRAZE_KEY = "braze-rest-key"
CIO = ("cio-site", "cio-api-key")  # (site id, API key) in the US data centre
CIO_EU = ("cio-site-eu", "cio-api-key-eu")
SFMC_TOKEN_SECONDS = 1080


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def _klaviyo_error(status: int, code: str, detail: str) -> web.Response:
    title = {401: "Not authenticated.", 409: "Conflict."}.get(status, "Error.")
    return _json(status, {"errors": [{"id": str(uuid.uuid4()), "status": status, "code": code, "title": title,
                                      "detail": detail, "source": {"pointer": "/data/attributes"}}]})  # fmt: skip


@dataclass
class Window:
    limit: int
    seconds: float
    started: float = 0.0
    count: int = 0

    def allow(self) -> bool:
        now = time.monotonic()
        if now - self.started >= self.seconds:
            self.started, self.count = now, 0
        self.count += 1
        return self.count <= self.limit

    def reset_in(self) -> int:
        return max(1, int(self.seconds - (time.monotonic() - self.started) + 0.999))


@dataclass
class State:
    contacts: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    hubspot_properties: set[str] = field(default_factory=set)
    sfmc_tokens: dict[str, float] = field(default_factory=dict)
    limits: dict[str, Window] = field(default_factory=dict)
    faults: dict[str, list[tuple[str, web.Response]]] = field(default_factory=dict)
    throttled: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    # HubSpot's daily cap: [requests allowed a day, requests made today], or None for no cap.
    hubspot_daily: list[int] | None = None
    # Asynchronous bulk jobs: id → (vendor, polls left before done, payload to apply, errors).
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)


class FakeVendors(Receiver):
    def __init__(self, region: str = "us") -> None:
        super().__init__()
        self.state = State()
        self._state_lock = threading.Lock()
        self.iterable_key = {"us": ITERABLE_KEY, "eu": ITERABLE_EU_KEY}[region]
        self.cio = {"us": CIO, "eu": CIO_EU}[region]

    # -- test controls ---------------------------------------------------------------------------

    def limit(self, vendor: str, requests: int, seconds: float) -> None:
        self.state.limits[vendor] = Window(requests, seconds)

    def hubspot_daily_limit(self, requests: int) -> None:
        """HubSpot's daily cap: `requests` more today, then 429 with policy DAILY."""
        self.state.hubspot_daily = [requests, 0]

    def hubspot_new_day(self) -> None:
        """Midnight in the account's time zone: the daily count starts again."""
        assert self.state.hubspot_daily is not None
        self.state.hubspot_daily[1] = 0

    def fail(
        self, vendor: str, status: int, body: Any = None, headers: dict[str, str] | None = None, path: str = ""
    ) -> None:
        """The next request to `vendor` (whose path starts with `path`) answers this."""
        self.state.faults.setdefault(vendor, []).append((path, _json(status, body or {"message": "fault"}, headers)))

    def contact(self, vendor: str, key: str) -> dict[str, Any] | None:
        return self.state.contacts.get(vendor, {}).get(key)

    def contacts(self, vendor: str) -> dict[str, dict[str, Any]]:
        return self.state.contacts.get(vendor, {})

    def expire_sfmc_tokens(self) -> None:
        self.state.sfmc_tokens.clear()

    def throttled(self, vendor: str) -> int:
        return self.state.throttled.get(vendor, 0)

    def calls(self, vendor: str) -> int:
        return self.state.calls.get(vendor, 0)

    # -- dispatch --------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append(Received(request.method, request.path_qs, dict(request.headers), body, time.monotonic()))
        vendor, handler = self._route(request)
        if handler is None:
            return _json(404, {"message": "not found"})
        self.state.calls[vendor] = self.state.calls.get(vendor, 0) + 1
        faults = self.state.faults.get(vendor) or []
        for index, (prefix, fault) in enumerate(faults):
            if request.path.startswith(prefix):
                del faults[index]
                return fault
        window = self.state.limits.get(vendor)
        if window is not None and not window.allow():
            self.state.throttled[vendor] = self.state.throttled.get(vendor, 0) + 1
            return self._throttle(vendor, window)
        daily = self.state.hubspot_daily if vendor == "hubspot" else None
        if daily is not None:
            if daily[1] >= daily[0]:
                self.state.throttled[vendor] = self.state.throttled.get(vendor, 0) + 1
                return self._hubspot_daily_throttle(daily[0])
            daily[1] += 1
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            return _json(400, {"message": "invalid JSON"})
        with self._state_lock:
            answer: web.Response = handler(request, data, body)
        return answer

    def _route(self, request: web.Request) -> tuple[str, Any]:
        path = request.path
        routes: list[tuple[str, str, Any]] = [
            ("hubspot", "/crm/v3/properties/contacts", self._hubspot_property),
            ("hubspot", "/crm/v3/objects/contacts/batch/upsert", self._hubspot_upsert),
            ("klaviyo", "/api/profile-import", self._klaviyo_import),
            ("iterable", "/api/users/update", self._iterable_update),
            ("iterable", "/api/users/bulkUpdate", self._iterable_bulk),
            ("sfmc", "/v2/token", self._sfmc_token),
            ("braze", "/users/track", self._braze_track),
            ("customerio", "/api/v2/batch", self._cio_batch),
        ]
        for vendor, route, handler in routes:
            if path == route:
                return vendor, handler
        if path.startswith("/hub/v1/dataevents/key:") and path.endswith("/rowset"):
            return "sfmc", self._sfmc_rowset
        if path.startswith("/data/v1/async/"):
            return "sfmc", self._sfmc_async
        if path.startswith("/api/profile-bulk-import-jobs"):
            return "klaviyo", self._klaviyo_bulk
        return "", None

    def _throttle(self, vendor: str, window: Window) -> web.Response:
        retry = str(window.reset_in())
        if vendor == "hubspot":
            body = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()),
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            headers = {
                "X-HubSpot-RateLimit-Interval-Milliseconds": str(int(window.seconds * 1000)),
                "X-HubSpot-RateLimit-Max": str(window.limit),
                "X-HubSpot-RateLimit-Remaining": "0",
            }
            return _json(429, body, headers)  # fmt: skip
        if vendor == "klaviyo":
            detail = f"Request was throttled. Expected available in {retry} second."
            return _json(429, {"errors": [{"id": str(uuid.uuid4()), "status": 429, "code": "throttled",
                                           "title": "Request was throttled.", "detail": detail}]},
                         {"Retry-After": retry})  # fmt: skip
        if vendor == "iterable":
            return _json(429, {"msg": "Exceeded rate limit.", "code": "RateLimitExceeded", "params": None})
        if vendor == "sfmc":
            return _json(429, {"message": "Rate limit exceeded", "errorcode": 50100, "retryAfter": int(retry)},
                         {"Retry-After": retry})  # fmt: skip
        if vendor == "braze":
            return _json(429, {"message": "rate limited"}, {"X-RateLimit-Limit": str(window.limit),
                                                           "X-RateLimit-Remaining": "0"})  # fmt: skip
        return _json(429, {"meta": {"error": "rate limited"}})

    @staticmethod
    def _hubspot_daily_throttle(allowed: int) -> web.Response:
        """HubSpot's daily variant of its 429 (vendor-contracts.md §1): policy DAILY, no Retry-After."""
        body = {"status": "error", "message": "You have reached your daily limit.", "errorType": "RATE_LIMIT",
                "correlationId": str(uuid.uuid4()), "policyName": "DAILY"}  # fmt: skip
        headers = {"X-HubSpot-RateLimit-Daily": str(allowed), "X-HubSpot-RateLimit-Daily-Remaining": "0"}
        return _json(429, body, headers)

    def _store(self, vendor: str, key: str, values: dict[str, Any]) -> bool:
        """Merge `values` into the contact; True when it was created."""
        contacts = self.state.contacts.setdefault(vendor, {})
        created = key not in contacts
        contacts.setdefault(key, {}).update(values)
        return created

    # -- HubSpot ---------------------------------------------------------------------------------

    def _hubspot_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Authorization") != f"Bearer {HUBSPOT_TOKEN}":
            return _json(401, {"status": "error", "message": "Authentication credentials not found.",
                               "category": "INVALID_AUTHENTICATION", "correlationId": str(uuid.uuid4())})  # fmt: skip
        return None

    def _hubspot_property(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        if (denied := self._hubspot_auth(request)) is not None:
            return denied
        name = data.get("name")
        if data.get("type") != "string" or data.get("fieldType") != "text" or not name:
            return _json(400, {"status": "error", "message": "Property is invalid", "category": "VALIDATION_ERROR"})
        if name in self.state.hubspot_properties:
            return _json(409, {"status": "error", "message": f"Property named '{name}' already exists.",
                               "category": "OBJECT_ALREADY_EXISTS"})  # fmt: skip
        self.state.hubspot_properties.add(name)
        return _json(201, {"name": name, "type": "string", "fieldType": "text"})

    def _hubspot_upsert(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        if (denied := self._hubspot_auth(request)) is not None:
            return denied
        inputs = data.get("inputs") or []
        if len(inputs) > 100:
            return _json(400, {"status": "error", "message": "Batch size exceeds 100", "category": "VALIDATION_ERROR"})
        results, errors = [], []
        for item in inputs:
            unknown = [p for p in item.get("properties", {}) if p not in self.state.hubspot_properties]
            if unknown:
                message = f'Property values were not valid: "error":"PROPERTY_DOESNT_EXIST" {unknown}'
                return _json(400, {"status": "error", "category": "VALIDATION_ERROR", "message": message})
            key = str(item.get("id") or "")
            if item.get("idProperty") == "email" and "@" not in key:
                errors.append({"status": "error", "category": "VALIDATION_ERROR", "message": f"Email {key} is invalid",
                               "context": {"objectWriteTraceId": [item.get("objectWriteTraceId")]}})  # fmt: skip
                continue
            created = self._store("hubspot", key, item.get("properties", {}))
            results.append({"id": str(abs(hash(key)) % 10**9), "new": created, "properties": item["properties"]})
        body: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            body["errors"] = errors
            body["numErrors"] = len(errors)
        return _json(207 if errors else 200, body)

    # -- Klaviyo ---------------------------------------------------------------------------------

    def _klaviyo_import(self, request: web.Request, data: Any, raw: bytes) -> web.Response:
        if request.headers.get("Authorization") != f"Klaviyo-API-Key {KLAVIYO_KEY}":
            return _klaviyo_error(401, "not_authenticated", "Authentication credentials were not provided.")
        if not request.headers.get("revision"):
            return _json(400, {"errors": [{"status": 400, "code": "invalid", "detail": "revision header required"}]})
        if request.content_type != "application/vnd.api+json":
            return _json(415, {"errors": [{"status": 415, "code": "unsupported_media_type", "detail": "Use JSON:API"}]})
        if len(raw) > 100_000:
            return _json(413, {"errors": [{"status": 413, "code": "too_large", "detail": "Profile too large"}]})
        attributes = data["data"]["attributes"]
        email, external_id = attributes.get("email"), attributes.get("external_id")
        contacts = self.state.contacts.setdefault("klaviyo", {})
        by_external = next(
            (k for k, v in contacts.items() if external_id and v.get("external_id") == external_id), None
        )
        if email and by_external and by_external != email:
            return _klaviyo_error(409, "duplicate_profile", "A profile already exists with one of these identifiers.")
        key = email or by_external or external_id
        values = {k: v for k, v in attributes.items() if k != "properties"}
        created = self._store("klaviyo", key, {**values, **attributes.get("properties", {})})
        return _json(201 if created else 200, {"data": {"type": "profile", "id": key, "attributes": attributes}})

    def _klaviyo_bulk(self, request: web.Request, data: Any, raw: bytes) -> web.Response:
        """Bulk import jobs: 202 queued → processing → complete, then import-errors."""
        if request.headers.get("Authorization") != f"Klaviyo-API-Key {KLAVIYO_KEY}":
            return _klaviyo_error(401, "not_authenticated", "Authentication credentials were not provided.")
        if not request.headers.get("revision"):
            return _json(400, {"errors": [{"status": 400, "code": "invalid", "detail": "revision header required"}]})
        parts = request.path.rstrip("/").split("/")
        if request.method == "POST" and len(parts) == 3:
            if len(raw) > 5_000_000:
                return _klaviyo_error(413, "too_large", "A bulk import job is at most 5 MB.")
            profiles = data["data"]["attributes"]["profiles"]["data"]
            if len(profiles) > 10_000:
                return _klaviyo_error(400, "invalid", "A bulk import job takes at most 10,000 profiles.")
            job_id = uuid.uuid4().hex
            self.state.jobs[job_id] = {"vendor": "klaviyo", "polls": 2, "profiles": profiles, "errors": []}
            return _json(202, {"data": {"type": "profile-bulk-import-job", "id": job_id,
                                        "attributes": {"status": "queued", "total_count": len(profiles)}}})  # fmt: skip
        job = self.state.jobs.get(parts[3]) if len(parts) > 3 else None
        if job is None:
            return _klaviyo_error(404, "not_found", "No such job.")
        if len(parts) == 5 and parts[4] == "import-errors":
            return _json(200, {"data": job["errors"], "links": {"next": None}})
        if job["polls"] > 0:
            job["polls"] -= 1
            return _json(200, {"data": {"type": "profile-bulk-import-job", "id": parts[3],
                                        "attributes": {"status": "processing"}}})  # fmt: skip
        if "done" not in job:
            for profile in job["profiles"]:
                attributes = profile["attributes"]
                key = attributes.get("email") or attributes.get("external_id")
                if attributes.get("email") and "@" not in attributes["email"]:
                    error = {"code": "invalid", "title": "Invalid email", "detail": "Invalid email address",
                             "original_payload": attributes}  # fmt: skip
                    job["errors"].append({"type": "import-error", "id": uuid.uuid4().hex, "attributes": error})
                    continue
                self._store("klaviyo", key, attributes.get("properties") or {})
            job["done"] = True
        counts = {"status": "complete", "total_count": len(job["profiles"]), "failed_count": len(job["errors"]),
                  "completed_count": len(job["profiles"]) - len(job["errors"])}  # fmt: skip
        return _json(200, {"data": {"type": "profile-bulk-import-job", "id": parts[3], "attributes": counts}})

    # -- Iterable --------------------------------------------------------------------------------

    def _iterable_auth(self, request: web.Request) -> web.Response | None:
        if request.headers.get("Api-Key") != self.iterable_key:  # aiohttp matches header names case-insensitively
            return _json(401, {"msg": "Invalid API key", "code": "BadApiKey", "params": {"endpoint": request.path}})
        return None

    def _iterable_user(self, user: dict[str, Any]) -> str | None:
        key: str | None = user.get("email") or user.get("userId")
        if not key or (user.get("email") and "@" not in user["email"]):
            return None
        self._store("iterable", key, user.get("dataFields") or {})
        return key

    def _iterable_update(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        if (denied := self._iterable_auth(request)) is not None:
            return denied
        if data.get("email") and data.get("userId"):
            return _json(400, {"msg": "Send email or userId, not both", "code": "BadParams", "params": None})
        if self._iterable_user(data) is None:
            return _json(400, {"msg": "Invalid email", "code": "InvalidEmailAddressError", "params": None})
        return _json(200, {"msg": "", "code": "Success", "params": None})

    def _iterable_bulk(self, request: web.Request, data: Any, raw: bytes) -> web.Response:
        if (denied := self._iterable_auth(request)) is not None:
            return denied
        if len(raw) > 4_000_000:
            return _json(400, {"msg": "Batch too large", "code": "BatchTooLarge", "params": None})
        invalid = [u.get("email") for u in data.get("users", []) if self._iterable_user(u) is None]
        ok = len(data.get("users", [])) - len(invalid)
        return _json(200, {"successCount": ok, "failCount": len(invalid), "createdFields": [], "filteredOutFields": [],
                           "failedUpdates": {"invalidEmails": invalid, "notFoundEmails": [], "conflictEmails": [],
                                             "forgottenEmails": []}})  # fmt: skip

    # -- SFMC ------------------------------------------------------------------------------------

    def _sfmc_token(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        if data.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type", "error_description": "Use client_credentials"})
        if (data.get("client_id"), data.get("client_secret")) != SFMC_CLIENT:
            return _json(401, {"error": "invalid_client", "error_description": "Invalid client ID.",
                               "error_uri": "https://developer.salesforce.com/docs"})  # fmt: skip
        token = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()
        self.state.sfmc_tokens[token] = time.monotonic() + SFMC_TOKEN_SECONDS
        return _json(200, {"access_token": token, "token_type": "Bearer", "expires_in": SFMC_TOKEN_SECONDS,
                           "scope": "data_extensions_read data_extensions_write",
                           "rest_instance_url": self.url + "/", "soap_instance_url": self.url + "/"})  # fmt: skip

    def _sfmc_rowset(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.state.sfmc_tokens.get(token, 0) < time.monotonic():
            return _json(401, {"message": "Not Authorized", "errorcode": 0, "documentation": ""})
        if not isinstance(data, list):
            return _json(400, {"message": "Rowset must be an array", "errorcode": 10000, "documentation": ""})
        for row in data:
            keys = row.get("keys") or {}
            if "SubscriberKey" not in keys:
                missing = next(iter(keys), "")
                return _json(400, {"message": f"Primary key '{missing.lower()}' does not exist.", "errorcode": 10000,
                                   "documentation": ""})  # fmt: skip
            self._store("sfmc", str(keys["SubscriberKey"]), row.get("values") or {})
        return _json(200, data)

    def _sfmc_async(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        """Async rows: PUT → 202 requestId; status Pending → Complete; results one item per row."""
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        if self.state.sfmc_tokens.get(token, 0) < time.monotonic():
            return _json(401, {"message": "Not Authorized", "errorcode": 0, "documentation": ""})
        parts = request.path.strip("/").split("/")  # data v1 async ...
        if request.method == "PUT" and parts[3].startswith("dataextensions"):
            items = data.get("items") or []
            if len(items) > 32_000:
                return _json(400, {"message": "Too many rows: the limit is 32,000.", "errorcode": 10000})
            request_id = str(uuid.uuid4())
            self.state.jobs[request_id] = {"vendor": "sfmc", "polls": 1, "items": items, "results": []}
            return _json(202, {"requestId": request_id, "resultMessages": []})
        job = self.state.jobs.get(parts[3])
        if job is None:
            return _json(404, {"message": "Unknown request", "errorcode": 10001})
        if parts[4] == "results":
            results = job["results"]
            return _json(200, {"page": 1, "pageSize": len(results), "count": len(results), "items": results})
        if job["polls"] > 0:
            job["polls"] -= 1
            return _json(200, {"status": {"requestStatus": "Pending", "hasErrors": False}, "requestId": parts[3]})
        if not job["results"]:
            for item in job["items"]:
                if "SubscriberKey" not in item:
                    job["results"].append({"errorCode": 10000, "message": "Primary key missing", "status": "Error"})
                    continue
                self._store("sfmc", str(item["SubscriberKey"]), {k: v for k, v in item.items() if k != "SubscriberKey"})
                job["results"].append({"errorCode": None, "message": "", "status": "OK"})
        errors = any(r["status"] == "Error" for r in job["results"])
        return _json(200, {"status": {"requestStatus": "Complete", "hasErrors": errors}, "requestId": parts[3]})

    # -- Braze -----------------------------------------------------------------------------------

    def _braze_track(self, request: web.Request, data: Any, _raw: bytes) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {BRAZE_KEY}":
            return _json(401, {"message": "Invalid API key: " + request.headers.get("Authorization", "")[-4:]})
        attributes = data.get("attributes") or []
        if len(attributes) > 75:
            return _json(400, {"message": "Too many objects; the limit is 75 per request."})
        errors = []
        for index, attribute in enumerate(attributes):
            key = attribute.get("external_id") or attribute.get("email")
            if not key:
                errors.append({"type": "'external_id' or 'email' is required", "input_array": "attributes",
                               "index": index})  # fmt: skip
                continue
            self._store("braze", key, {k: v for k, v in attribute.items() if k not in ("external_id", "email")})
        body: dict[str, Any] = {"message": "success", "attributes_processed": len(attributes) - len(errors)}
        if errors:
            body["errors"] = errors
        return _json(201, body)

    # -- Customer.io -----------------------------------------------------------------------------

    def _cio_batch(self, request: web.Request, data: Any, raw: bytes) -> web.Response:
        expected = "Basic " + base64.b64encode(f"{self.cio[0]}:{self.cio[1]}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _json(401, {"meta": {"error": "Unauthorized request"}})
        if len(raw) >= 500_000:
            return _json(400, {"meta": {"error": "batch too large"}})
        for entry in data.get("batch") or []:
            identifiers = entry.get("identifiers") or {}
            key = identifiers.get("email") or identifiers.get("id")
            if key:
                self._store("customerio", str(key), entry.get("attributes") or {})
        return _json(200, {})
