"""One small class per key algorithm: what it needs when created, and the headers it puts on a delivery.

Signing works on the exact body bytes that go on the wire; nothing here re-serialises a payload.
OAuth2 client credentials needs a token fetched over the network, so it only names its options here;
`keys.oauth` fetches and caches the token.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from sharelinks.http.errors import ApiError
from sharelinks.validation import is_http_url

HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$")
# Headers a key may not set: they belong to the HTTP layer or to another algorithm's signature.
RESERVED_HEADERS = frozenset(
    {"host", "content-length", "content-type", "transfer-encoding", "connection", "te", "upgrade", "trailer"}
    | {"webhook-id", "webhook-timestamp", "webhook-signature", "x-extole-signature"}
)
KEY_MAX = 4096


@dataclass(frozen=True)
class Material:
    """An opened key: the current secret first, then older secrets still inside their grace period."""

    algorithm: str
    secrets: tuple[str, ...]
    options: dict[str, Any] = field(default_factory=dict)
    key_id: int = 0
    version: int = 0

    @property
    def secret(self) -> str:
        return self.secrets[0]


@dataclass(frozen=True)
class Signed:
    """What a delivery needs to know to sign one attempt."""

    message_id: str
    timestamp: int
    body: bytes


class Algorithm:
    name: ClassVar[str]
    option_names: ClassVar[tuple[str, ...]] = ()
    # Whether an old secret keeps signing during a rotation's grace period.
    signs_with_retired: ClassVar[bool] = False

    def check_secret(self, secret: str) -> None:
        if not secret or len(secret) > KEY_MAX:
            raise ApiError("invalid_key", message=f"key must be 1 to {KEY_MAX} characters.")

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {}

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        raise NotImplementedError


class Password(Algorithm):
    name = "PASSWORD"

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        return {"Authorization": f"Bearer {material.secret}"}


class HttpBasic(Algorithm):
    name = "HTTP_BASIC"

    def check_secret(self, secret: str) -> None:
        super().check_secret(secret)
        if ":" not in secret:
            raise ApiError("invalid_key", message="An HTTP_BASIC key is given as user:password.")

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(material.secret.encode()).decode()}


def hs256_hex(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class HS256(Algorithm):
    name = "HS256"

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        return {"X-Extole-Signature": hs256_hex(material.secret, signed.body)}


def whsec_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    return base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(whsec_bytes(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class StandardWebhooks(Algorithm):
    name = "STANDARD_WEBHOOKS"
    signs_with_retired = True

    def check_secret(self, secret: str) -> None:
        if not secret.startswith("whsec_"):
            raise ApiError("invalid_key", message="A STANDARD_WEBHOOKS key starts with whsec_.")
        try:
            size = len(whsec_bytes(secret))
        except (binascii.Error, ValueError):
            raise ApiError("invalid_key", message="A STANDARD_WEBHOOKS key is whsec_ then base64.") from None
        if not 24 <= size <= 64:
            raise ApiError("invalid_key", message="A STANDARD_WEBHOOKS key holds 24 to 64 random bytes.")

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        signatures = " ".join(
            standard_signature(s, signed.message_id, signed.timestamp, signed.body) for s in material.secrets
        )
        return {
            "webhook-id": signed.message_id,
            "webhook-timestamp": str(signed.timestamp),
            "webhook-signature": signatures,
        }


def _check_header_name(name: Any) -> str:
    if not isinstance(name, str) or not HEADER_NAME_RE.match(name) or name.lower() in RESERVED_HEADERS:
        raise ApiError("invalid_header", header=str(name)[:100])
    return name


class Header(Algorithm):
    """A named header with a template, e.g. `Api-Key: {key}` or `Authorization: Klaviyo-API-Key {key}`."""

    name = "HEADER"
    option_names = ("header_name", "header_value_template")

    def check_secret(self, secret: str) -> None:
        super().check_secret(secret)
        if any(c in secret for c in "\r\n\0"):
            raise ApiError("invalid_key", message="A HEADER key cannot contain line breaks.")

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        name = _check_header_name(options.get("header_name"))
        template = options.get("header_value_template") or "{key}"
        if not isinstance(template, str) or "{key}" not in template or any(c in template for c in "\r\n\0"):
            raise ApiError("invalid_header", message="header_value_template must contain {key}.")
        return {"header_name": name, "header_value_template": template}

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        template = material.options["header_value_template"]
        return {material.options["header_name"]: template.replace("{key}", material.secret)}


class OAuth2ClientCredentials(Algorithm):
    """The key is the client secret; the token comes from `keys.oauth` at send time."""

    name = "OAUTH2_CLIENT_CREDENTIALS"
    option_names = ("token_url", "client_id", "scope", "audience", "token_request_format")

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        url = options.get("token_url")
        if not isinstance(url, str) or not is_http_url(url):
            raise ApiError("invalid_url", name="token_url", url=str(url)[:2048])
        client_id = options.get("client_id")
        if not isinstance(client_id, str) or not client_id or len(client_id) > 500:
            raise ApiError("invalid_parameter", message="client_id is required for OAUTH2_CLIENT_CREDENTIALS.")
        fmt = options.get("token_request_format") or "form"
        if fmt not in ("form", "json"):
            raise ApiError("invalid_parameter", message="token_request_format is 'form' or 'json'.")
        checked: dict[str, Any] = {"token_url": url, "client_id": client_id, "token_request_format": fmt}
        for name in ("scope", "audience"):
            value = options.get(name)
            if value is not None:
                if not isinstance(value, str) or len(value) > 1000:
                    raise ApiError("binding_error", field=name, expected="string")
                checked[name] = value
        return checked

    def headers(self, material: Material, signed: Signed) -> dict[str, str]:
        raise TypeError("OAuth2 tokens are fetched by keys.oauth")


ALGORITHMS: dict[str, Algorithm] = {
    a.name: a for a in (Password(), HttpBasic(), HS256(), StandardWebhooks(), Header(), OAuth2ClientCredentials())
}
OPTION_NAMES = frozenset(n for a in ALGORITHMS.values() for n in a.option_names)


def algorithm(name: str | None) -> Algorithm:
    found = ALGORITHMS.get((name or "").upper())
    if found is None:
        raise ApiError("invalid_algorithm", algorithm=str(name)[:40], allowed=sorted(ALGORITHMS))
    return found
