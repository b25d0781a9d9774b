"""Wire shapes of connectors. Credentials are write-only: responses name which are set, nothing more."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel

from sharelinks.connectors.service import Connector
from sharelinks.http.dates import rfc3339


class ConnectorRequest(BaseModel):
    type: str
    name: str
    program_label: str
    credentials: dict[str, str]
    options: dict[str, Any] = {}
    base_url: str | None = None


def connector_response(connector: Connector, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": str(connector.id),
        "type": connector.type,
        "name": connector.name,
        "program_label": connector.program_label,
        "options": connector.options,
        "base_url": connector.base_url,
        "credentials_set": list(connector.vendor.credential_names),
        "status": connector.status,
        "last_error": connector.last_error,
        "webhook_id": str(connector.webhook_id) if connector.webhook_id else None,
        "created_date": rfc3339(connector.created_at, zone),
        "updated_date": rfc3339(connector.updated_at, zone),
    }
