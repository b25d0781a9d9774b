"""Salesforce Marketing Cloud: OAuth2 client credentials, data extension rows upserted by primary key."""

from __future__ import annotations

from typing import Any

import orjson

from sharelinks.connectors.vendors.base import Call, Vendor, Verdict, identity, json_call
from sharelinks.http.errors import ApiError


class SFMC(Vendor):
    type = "sfmc"
    title = "Salesforce Marketing Cloud"
    credential_names = ("client_id", "client_secret")
    # Rowset upserts: ≤ 50 rows per request is the documented best practice.
    batch_size = 50
    limit = (20, 1.0)  # no per-second limit is published (50M requests/day)
    # The async rows endpoint: ≤ 32,000 rows per request (a backfill push).
    bulk_size = 32_000

    def check_options(self, options: dict[str, Any]) -> dict[str, Any]:
        checked = super().check_options({"primary_key": "SubscriberKey", **options})
        for name in ("subdomain", "data_extension"):
            if not isinstance(checked.get(name), str) or not checked[name]:
                raise ApiError("invalid_parameter", name=f"options.{name}", message=f"SFMC needs options.{name}.")
        return checked

    def default_base_url(self, options: dict[str, Any]) -> str:
        return f"https://{options['subdomain']}.rest.marketingcloudapis.com"

    def token_url(self, options: dict[str, Any], override: str | None) -> str:
        if override:
            return override.rstrip("/") + "/v2/token"
        return f"https://{options['subdomain']}.auth.marketingcloudapis.com/v2/token"

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        return {}  # a Bearer token from the token endpoint, added by the dispatcher

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        rows = [
            {"keys": {options["primary_key"]: identity(item, options["match"])},
             "values": {options["property"]: item["share_link"]}}
            for item in items
        ]  # fmt: skip
        return json_call("POST", f"{base}/hub/v1/dataevents/key:{options['data_extension']}/rowset", {}, rows)

    def read_success(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> Verdict:
        return Verdict("ok")

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        prop = options["property"]
        ampscript = (
            "%%[\n"
            f'SET @shareLink = AttributeValue("{prop}")\n'
            "IF EMPTY(@shareLink) THEN\n"
            f'  SET @shareLink = "{fallback}"\n'
            "ENDIF\n"
            "]%%\n"
            '<a href="%%=RedirectTo(@shareLink)=%%">Share your link</a>'
        )
        return {"personalization_string": f"%%{prop}%%", "ampscript": ampscript}

    def bulk_call(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        rows = [{options["primary_key"]: identity(item, options["match"]), options["property"]: item["share_link"]}
                for item in items]  # fmt: skip
        return json_call("PUT", f"{base}/data/v1/async/dataextensions/key:{options['data_extension']}/rows", {},
                         {"items": rows})  # fmt: skip

    def bulk_job_id(self, body: bytes) -> str:
        return str(orjson.loads(body)["requestId"])

    def bulk_status_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        return Call("GET", f"{base}/data/v1/async/{job_id}/status", {}, b"")

    def bulk_state(self, body: bytes) -> str:
        status = orjson.loads(body)["status"]
        if status["requestStatus"] == "Pending":
            return "running"
        if status["requestStatus"] == "Error" and not status.get("hasErrors"):
            return "failed"
        return "done_with_errors" if status.get("hasErrors") else "done"

    def bulk_errors_call(self, base: str, job_id: str, options: dict[str, Any]) -> Call:
        return Call("GET", f"{base}/data/v1/async/{job_id}/results", {}, b"")

    def bulk_failures(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> dict[int, str]:
        """Results list one entry per row, in the order sent (our reading; the key is not echoed)."""
        return {
            index: f"{result.get('errorCode')}: {result.get('message', '')}"[:500]
            for index, result in enumerate(orjson.loads(body).get("items") or [])
            if index < len(items) and result.get("status") not in ("OK", "Success", None)
        }
