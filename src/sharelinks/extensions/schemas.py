"""Wire shapes of extensions."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel

from sharelinks.extensions.service import Extension
from sharelinks.http.dates import rfc3339


class ExtensionRequest(BaseModel):
    type: str = "CREATE_SHARE_LINK_ON_EVENT"
    program_label: str
    trigger_events: list[str] = ["converted"]
    key: str | None = None
    enabled: bool = True


def extension_response(extension: Extension, zone: tzinfo) -> dict[str, Any]:
    return {
        "id": str(extension.id),
        "type": extension.type,
        "program_label": extension.program_label,
        "trigger_events": extension.trigger_events,
        "key": extension.key,
        "enabled": extension.enabled,
        "created_date": rfc3339(extension.created_at, zone),
        "updated_date": rfc3339(extension.updated_at, zone),
    }
