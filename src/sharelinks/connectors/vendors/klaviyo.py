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
    # Bulk import jobs: ≤ 10,000 profiles and 5 MB per job (a backfill push).
    bulk_size = 10_000

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

    def bulk_call(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        key = "email" if options["match"] == "email" else "external_id"
        profiles = [
            {"type": "profile", "attributes": {key: identity(item, options["match"]),
                                               "properties": {options["property"]: item["share_link"]}}}
            for item in items
        ]  # fmt: skip
        body = {"data": {"type": "profile-bulk-import-job", "attributes": {"profiles": {"data": profiles}}}}
        headers = {"Content-Type": JSON_API, "Accept": JSON_API}
        return Call("POST", f"{base}/api/profile-bulk-import-jobs", headers, orjson.dumps(body))

    def bulk_job_id(self, body: bytes) -> str:
        return str(orjson.loads(body)["data"]["id"])

    def bulk_status_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        return Call("GET", f"{base}/api/profile-bulk-import-jobs/{job_id}", {"Accept": JSON_API}, b"")

    def bulk_state(self, body: bytes) -> str:
        attributes = orjson.loads(body)["data"]["attributes"]
        if attributes["status"] in ("queued", "processing"):
            return "running"
        if attributes["status"] == "cancelled":
            return "failed"
        return "done_with_errors" if attributes.get("failed_count") else "done"

    def bulk_errors_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        return Call("GET", f"{base}/api/profile-bulk-import-jobs/{job_id}/import-errors", {"Accept": JSON_API}, b"")

    def bulk_failures(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> dict[int, str]:
        key = "email" if options["match"] == "email" else "external_id"
        positions = {identity(item, options["match"]): i for i, item in enumerate(items)}
        failed: dict[int, str] = {}
        for error in orjson.loads(body).get("data") or []:
            attributes = error.get("attributes") or {}
            who = (attributes.get("original_payload") or {}).get(key)
            if who in positions:
                failed[positions[who]] = f"{attributes.get('code', 'error')}: {attributes.get('detail', '')}"[:500]
        return failed
