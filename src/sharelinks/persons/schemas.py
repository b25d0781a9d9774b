"""Wire shapes of persons: v2 (legacy, keyed by email/partner_user_id) and v5 (identity key)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from sharelinks.persons.service import Person

_LOCALE = {"last_browser": None, "user_specified": None}


class PersonV2Request(BaseModel):
    email: str | None = Field(default=None, examples=["alex@example.com"])
    first_name: str | None = Field(default=None, examples=["Alex"])
    last_name: str | None = None
    picture_url: str | None = None
    partner_user_id: str | None = Field(default=None, examples=["USER-12345"])
    blocked: bool | None = None
    parameters: dict[str, str] | None = Field(default=None, description="Custom data.")


class PersonV5Request(BaseModel):
    identity_key_value: str = Field(examples=["alex@example.com"], description="The email.")
    first_name: str | None = None
    last_name: str | None = None
    partner_user_id: str | None = None


def v2_response(person: Person) -> dict[str, Any]:
    return {
        "id": str(person.id),
        "email": person.email,
        "first_name": person.first_name,
        "last_name": person.last_name,
        "picture_url": person.picture_url,
        "partner_user_id": person.partner_user_id,
        "parameters": person.data,
        "locale": dict(_LOCALE),
    }


def v5_response(person: Person) -> dict[str, Any]:
    return {
        "id": str(person.id),
        # One identity per person here, so the identity shares the person's ID (our choice).
        "identity_id": str(person.id),
        "identity_key": {"name": "email"},
        "identity_key_value": person.email,
        "locale": dict(_LOCALE),
        "version": str(person.version),
    }
