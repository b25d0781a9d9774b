"""Extole's scope names. `CLIENT_SUPERUSER` may do everything."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    BACKEND = "BACKEND"
    CLIENT_ADMIN = "CLIENT_ADMIN"
    CLIENT_REPORT_DOWNLOAD = "CLIENT_REPORT_DOWNLOAD"
    CLIENT_SUPERUSER = "CLIENT_SUPERUSER"
    LOCAL_PROFILE = "LOCAL_PROFILE"
    ONE_TIME = "ONE_TIME"
    PASSWORD_RESET = "PASSWORD_RESET"
    UPDATE_PROFILE = "UPDATE_PROFILE"
    USER_SUPPORT = "USER_SUPPORT"
    VERIFIED_CONSUMER = "VERIFIED_CONSUMER"


def parse_scopes(values: list[str]) -> frozenset[Scope] | None:
    """The scopes named, or None when any name is unknown."""
    try:
        return frozenset(Scope(v.strip().upper()) for v in values)
    except ValueError:
        return None


def allows(granted: frozenset[Scope], needed: Scope) -> bool:
    return needed in granted or Scope.CLIENT_SUPERUSER in granted
