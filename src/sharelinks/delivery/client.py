"""The outbound HTTP client: aiohttp behind the SSRF guard, no redirects, bounded reads.

One `Sender` per worker holds one connection pool. Every request has a connect timeout and a total
timeout; the response body is read up to a cap and the connection dropped rather than drained past it.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict

from sharelinks import __version__
from sharelinks.delivery.ssrf import BlockedAddress, GuardedResolver, NetworkPolicy

RESPONSE_BODY_MAX = 20_000
USER_AGENT = f"Sharelinks/{__version__}"


@dataclass(frozen=True)
class Result:
    status: int | None
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    truncated: bool = False
    duration_ms: float = 0.0
    error: str | None = None
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Sender:
    def __init__(
        self,
        policy: NetworkPolicy,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 15.0,
        limit: int = 64,
    ) -> None:
        self.policy = policy
        self._timeout = aiohttp.ClientTimeout(total=total_timeout, sock_connect=connect_timeout)
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.policy), limit=self._limit, ttl_dns_cache=10)
            # trust_env=False: a proxy from the environment would dial on our behalf, unchecked.
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                trust_env=False,
                auto_decompress=False,
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, method: str, url: str, headers: dict[str, str], body: bytes) -> Result:
        refusal = self.policy.refuse_url(url)
        if refusal is not None:
            return Result(status=None, error=f"refused: {refusal}")
        # Accept-Encoding named here, not left out with aiohttp's skip_auto_headers: that option made
        # aiohttp sort and copy the headers on every request (a tenth of a worker's time). Identity:
        # response bodies are recorded as sent, never decompressed.
        all_headers = CIMultiDict(
            {"User-Agent": USER_AGENT, "Content-Type": "application/json", "Accept-Encoding": "identity"}
        )
        all_headers.update(headers)
        started = time.perf_counter()
        try:
            async with self.session.request(
                method, url, data=body, headers=all_headers, allow_redirects=False
            ) as response:
                data, truncated = await _read_capped(response)
                if truncated:
                    response.close()  # drop the connection instead of draining an unbounded body
                return Result(
                    status=response.status,
                    headers={str(k): v for k, v in response.headers.items()},
                    body=data,
                    truncated=truncated,
                    duration_ms=(time.perf_counter() - started) * 1000,
                )
        except TimeoutError:
            return Result(status=None, error="timed out", timed_out=True, duration_ms=_ms(started))
        except aiohttp.ClientConnectorError as exc:
            cause = exc.os_error
            if isinstance(cause, BlockedAddress) or isinstance(cause.__cause__, BlockedAddress):
                return Result(status=None, error=f"refused: {cause}", duration_ms=_ms(started))
            return Result(status=None, error=f"connection failed: {exc}"[:500], duration_ms=_ms(started))
        except BlockedAddress as exc:
            return Result(status=None, error=f"refused: {exc}", duration_ms=_ms(started))
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            return Result(status=None, error=f"{type(exc).__name__}: {exc}"[:500], duration_ms=_ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _read_capped(response: aiohttp.ClientResponse) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while size <= RESPONSE_BODY_MAX:
        chunk = await response.content.read(RESPONSE_BODY_MAX + 1 - size)
        if not chunk:
            return b"".join(chunks), False
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)[:RESPONSE_BODY_MAX], True
