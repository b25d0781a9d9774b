"""Iterable: `users/update` for one user, `users/bulkUpdate` for many; US or EU data centre."""

from __future__ import annotations

from typing import Any

import orjson

from sharelinks.connectors.vendors.base import Call, RegionalVendor, Verdict, identity, json_call

HOSTS: dict[str, str] = {"us": "https://api.iterable.com", "eu": "https://api.eu.iterable.com"}
FAILURE_LISTS = tuple(
    f"{kind}{who}"
    for who in ("Emails", "UserIds")
    for kind in ("invalid", "notFound", "conflict", "forgotten", "invalidData")
)


class Iterable(RegionalVendor):
    type = "iterable"
    title = "Iterable"
    credential_names = ("api_key",)
    hosts = HOSTS
    default_property = "share_link"
    # bulkUpdate: ≤ 4 MB, about 1,000 users, 5 requests/s per project.
    batch_size = 1000
    # bulkUpdate: ≤ 4 MB, about 1,000 users, 5 requests/s per project.
    limit = (5, 1.0)

    def auth_headers(self, credentials: dict[str, str], options: dict[str, Any]) -> dict[str, str]:
        return {"Api-Key": credentials["api_key"]}

    def _user(self, item: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
        key = "email" if options["match"] == "email" else "userId"
        user: dict[str, Any] = {key: identity(item, options["match"]),
                                "dataFields": {options["property"]: item["share_link"]}}  # fmt: skip
        if key == "userId":
            user["preferUserId"] = True
        return user

    def build(self, base: str, items: list[dict[str, Any]], options: dict[str, Any]) -> Call:
        if len(items) == 1:
            return json_call("POST", f"{base}/api/users/update", {}, self._user(items[0], options))
        users = [self._user(item, options) for item in items]
        return json_call("POST", f"{base}/api/users/bulkUpdate", {}, {"users": users})

    def read_success(self, body: bytes, items: list[dict[str, Any]], options: dict[str, Any]) -> Verdict:
        try:
            answer = orjson.loads(body)
        except orjson.JSONDecodeError:
            return Verdict("ok")
        if "failedUpdates" in answer:
            failed: dict[int, str] = {}
            positions = {identity(item, options["match"]): i for i, item in enumerate(items)}
            for name in FAILURE_LISTS:
                for who in answer["failedUpdates"].get(name) or []:
                    if who in positions:
                        failed[positions[who]] = f"Iterable {name}"
            return Verdict("ok", failed=failed)
        if answer.get("code") not in (None, "Success"):
            return Verdict("permanent", f"{answer.get('code')}: {answer.get('msg', '')}"[:500])
        return Verdict("ok")

    def snippet(self, options: dict[str, Any], fallback: str) -> dict[str, str]:
        return {"handlebars": f'{{{{defaultIfEmpty {options["property"]} "{fallback}"}}}}'}
