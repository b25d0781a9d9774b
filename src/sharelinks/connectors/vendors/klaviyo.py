"""Klaviyo: `POST /api/profile-import` (JSON:API), create or update by email or external_id."""

from __future__ import annotations

from typing import Any

import orjson

from sharelinks.connectors.vendors.base import Call, Vendor, identity

REVISION = "2025-01-15"
JSON_API = "application/vnd.api+json"


class Klaviyo(Vendor):
    type = "klaviyo"
    title = "Klaviyo"
    credential_names = ("api_key",)
    # profile-import takes one profile per request. Tier L: 75/s burst, 700/min steady.
    batch_size = 1
    limit = (700, 60.0)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {"revision": REVISION, **super().check_options(options)}

    def default_base_url(self, options: dict[str, Any]) -> str:
        return "https://a.klaviyo.com"

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Klaviyo-API-Key {credentials['api_key']}", "revision": options["revision"]}

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        [item] = items
        key = "email" if options["match"] == "email" else "external_id"
        attributes = {key: identity(item, options["match"]), "properties": {options["property"]: item["share_link"]}}
        body = {"data": {"type": "profile", "attributes": attributes}}
        headers = {"Content-Type": JSON_API, "Accept": JSON_API}
        return Call("POST", f"{base}/api/profile-import", headers, orjson.dumps(body))

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        return {"template_tag": f"{{{{ person|lookup:'{options['property']}'|default:'{fallback}' }}}}"}
