"""Finding a row by the id a client sent: one rule for every resource."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection

from sharelinks.http.errors import ApiError
from sharelinks.ids import parse_id

T = TypeVar("T")


def require_by_id(
    conn: Connection,
    raw_id: str,
    get: Callable[[Connection, int], T | None],
    error: str,
    parameter: str,
    *,
    status: int | None = None,
) -> T:
    """`get(conn, id)`, or the resource's not-found error when the id is malformed or unknown."""
    row_id = parse_id(str(raw_id))
    found = get(conn, row_id) if row_id is not None else None
    if found is None:
        raise ApiError(error, status=status, params={parameter: str(raw_id)[:40]})
    return found
