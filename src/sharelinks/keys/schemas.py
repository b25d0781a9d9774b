"""Wire shapes of security keys. The secret is write-only: no response shape has a field for it."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel

from sharelinks.http.dates import rfc3339
from sharelinks.keys.service import Key


class KeyRequest(BaseModel):
    """For the OpenAPI document only; requests are parsed by `keys.service.parse_request`."""

    name: str
    type: str = "WEBHOOK"
    algorithm: str
    key: str
    description: str | None = None
    partner_key_id: str | None = None
    tags: list[str] | None = None
    header_name: str | None = None
    header_value_template: str | None = None
    token_url: str | None = None
    client_id: str | None = None
    scope: str | None = None
    audience: str | None = None
    token_request_format: str | None = None


class RotateRequest(BaseModel):
    key: str
    grace_period: str | None = "PT24H"


def key_response(key: Key, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "type": key.type,
        "algorithm": key.algorithm,
        "partner_key_id": key.partner_key_id,
        "description": key.description,
        "tags": key.tags,
        **key.options,
        "version": key.version,
        "retired_keys_in_grace": key.retired_count,
        "created_at": rfc3339(key.created_at, zone),
        "updated_at": rfc3339(key.updated_at, zone),
    }
