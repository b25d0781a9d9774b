"""Customer.io Track API: HTTP Basic `site_id:api_key`, identify in batches (< 500 KB); US or EU."""

from __future__ import annotations

import base64
from typing import Any

from sharelinks.connectors.vendors.base import Call, RegionalVendor, identity, json_call

HOSTS: dict[str, str] = {"us": "https://track.customer.io", "eu": "https://track-eu.customer.io"}


class CustomerIO(RegionalVendor):
    type = "customerio"
    title = "Customer.io"
    credential_names = ("site_id", "api_key")
    hosts = HOSTS
    batch_size = 100
    limit = (100, 1.0)  # about 100 requests/s, fair use

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        basic = base64.b64encode(f"{credentials['site_id']}:{credentials['api_key']}".encode()).decode()
        return {"Authorization": f"Basic {basic}"}

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        key = "email" if options["match"] == "email" else "id"
        batch = [
            {"type": "person", "identifiers": {key: identity(item, options["match"])}, "action": "identify",
             "attributes": {options["property"]: item["share_link"]}}
            for item in items
        ]  # fmt: skip
        return json_call("POST", f"{base}/api/v2/batch", {}, {"batch": batch})

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        return {"liquid": f'{{{{ customer.{options["property"]} | default: "{fallback}" }}}}'}
