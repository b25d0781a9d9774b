"""The one ID generator.

IDs are random 64-bit integers shown as 19-digit strings, like Extole's. They come from the OS CSPRNG,
so they reveal neither volume nor order and cannot be enumerated.
"""

from __future__ import annotations

import secrets

_LOW = 10**18  # keep every ID 19 digits long
_SPAN = (2**63 - 1) - _LOW


def new_id() -> int:
    return _LOW + secrets.randbelow(_SPAN)


def parse_id(raw: str) -> int | None:
    """An ID from a URL or body, or None when it cannot be one of ours."""
    if not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value < 2**63 else None
