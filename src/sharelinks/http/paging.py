"""Extole paging: `offset` (from 0) and `limit` (default 100)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from sharelinks.http.errors import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int


def _non_negative(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise ApiError("invalid_parameter", message=f"{name} must be a non-negative integer", name=name)
    return int(raw)


def page_from(request: Request) -> Page:
    offset = _non_negative(request, "offset", 0)
    limit = _non_negative(request, "limit", DEFAULT_LIMIT)
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError("invalid_parameter", message=f"limit must be between 1 and {MAX_LIMIT}", name="limit")
    return Page(offset, limit)
