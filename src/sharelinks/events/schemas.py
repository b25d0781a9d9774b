"""Wire shapes of events (documentation only; bodies are validated in `service`)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class EventRequest(BaseModel):
    event_name: str = Field(examples=["converted"])
    event_time: str | None = Field(default=None, examples=["2024-01-15T12:00:00Z"])
    data: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"email": "alex@example.com", "partner_user_id": "USER-12345", "first_name": "Alex"}],
    )
