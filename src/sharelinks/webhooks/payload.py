"""What a webhook sends: the event map, rendered through the webhook's fields or template.

The event map is stored with the message; the body is rendered when it is sent, so a corrected
mapping also applies to retries and replays. Rendering is pure and deterministic: the same event and
mapping always give the same bytes.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import orjson

from sharelinks.http.errors import ApiError

SHARE_LINK_CREATED = "share_link_created"
EVENT_TYPES = (SHARE_LINK_CREATED, "test")
EVENT_TITLES = {SHARE_LINK_CREATED: "Share Link Created", "test": "Share Link Created"}
FIELDS = (
    "event",
    "event_id",
    "email",
    "partner_user_id",
    "share_link",
    "share_code",
    "person_id",
    "first_name",
    "last_name",
    "label",
    "program_label",
    "timestamp",
    "event_time",
    "cause_event",
)
# The customer document's example, field for field.
DEFAULT_FIELDS = ("event", "email", "partner_user_id", "timestamp", "share_link")
DATA_PREFIX = "data."
PLACEHOLDER_RE = re.compile(r"\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}")
TEMPLATE_MAX_BYTES = 20_000


def wire_time(value: datetime) -> str:
    """`2024-03-15T10:30:00.000Z`, as in the customer document."""
    # isoformat, not strftime: 1.2 against 2.1 µs, twice in every webhook message.
    return value.astimezone(UTC).isoformat(timespec="milliseconds")[:23] + "Z"


def _known(name: str) -> bool:
    return name in FIELDS or (name.startswith(DATA_PREFIX) and len(name) > len(DATA_PREFIX))


def check_fields(values: list[Any]) -> list[str]:
    if not values:
        raise ApiError("invalid_payload_fields", message="payload_fields cannot be empty.")
    seen: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _known(value):
            raise ApiError("invalid_payload_fields", field=str(value)[:100], allowed=[*FIELDS, "data.<name>"])
        if value not in seen:
            seen.append(value)
    return seen


def check_template(template: Any) -> Any:
    if len(orjson.dumps(template)) > TEMPLATE_MAX_BYTES:
        raise ApiError("invalid_payload_template", message="payload_template is too large.")
    for placeholder in _placeholders(template):
        if not _known(placeholder):
            raise ApiError("invalid_payload_template", placeholder=placeholder, allowed=[*FIELDS, "data.<name>"])
    return template


def _placeholders(node: Any) -> list[str]:
    if isinstance(node, str):
        return PLACEHOLDER_RE.findall(node)
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _placeholders(k) + _placeholders(v)]
    if isinstance(node, list):
        return [p for v in node for p in _placeholders(v)]
    return []


def value_of(event: dict[str, Any], name: str) -> Any:
    if name.startswith(DATA_PREFIX):
        data = event.get("data") or {}
        return data.get(name[len(DATA_PREFIX) :])
    return event.get(name)


def _fill(node: Any, event: dict[str, Any]) -> Any:
    if isinstance(node, str):
        whole = PLACEHOLDER_RE.fullmatch(node)
        if whole:  # a lone placeholder keeps the value's JSON type (null stays null)
            return value_of(event, whole.group(1))
        return PLACEHOLDER_RE.sub(lambda m: _text(value_of(event, m.group(1))), node)
    if isinstance(node, dict):
        return {_fill(k, event): _fill(v, event) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, event) for v in node]
    return node


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def render(event: dict[str, Any], fields: list[str] | None, template: Any | None) -> bytes:
    if template is not None:
        return orjson.dumps(_fill(template, event))
    body: dict[str, Any] = {}
    for name in fields or DEFAULT_FIELDS:
        if name.startswith(DATA_PREFIX):
            body.setdefault("data", {})[name[len(DATA_PREFIX) :]] = value_of(event, name)
        else:
            body[name] = event.get(name)
    return orjson.dumps(body)
