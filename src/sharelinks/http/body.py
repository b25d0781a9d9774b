"""Reading JSON request bodies safely, and typed access to their fields.

Bodies are capped before they are buffered, decoded strictly (bad UTF-8 and bad JSON are 400s), and
read through `Fields`, which turns wrong types and unknown names into Extole-style errors instead of
500s. Validation happens before any write, so a bad request never leaves half a change behind.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from starlette.requests import Request

from sharelinks.http.errors import ApiError

_JSON_TYPES = ("application/json", "application/vnd.api+json", "text/json")


async def read_json(request: Request, max_bytes: int, *, required: bool = True) -> Any:
    content_type = request.headers.get("content-type")
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _JSON_TYPES and not media.endswith("+json"):
            raise ApiError("unsupported_media_type", content_type=media)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ApiError("request_too_large", max_bytes=max_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ApiError("request_too_large", max_bytes=max_bytes)
        chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.strip():
        if required:
            raise ApiError("missing_request_body")
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError("invalid_json", detail=str(exc).split(":")[0]) from None


_TYPE_NAMES = {str: "string", int: "integer", bool: "boolean", dict: "object", list: "array"}


class Fields:
    """Typed, checked access to a JSON object from a request."""

    def __init__(self, value: Any, *, where: str = "body") -> None:
        if not isinstance(value, dict):
            raise ApiError("binding_error", field=where, expected="object")
        self.data: dict[str, Any] = value
        self.where = where

    def only(self, allowed: Iterable[str]) -> Fields:
        unknown = sorted(set(self.data) - set(allowed))
        if unknown:
            raise ApiError("invalid_parameter", message=f"Unknown field: {unknown[0]}", field=unknown[0])
        return self

    def has(self, name: str) -> bool:
        return name in self.data

    def _typed(self, name: str, kind: type) -> Any:
        value = self.data.get(name)
        if value is None:
            return None
        # bool is an int in Python; JSON true is never an integer here.
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ApiError("binding_error", field=name, expected=_TYPE_NAMES.get(kind, kind.__name__))
        return value

    def string(self, name: str) -> str | None:
        return self._typed(name, str)  # type: ignore[no-any-return]

    def boolean(self, name: str) -> bool | None:
        return self._typed(name, bool)  # type: ignore[no-any-return]

    def obj(self, name: str) -> Fields | None:
        value = self._typed(name, dict)
        return None if value is None else Fields(value, where=name)

    def array(self, name: str) -> list[Any] | None:
        return self._typed(name, list)  # type: ignore[no-any-return]

    def string_or_number(self, name: str) -> str | None:
        """Some Extole fields arrive as either (e.g. `person_id` is int64 in events)."""
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ApiError("binding_error", field=name, expected="string")
        return str(value)

    def string_map(self, name: str) -> dict[str, str] | None:
        value = self._typed(name, dict)
        if value is None:
            return None
        for key, item in value.items():
            if not isinstance(item, str):
                raise ApiError("binding_error", field=f"{name}.{key}", expected="string")
        return value  # type: ignore[no-any-return]
