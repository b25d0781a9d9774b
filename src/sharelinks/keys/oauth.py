"""OAuth2 client credentials: fetch a token, cache it until shortly before it expires.

The token endpoint is reached through the same guarded `Sender` as deliveries, so it cannot be aimed
at an internal address either. A 401 from the webhook endpoint calls `invalidate`, and the next
attempt fetches a fresh token.
"""

from __future__ import annotations

import asyncio
import base64
import time
from urllib.parse import urlencode

import orjson

from sharelinks.delivery.client import Sender
from sharelinks.keys.algorithms import Material

REFRESH_EARLY_SECONDS = 60.0
DEFAULT_EXPIRES_IN = 3600.0


class TokenError(Exception):
    pass


class TokenProvider:
    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._tokens: dict[tuple[int, int], tuple[str, float]] = {}
        self._locks: dict[tuple[int, int], asyncio.Lock] = {}

    def invalidate(self, cache_key: tuple[int, int]) -> None:
        self._tokens.pop(cache_key, None)

    async def token(self, cache_key: tuple[int, int], material: Material) -> str:
        """A valid access token for this key version; one fetch at a time per key."""
        cached = self._tokens.get(cache_key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        lock = self._locks.setdefault(cache_key, asyncio.Lock())
        async with lock:
            cached = self._tokens.get(cache_key)
            if cached is not None and cached[1] > time.monotonic():
                return cached[0]
            token, expires_in = await self._fetch(material)
            lifetime = max(expires_in - REFRESH_EARLY_SECONDS, expires_in / 2)
            self._tokens[cache_key] = (token, time.monotonic() + lifetime)
            return token

    async def _fetch(self, material: Material) -> tuple[str, float]:
        options = material.options
        fields = {"grant_type": "client_credentials", "client_id": options["client_id"]}
        fields["client_secret"] = material.secret
        for name in ("scope", "audience", "account_id"):
            if options.get(name):
                fields[name] = options[name]
        if options.get("token_request_format") == "json":
            body = orjson.dumps(fields)
            headers = {"Content-Type": "application/json"}
        else:
            body = urlencode(fields).encode()
            basic = base64.b64encode(f"{options['client_id']}:{material.secret}".encode()).decode()
            headers = {"Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Basic {basic}"}
        result = await self.sender.send("POST", options["token_url"], headers, body)
        if not result.ok:
            detail = result.error or f"HTTP {result.status}: {result.body[:200].decode(errors='replace')}"
            raise TokenError(f"token request failed: {detail}")
        try:
            answer = orjson.loads(result.body)
            token = answer["access_token"]
            expires_in = float(answer.get("expires_in") or DEFAULT_EXPIRES_IN)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TokenError("token response has no access_token") from exc
        if not isinstance(token, str) or not token:
            raise TokenError("token response has no access_token")
        return token, expires_in
