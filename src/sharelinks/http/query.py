"""Query-string helpers."""

from __future__ import annotations

from sharelinks.http.errors import ApiError


def name_value_pairs(raw: str | None, *, error: str, parameter: str) -> dict[str, str]:
    """`name:value[,name:value…]` as a dict; a malformed item is `error` naming `parameter`."""
    if not raw:
        return {}
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise ApiError(error, params={parameter: raw[:200]})
        pairs[name] = value
    return pairs
