"""Dates on the wire: RFC 3339 with a numeric offset, in the zone the `Time-Zone` header asks for."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo
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


_DURATION_RE = re.compile(
    r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(raw: str) -> timedelta | None:
    """An ISO-8601 duration of days and time (`PT1S`, `PT12H`, `P7D`, `PT0.05S`); None if malformed."""
    match = _DURATION_RE.match(raw.strip().upper()) if isinstance(raw, str) else None
    if match is None or raw.strip().upper() in ("P", "PT") or raw.strip().upper().endswith("T"):
        return None
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    return timedelta(
        days=parts.get("d", 0), hours=parts.get("h", 0), minutes=parts.get("m", 0), seconds=parts.get("s", 0)
    )
