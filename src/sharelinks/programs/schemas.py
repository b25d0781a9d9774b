"""Wire shapes of programs."""

from __future__ import annotations

from datetime import tzinfo
from typing import Any

from pydantic import BaseModel, Field

from sharelinks.http.dates import rfc3339
from sharelinks.programs.service import Program


class ProgramRequest(BaseModel):
    """Documents the body of POST/PUT /v6/programs (validated by `service.parse_changes`)."""

    label: str = Field(examples=["refer-a-friend"])
    domains: list[str] = Field(examples=[["share.yourbrand.com"]], description="First one is the primary domain.")
    destination_url: str = Field(examples=["https://www.yourbrand.com/refer"])
    fallback_url: str | None = Field(default=None, examples=["https://refer.yourbrand.com"])
    code_style: str = Field(default="random", description="'random' or 'name' (first name plus digits).")
    advocate_param: str = Field(default="advocate_code", description="Query parameter carrying the code.")


def program_response(program: Program, zone: tzinfo) -> dict[str, Any]:
    return {
        "label": program.label,
        "domains": list(program.domains),
        "program_url": f"https://{program.primary_domain}",
        "destination_url": program.destination_url,
        "fallback_url": program.fallback_url,
        "code_style": program.code_style,
        "advocate_param": program.advocate_param,
        "created_date": rfc3339(program.created_at, zone),
        "updated_date": rfc3339(program.updated_at, zone),
    }
