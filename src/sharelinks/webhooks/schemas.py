"""Wire shapes of webhooks, webhook events (the report) and dispatch results."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel

from sharelinks.http.dates import rfc3339
from sharelinks.webhooks.service import Webhook


class WebhookRequest(BaseModel):
    name: str
    url: str
    type: str = "GENERIC"
    method: str = "POST"
    client_key_id: str | None = None
    program_label: str | None = None
    event_types: list[str] = ["share_link_created"]
    payload_fields: list[str] | None = None
    payload_template: dict[str, Any] | list[Any] | None = None
    headers: dict[str, str] = {}
    retry_intervals: list[str] = ["PT1S", "PT1H", "PT3H", "PT12H", "PT12H"]
    enabled: bool = True
    description: str | None = None
    tags: list[str] = []


class ReplayRequest(BaseModel):
    status: str = "dead_letter"
    since: str | None = None
    until: str | None = None


class SendRequest(BaseModel):
    type: str = "CLIENT"
    event_id: str | None = None
    client_id: str
    webhook_id: str
    event: dict[str, Any]


def webhook_response(webhook: Webhook, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": str(webhook.id),
        "name": webhook.name,
        "type": webhook.type,
        "url": webhook.url,
        "method": webhook.method,
        "default_method": webhook.method,
        "client_key_id": str(webhook.client_key_id) if webhook.client_key_id else None,
        "program_label": webhook.program_label,
        "event_types": webhook.event_types,
        "payload_fields": webhook.payload_fields,
        "payload_template": webhook.payload_template,
        "headers": webhook.headers,
        "retry_intervals": webhook.retry_intervals,
        "enabled": webhook.enabled,
        "description": webhook.description,
        "tags": webhook.tags,
        "created_date": rfc3339(webhook.created_at, zone),
        "updated_date": rfc3339(webhook.updated_at, zone),
    }


def attempt_response(row: Any, zone: tzinfo) -> dict[str, Any]:
    return {
        "number": row.number,
        "trigger": row.trigger,
        "url": row.url,
        "method": row.method,
        "started_date": rfc3339(row.started_at, zone),
        "duration_ms": round(row.duration_ms, 3),
        "response_status_code": row.status_code,
        "error": row.error,
        "request_headers": row.request_headers,
        "request_body": row.request_body,
        "response_headers": row.response_headers,
        "response_body": row.response_body,
        "response_body_truncated": row.truncated,
    }


def event_response(row: Any, attempts: list[Any], zone: tzinfo) -> dict[str, Any]:
    return {
        "event_id": str(row.id),
        "webhook_id": str(row.webhook_id),
        "webhook_name": row.webhook_name,
        "event_type": row.event_type,
        "status": row.status,
        "email": row.event.get("email"),
        "created_date": rfc3339(row.created_at, zone),
        "next_attempt_date": rfc3339(row.next_attempt_at, zone) if row.status in ("pending", "retrying") else None,
        "finished_date": rfc3339(row.finished_at, zone) if row.finished_at else None,
        "attempt_count": row.attempt_count,
        "last_status_code": row.last_status_code,
        "last_error": row.last_error,
        "event": row.event,
        "attempts": [attempt_response(a, zone) for a in attempts],
    }


CSV_COLUMNS = (
    "event_id",
    "webhook_id",
    "webhook_name",
    "event_type",
    "status",
    "email",
    "created_date",
    "finished_date",
    "attempt_count",
    "last_status_code",
    "last_error",
)


def dispatch_response(row: Any, zone: tzinfo) -> dict[str, Any]:
    """Extole's dispatch result (extole-api.md §7.3), one per attempt."""
    return {
        "event_id": str(row.message_id),
        "event_time": rfc3339(row.event_time, zone),
        "webhook_event_id": str(row.message_id),
        "cause_event_id": None,
        "root_event_id": None,
        "webhook_id": str(row.webhook_id),
        "url": row.url,
        "request_body": row.request_body,
        "request_headers": row.request_headers,
        "response_status_code": row.status_code,
        "response_body": row.response_body,
        "response_headers": row.response_headers,
        "attempt_count": row.number,
        "method": row.method,
        "log_messages": [row.error] if row.error else [],
        "tags": [],
        "response": None,
        "duration_ms": round(row.duration_ms, 3),
        "started_date": rfc3339(row.started_at, zone),
    }
