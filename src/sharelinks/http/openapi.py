"""Request bodies are parsed by hand (for Extole's error codes), and `Idempotency-Key` is read before
any route: this keeps both documented in /docs."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel


def body_of(model: type[BaseModel] | Any, *, array: bool = False) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)
    if array:
        schema = {"type": "array", "items": schema}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Repeats of this request (same credential, method, path, query and body) within 12 hours "
    "get the first answer, marked `Idempotent-Replayed: true`, and have no second effect.",
}


def document_idempotency_key(api: FastAPI) -> None:
    """Every POST takes `Idempotency-Key` (sharelinks.idempotency, in front of the routes): say so in /docs."""
    generate = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is None:
            for operations in generate().get("paths", {}).values():
                if "post" in operations:
                    operations["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
        assert api.openapi_schema is not None
        return api.openapi_schema

    api.openapi = openapi  # type: ignore[method-assign]
