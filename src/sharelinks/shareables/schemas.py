"""Wire shapes of share links: v3 (`PersonShareableV4Response`) and v5 (`PersonShareableResponse`)."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel, Field

from sharelinks.http.dates import rfc3339
from sharelinks.shareables.service import Shareable


class ContentRequest(BaseModel):
    partner_content_id: str | None = None
    title: str | None = None
    image_url: str | None = None
    description: str | None = None
    url: str | None = None


class ShareableRequest(BaseModel):
    label: str = Field(examples=["refer-a-friend"])
    code: str | None = Field(default=None, examples=["alex01"], description="Random when omitted.")
    key: str | None = Field(default=None, description="Unique per person; defaults to the label.")
    content: ContentRequest | None = None
    data: dict[str, str] | None = None
    program_url: str | None = Field(default=None, examples=["https://share.yourbrand.com"])


class ShareableUpdateRequest(BaseModel):
    label: str | None = None
    key: str | None = None
    content: ContentRequest | None = None
    data: dict[str, str] | None = None


class ChangeOwnerRequest(BaseModel):
    new_person_id: str


def v3_response(s: Shareable) -> dict[str, Any]:
    body: dict[str, Any] = {"code": s.code, "key": s.key}
    if s.label is not None:
        body["label"] = s.label
    body["link"] = s.link
    body["person_id"] = str(s.person_id)
    body["content"] = s.content
    body["data"] = dict(s.data)
    return body


def v5_response(s: Shareable, zone: tzinfo) -> dict[str, Any]:
    body: dict[str, Any] = {"code": s.code, "key": s.key}
    if s.label is not None:
        body["label"] = s.label
    body["link"] = s.link
    if s.content is not None:
        body["content"] = s.content
    body["data"] = {name: {"name": name, "value": value} for name, value in s.data.items()}
    body["created_date"] = rfc3339(s.created_at, zone)
    body["updated_date"] = rfc3339(s.updated_at, zone)
    return body
