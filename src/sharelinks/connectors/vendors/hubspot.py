"""HubSpot CRM v3: batch upsert of contacts by email or a unique custom property (≤ 100 inputs).

Besides its 10-second window (the token bucket keeps under it) an account has a daily cap that
resets at midnight in the account's own time zone, which we do not know. A 429 whose policy is
DAILY holds the connector until the next whole hour (UTC), when midnight falls in nearly every zone:
one request an hour finds out whether the cap has lifted, and no message burns its retries meanwhile.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson

from sharelinks import clock
from sharelinks.connectors.vendors.base import Call, Vendor, Verdict, identity, json_call, vendor_message


class HubSpot(Vendor):
    type = "hubspot"
    title = "HubSpot"
    credential_names = ("token",)
    batch_size = 100
    # Free/Starter private apps: 100 requests per 10 s (Professional/Enterprise: 190).
    limit = (100, 10.0)

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_options(options)
        checked.setdefault("id_property", "email" if checked["match"] == "email" else "extole_customer_id")
        return checked

    def default_base_url(self, options: dict[str, Any]) -> str:
        return "https://api.hubapi.com"

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {credentials['token']}"}

    def property_call(self, base: str, options: dict[str, Any]) -> Call:
        """Create the contact property once (201; 409 when it already exists)."""
        body = {"groupName": "contactinformation", "name": options["property"], "label": "Extole Share Link",
                "type": "string", "fieldType": "text"}  # fmt: skip
        return json_call("POST", f"{base}/crm/v3/properties/contacts", {}, body)

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        inputs = [
            {"idProperty": options["id_property"], "id": identity(item, options["match"]),
             "objectWriteTraceId": str(index), "properties": {options["property"]: item["share_link"]}}
            for index, item in enumerate(items)
        ]  # fmt: skip
        return json_call("POST", f"{base}/crm/v3/objects/contacts/batch/upsert", {}, {"inputs": inputs})

    def read_success(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> Verdict:
        """200 is complete; 207 lists the failed inputs by their objectWriteTraceId."""
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Verdict("ok")
        failed: dict[int, str] = {}
        for error in answer.get("errors") or []:
            traces = (error.get("context") or {}).get("objectWriteTraceId") or []
            for trace in traces if isinstance(traces, list) else [traces]:
                if str(trace).isdigit() and int(trace) < len(items):
                    failed[int(trace)] = f"{error.get('category', 'ERROR')}: {error.get('message', '')}"[:500]
        return Verdict("ok", failed=failed)

    def classify(self, status: int | None, headers: dict[str, str], body: bytes, items: list[dict[str, Any]],
                 options: dict[str, Any]) -> Verdict:  # fmt: skip
        if status == 429 and _policy(body) == "DAILY":
            now = clock.now()
            until = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            message = f"HTTP 429: {vendor_message(body)} Held until {until:%Y-%m-%d %H:%M} UTC."
            return Verdict("retry", message, hold_seconds=(until - now).total_seconds())
        return super().classify(status, headers, body, items, options)

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        prop = options["property"]
        return {
            "personalization_token": f"{{{{ personalization_token('contact.{prop}', '{fallback}') }}}}",
            "hubl": f'{{{{ contact.{prop}|default("{fallback}") }}}}',
        }


def _policy(body: bytes) -> str | None:
    """The `policyName` of a HubSpot rate-limit answer (TEN_SECONDLY_ROLLING, DAILY, …)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return answer.get("policyName") if isinstance(answer, dict) else None
