"""Which proxies' X-Forwarded-* headers count: uvicorn's rule (ProxyHeadersMiddleware), built once
and quicker for the common case.

uvicorn checks a host by parsing it with `ipaddress` (about 2 µs) behind a cache of 4,096 answers.
Behind a load balancer nearly every visitor's address is new, so that parse ran on every redirect,
and the fast path built the whole trust table again for every connection. Here the table is built
once per setting, and when no networks are trusted, a host without a colon (an IPv4 address, or a
name) is answered from the texts of the trusted addresses and literals: `ipaddress` accepts one
spelling of an IPv4 address only, so the answer is the same. IPv6 and networks go to uvicorn's check.
"""

from __future__ import annotations

from functools import lru_cache

from uvicorn.middleware.proxy_headers import _TrustedHosts


class TrustedProxies(_TrustedHosts):
    def __init__(self, trusted_hosts: list[str] | str) -> None:
        super().__init__(trusted_hosts)
        self._by_text = not self.trusted_networks
        self._texts = frozenset(str(host) for host in self.trusted_hosts if host.version == 4) | self.trusted_literals

    def _compute_trust(self, host: str) -> bool:
        if self._by_text and ":" not in host:
            return host in self._texts
        return super()._compute_trust(host)


@lru_cache(maxsize=8)
def _trusted(setting: str | tuple[str, ...]) -> TrustedProxies:
    return TrustedProxies(setting if isinstance(setting, str) else list(setting))


def trusted_proxies(setting: list[str] | str) -> TrustedProxies:
    """The trust table for uvicorn's `forwarded_allow_ips` setting, shared by every connection."""
    return _trusted(setting if isinstance(setting, str) else tuple(setting))
