"""The SSRF guard: every blocked address class, checked on the addresses a name resolves to."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Any

import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from fastapi.testclient import TestClient

from sharelinks.delivery.client import Sender
from sharelinks.delivery.ssrf import BlockedAddress, GuardedResolver, NetworkPolicy
from sharelinks.testing.receiver import Receiver
from tests.conftest import make_program
from tests.helpers import assert_error, create_webhook, enable_extension, send_event, wait_until, webhook_events

BLOCKED = [
    "127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
    "224.0.0.1", "240.0.0.1", "255.255.255.255", "198.18.0.1", "192.0.2.1", "192.88.99.1",
    "::1", "::", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::7f00:1", "64:ff9b::a00:1", "64:ff9b:1::1",
    "2002:7f00:1::", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "fd00:ec2::254", "fe80::1", "fec0::1", "ff02::1",
    "2001:db8::1", "100::1",
]  # fmt: skip
PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize("address", BLOCKED)
def test_blocked_classes(address: str) -> None:
    assert NetworkPolicy("").refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert NetworkPolicy("").refusal(ipaddress.ip_address(address)) is None


def test_allow_list_opens_only_what_it_names() -> None:
    policy = NetworkPolicy("127.0.0.0/8, 10.1.0.0/16")
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("::ffff:127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.1.2.3")) is None
    assert policy.refusal(ipaddress.ip_address("10.2.0.1")) is not None
    assert policy.refusal(ipaddress.ip_address("169.254.169.254")) is not None


def test_urls_refused_before_any_connection() -> None:
    policy = NetworkPolicy("")
    for url in (
        "http://127.0.0.1/x",
        "http://[::1]/x",
        "http://localhost:8080/",
        "http://a.localhost/",
        "ftp://example.com/",
    ):
        assert policy.refuse_url(url) is not None, url
    assert policy.refuse_url("https://hooks.example.com/in") is None


class FixedResolver(AbstractResolver):
    """Answers with a fixed list per call (a rebinding resolver changes its answer between calls)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        return [{"hostname": host, "host": a, "port": port, "family": socket.AF_INET6 if ":" in a else socket.AF_INET,
                 "proto": 0, "flags": 0} for a in addresses]  # fmt: skip

    async def close(self) -> None:
        pass


def resolve(resolver: GuardedResolver, host: str) -> Any:
    return asyncio.run(resolver.resolve(host, 443))


def test_a_name_with_any_private_address_is_refused() -> None:
    guarded = GuardedResolver(NetworkPolicy(""), FixedResolver(["93.184.216.34", "10.0.0.5"]))
    with pytest.raises(BlockedAddress):
        resolve(guarded, "mixed.example.com")


def test_rebinding_is_caught_on_the_second_resolution() -> None:
    guarded = GuardedResolver(NetworkPolicy(""), FixedResolver(["93.184.216.34"], ["127.0.0.1"]))
    assert resolve(guarded, "rebind.example.com")[0]["host"] == "93.184.216.34"
    with pytest.raises(BlockedAddress):
        resolve(guarded, "rebind.example.com")


def test_sender_refuses_a_name_that_resolves_to_loopback(receiver: Receiver) -> None:
    """A host name is not a literal, so only the resolver can catch it: the address dialled is checked."""

    async def go() -> Any:
        sender = Sender(NetworkPolicy(""))
        sender.session.connector._resolver = GuardedResolver(NetworkPolicy(""), FixedResolver(["127.0.0.1"]))  # type: ignore[union-attr]
        try:
            return await sender.send("POST", f"http://service.internal.example:{receiver.port}/", {}, b"{}")
        finally:
            await sender.close()

    result = asyncio.run(go())
    assert result.status is None and result.error.startswith("refused"), result
    assert receiver.requests == []


def test_webhook_urls_to_blocked_literals_are_refused_at_creation(
    client: TestClient, auth: dict, settings: Any
) -> None:
    # The test settings allow 127.0.0.0/8; 10.0.0.1 and the metadata address stay refused.
    for url in ("http://10.0.0.1/hook", "http://169.254.169.254/latest/meta-data", "http://[::ffff:10.0.0.1]/"):
        assert_error(client.post("/v6/webhooks", headers=auth, json={"name": "w", "url": url}), 400,
                     "webhook_url_not_allowed")  # fmt: skip
    assert_error(client.post("/v6/webhooks", headers=auth, json={"name": "w", "url": "file:///etc/passwd"}), 400,
                 "invalid_url")  # fmt: skip


def test_without_the_allow_list_loopback_delivery_is_refused(
    delivering_client: TestClient, auth: dict, receiver: Receiver
) -> None:
    """Created while allowed, then the worker's own policy refuses: checked where it dials."""
    make_program(delivering_client, auth)
    enable_extension(delivering_client, auth)
    create_webhook(delivering_client, auth, receiver.url, retry_intervals=[])
    worker = delivering_client.app.state.worker  # type: ignore[attr-defined]
    worker.sender.policy = NetworkPolicy("")
    send_event(delivering_client, auth, "alex@example.com")
    event = wait_until(lambda: [e for e in webhook_events(delivering_client, auth) if e["status"] == "dead_letter"])[0]
    assert event["attempts"][0]["error"].startswith("refused")
    assert receiver.requests == []
