"""The SSRF guard: deliveries go only to public addresses, checked on the address actually dialled.

Names are resolved once by `GuardedResolver`, every address must pass, and the connection is made to
those checked addresses (the host name is kept for TLS). URLs with a literal IP never reach a
resolver in aiohttp, so `NetworkPolicy.refuse_url` checks those before sending. Embedded IPv4 forms
(IPv4-mapped, NAT64, 6to4, Teredo) are unwrapped and checked as IPv4.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

BLOCKED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "::/96",
        "::ffff:0:0/96",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/32",
        "2001:db8::/32",
        "2002::/16",
        "3fff::/20",
        "5f00::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    )
)


class BlockedAddress(OSError):
    pass


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address carried inside an IPv6 form that routes to it."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = address.packed
    if address in ipaddress.ip_network("64:ff9b::/96") or address in ipaddress.ip_network("::/96"):
        return ipaddress.IPv4Address(packed[-4:])
    return None


class NetworkPolicy:
    def __init__(self, allowed: str | list[str] = "") -> None:
        items = allowed.split(",") if isinstance(allowed, str) else allowed
        self._url_refusals: dict[str, str | None] = {}
        self.allowed: tuple[Network, ...] = tuple(
            ipaddress.ip_network(i.strip(), strict=False) for i in items if i.strip()
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why the address may not be dialled, or None when it may."""
        inner = embedded_ipv4(address)
        candidates = [address] if inner is None else [address, inner]
        if any(c in n for c in candidates for n in self.allowed if c.version == n.version):
            return None
        for candidate in candidates:
            for network in BLOCKED:
                if candidate.version == network.version and candidate in network:
                    return f"{address} is in blocked network {network}"
            if not candidate.is_global:
                return f"{address} is not a public address"
        return None

    def refuse_url(self, url: str) -> str | None:
        """Refusals knowable without DNS: scheme, and a host that is a literal or `localhost`."""
        if url in self._url_refusals:
            return self._url_refusals[url]
        refusal = self._refuse_url(url)
        if len(self._url_refusals) >= 10_000:
            self._url_refusals.clear()
        self._url_refusals[url] = refusal
        return refusal

    def _refuse_url(self, url: str) -> str | None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            return "only http and https URLs"
        host = (parts.hostname or "").rstrip(".")
        if host == "localhost" or host.endswith(".localhost"):
            return self.refusal(ipaddress.ip_address("127.0.0.1"))
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return None
        return self.refusal(address)


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver, then refuses the whole name if any address is not allowed."""

    def __init__(self, policy: NetworkPolicy, inner: AbstractResolver | None = None) -> None:
        self.policy = policy
        self.inner = inner or DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self.inner.resolve(host, port, family)
        for result in results:
            reason = self.policy.refusal(ipaddress.ip_address(result["host"]))
            if reason is not None:
                raise BlockedAddress(f"{host} resolves to a refused address: {reason}")
        return results

    async def close(self) -> None:
        await self.inner.close()
