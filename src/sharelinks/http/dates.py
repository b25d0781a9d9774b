"""Dates on the wire: RFC 3339 with a numeric offset, in the zone the `Time-Zone` header asks for."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from starlette.requests import Request

from sharelinks.http.errors import ApiError


def request_zone(request: Request) -> tzinfo:
    name = request.headers.get("time-zone")
    if not name:
        return UTC
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ApiError("invalid_time_zone", time_zone=name[:64]) from None


def rfc3339(value: datetime, zone: tzinfo = UTC) -> str:
    return value.astimezone(zone).isoformat(timespec="seconds")


def parse_iso8601(raw: str) -> datetime | None:
    """A timestamp with an offset (or `Z`); naive times are read as UTC. None if unparseable."""
    try:
        parsed = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed
