"""What every vendor adapter provides, and the error classification they share.

An adapter turns a batch of share-link events into one vendor request and reads the answer back per
event. Classification (vendor-contracts.md §7): any 2xx is success unless the body says otherwise;
401/403 mean the credentials are rejected (the connector pauses instead of burning retries); 408, 423,
425, 429, 477 and 5xx, timeouts and connection errors are retried; every other 4xx is permanent and
dead-letters at once with the vendor's own message.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

import orjson

from sharelinks.http.errors import ApiError
from sharelinks.validation import is_http_url

DEFAULT_PROPERTY = "extole_share_link"
LIMIT_HEADROOM = 0.9
RETRYABLE = frozenset({408, 423, 425, 429, 477})


@dataclass(frozen=True)
class Call:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Verdict:
    """`kind`: ok | retry | permanent | unauthorized. `failed` maps an item index to its own error.
    `hold_seconds`: the vendor takes nothing more for this long (a daily cap), whoever asks."""

    kind: str
    message: str | None = None
    failed: dict[int, str] = field(default_factory=dict)
    retry_after: str | None = None
    hold_seconds: float | None = None


def identity(item: dict[str, Any], match: str) -> str | None:
    value = item.get("email") if match == "email" else item.get("partner_user_id")
    return str(value) if value else None


def vendor_message(body: bytes, limit: int = 500) -> str:
    """The vendor's own words for an error, from the common envelope shapes."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return body[:limit].decode(errors="replace")
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            text = first.get("detail") or first.get("message") or first.get("title")
            if text:
                return str(first.get("code") or "") + (": " if first.get("code") else "") + str(text)[:limit]
        for key in ("message", "msg", "error_description", "error"):
            if data.get(key):
                code = data.get("code") or data.get("errorcode") or data.get("category")
                return (f"{code}: " if code else "") + str(data[key])[:limit]
    return body[:limit].decode(errors="replace")


class Vendor:
    type: ClassVar[str]
    title: ClassVar[str]
    credential_names: ClassVar[tuple[str, ...]]
    batch_size: ClassVar[int] = 1
    # The vendor's documented limit: this many requests per this many seconds. Options
    # `limit_requests` / `limit_seconds` set an account's own tier.
    limit: ClassVar[tuple[int, float]] = (10, 1.0)
    # Vendors with an asynchronous bulk job (Klaviyo, SFMC) take this many items per job when a
    # backlog builds up (a backfill push); 0: none.
    bulk_size: ClassVar[int] = 0

    default_property: ClassVar[str] = DEFAULT_PROPERTY

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        checked = {"property": self.default_property, "match": "email", **options}
        if checked["match"] not in ("email", "external_id"):
            raise ApiError("invalid_parameter", name="options.match", message="match is 'email' or 'external_id'.")
        prop = checked["property"]
        if not isinstance(prop, str) or not 1 <= len(prop) <= 100:
            raise ApiError("invalid_parameter", name="options.property", message="property is 1 to 100 characters.")
        for name in ("limit_requests", "limit_seconds"):
            if name in checked and (not isinstance(checked[name], int | float) or checked[name] <= 0):
                raise ApiError("invalid_parameter", name=f"options.{name}", message=f"{name} must be positive.")
        return checked

    def check_credentials(self, credentials: dict[str, Any]) -> dict[str, str]:
        missing = [n for n in self.credential_names if not isinstance(credentials.get(n), str) or not credentials[n]]
        if missing:
            raise ApiError("invalid_credentials_fields", missing=missing, required=list(self.credential_names))
        return {n: credentials[n] for n in self.credential_names}

    def default_base_url(self, options: dict[str, Any]) -> str:
        raise NotImplementedError

    def base_url(self, options: dict[str, Any], override: str | None) -> str:
        base = override or self.default_base_url(options)
        if not is_http_url(base):
            raise ApiError("invalid_url", name="base_url", url=base[:2048])
        return base.rstrip("/")

    def rate(self, options: dict[str, Any]) -> tuple[float, int]:
        """(tokens per second, bucket size) that can never exceed `limit` in any window of its length.

        A bucket of size B refilled at R per second lets through at most B + R x W requests in a
        window of W seconds, so R = (limit - B) / W keeps every window within the vendor's limit.
        10 % is held back: a request leaves a little after its token, and the vendor counts arrivals.
        """
        requests = int(int(options.get("limit_requests", self.limit[0])) * LIMIT_HEADROOM)
        seconds = float(options.get("limit_seconds", self.limit[1]))
        burst = max(1, requests // 10)
        return max(requests - burst, 1) / seconds, burst

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        raise NotImplementedError

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        raise NotImplementedError

    def read_success(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> Verdict:
        return Verdict("ok")

    def classify(self, status: int | None, headers: dict[str, str], body: bytes, items: list[dict[str, Any]],
                 options: dict[str, Any]) -> Verdict:  # fmt: skip
        retry_after = headers.get("Retry-After") or headers.get("retry-after")
        if status is None:
            return Verdict("retry", "no answer")
        if 200 <= status < 300:
            return self.read_success(body, items, options)
        if status in (401, 403):
            return Verdict("unauthorized", f"HTTP {status}: {vendor_message(body)}")
        if status in RETRYABLE or status >= 500 or 300 <= status < 400:
            return Verdict("retry", f"HTTP {status}: {vendor_message(body)}", retry_after=retry_after)
        return Verdict("permanent", f"HTTP {status}: {vendor_message(body)}")

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        raise NotImplementedError

    # -- asynchronous bulk jobs (only where bulk_size > 0) ------------------------------------------

    def bulk_call(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        raise NotImplementedError

    def bulk_job_id(self, body: bytes) -> str:
        raise NotImplementedError

    def bulk_status_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        raise NotImplementedError

    def bulk_state(self, body: bytes) -> str:
        """`running`, `done` (no failures), `done_with_errors`, or `failed`."""
        raise NotImplementedError

    def bulk_errors_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        raise NotImplementedError

    def bulk_failures(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> dict[int, str]:
        raise NotImplementedError


class RegionalVendor(Vendor):
    """A vendor with one API host per data centre (`options.region`, default us)."""

    hosts: ClassVar[dict[str, str]]

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_options({"region": "us", **options})
        if checked["region"] not in self.hosts:
            raise ApiError(
                "invalid_parameter", name="options.region", message=f"region is one of {sorted(self.hosts)}."
            )
        return checked

    def default_base_url(self, options: dict[str, Any]) -> str:
        return self.hosts[options["region"]]

    def classify(self, status: int | None, headers: dict[str, str], body: bytes, items: list[dict[str, Any]],
                 options: dict[str, Any]) -> Verdict:  # fmt: skip
        verdict = super().classify(status, headers, body, items, options)
        if verdict.kind == "unauthorized":  # the likeliest cause after a typo: a key from the other data centre
            region = options.get("region", "us")
            hint = f" ({self.title} keys work only in their own data centre; this connector's region is {region})"
            return replace(verdict, message=(verdict.message or "") + hint)
        return verdict


def json_call(method: str, url: str, headers: dict[str, str], payload: Any) -> Call:
    return Call(method, url, {"Content-Type": "application/json", **headers}, orjson.dumps(payload))
