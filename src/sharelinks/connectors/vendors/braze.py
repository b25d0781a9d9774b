"""Braze: `POST /users/track`, ≤ 75 attribute objects per request, on the account's instance URL."""

from __future__ import annotations

from typing import Any

import orjson

from sharelinks.connectors.vendors.base import Call, Vendor, Verdict, identity, json_call
from sharelinks.http.errors import ApiError
from sharelinks.validation import is_http_url


class Braze(Vendor):
    type = "braze"
    title = "Braze"
    credential_names = ("api_key",)
    batch_size = 75
    # 3,000 requests per 3 seconds.
    limit = (3000, 3.0)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_options(options)
        url = checked.get("instance_url")
        if not isinstance(url, str) or not is_http_url(url):
            raise ApiError("invalid_url", name="options.instance_url", message="Braze needs its REST instance URL.")
        return checked

    def default_base_url(self, options: dict[str, Any]) -> str:
        return str(options["instance_url"])

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials['api_key']}"}

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        key = "email" if options["match"] == "email" else "external_id"
        attributes = [
            {key: identity(item, options["match"]), options["property"]: item["share_link"]} for item in items
        ]
        return json_call("POST", f"{base}/users/track", {}, {"attributes": attributes})

    def read_success(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> Verdict:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Verdict("ok")
        failed = {
            int(e["index"]): str(e.get("type", "error"))[:500]
            for e in answer.get("errors") or []
            if isinstance(e, dict) and isinstance(e.get("index"), int) and e["index"] < len(items)
        }
        if answer.get("message") not in (None, "success") and not failed:
            return Verdict("permanent", str(answer.get("message"))[:500])
        return Verdict("ok", failed=failed)

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        return {"liquid": f"{{{{custom_attribute.${{{options['property']}}} | default: '{fallback}'}}}}"}
