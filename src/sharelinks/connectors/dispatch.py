"""Connector deliveries inside the worker: grouped per connector into the vendor's batch size, held to
its rate limit by the shared token bucket, authenticated, and read back per message.

A message whose webhook belongs to a connector is handed here instead of being POSTed on its own.
Each connector has one queue and one task draining it: one request in flight per connector per
worker, which also keeps vendor ordering sane. A vendor that takes nothing more for a while (a
daily cap) puts the shared bucket in debt: every worker then gives its messages for that connector
back untried, due when the hold ends, instead of holding claims for hours.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sharelinks import clock
from sharelinks.connectors import ratelimit
from sharelinks.connectors import service as connectors
from sharelinks.connectors.service import Connector
from sharelinks.connectors.vendors.base import Verdict, identity
from sharelinks.connectors.vendors.hubspot import HubSpot
from sharelinks.connectors.vendors.sfmc import SFMC
from sharelinks.delivery import queue as delivery_queue
from sharelinks.delivery.client import Result
from sharelinks.delivery.queue import Claimed
from sharelinks.keys.algorithms import Material
from sharelinks.keys.crypto import SecretBox
from sharelinks.keys.oauth import TokenError
from sharelinks.webhooks.service import Webhook

if TYPE_CHECKING:
    from sharelinks.delivery.worker import DeliveryWorker

log = logging.getLogger("sharelinks.connectors")
BATCH_WAIT_SECONDS = 0.05
BULK_WAIT_SECONDS = 0.5
BULK_POLL_SECONDS = 1.0
BULK_TIMEOUT_SECONDS = 600.0
CONFIG_TTL = 1.0
BODY_KEPT = 4000  # of a batched request, per attempt record
# A wait for a token longer than this is a hold (a vendor's daily cap), not pacing: the messages go
# back to the queue until it ends. Pacing waits are a fraction of a vendor's window.
HOLD_AFTER_SECONDS = 30.0

Job = tuple[Webhook, Claimed]
STATUS_AFTER = {"ok": "active", "unauthorized": "unauthorized", "retry": "failing"}


class ConnectorDispatcher:
    def __init__(self, worker: DeliveryWorker, box: SecretBox) -> None:
        self.worker = worker
        self.box = box
        self.pending = 0
        self._queues: dict[int, asyncio.Queue[Job]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._configs: dict[int, tuple[Connector | None, dict[str, str] | None, float]] = {}
        self._prepared: set[tuple[int, str]] = set()

    def submit(self, webhook: Webhook, message: Claimed) -> None:
        assert webhook.connector_id is not None
        queue = self._queues.get(webhook.connector_id)
        if queue is None:
            queue = self._queues[webhook.connector_id] = asyncio.Queue()
            task = asyncio.get_running_loop().create_task(self._drain(webhook.connector_id, queue))
            self._tasks[webhook.connector_id] = task
        queue.put_nowait((webhook, message))
        self.pending += 1

    async def _config(self, connector_id: int) -> tuple[Connector | None, dict[str, str] | None]:
        entry = self._configs.get(connector_id)
        if entry is None or time.monotonic() - entry[2] > CONFIG_TTL:
            found = await self.worker.db.run(connectors.get, connector_id)
            credentials = await self.worker.db.run(connectors.open_credentials, self.box, connector_id)
            entry = (found, credentials, time.monotonic())
            self._configs[connector_id] = entry
        return entry[0], entry[1]

    async def _drain(self, connector_id: int, queue: asyncio.Queue[Job]) -> None:
        while True:
            batch = [await queue.get()]
            connector, credentials = await self._config(connector_id)
            size = connector.vendor.batch_size if connector else 1
            # A backlog (a backfill push) goes through the vendor's bulk job where it has one.
            bulk = connector is not None and connector.vendor.bulk_size > 0 and queue.qsize() >= size
            if bulk and connector is not None:
                size = connector.vendor.bulk_size
            deadline = time.monotonic() + (BULK_WAIT_SECONDS if bulk else BATCH_WAIT_SECONDS)
            while len(batch) < size:
                if not queue.empty():
                    batch.append(queue.get_nowait())
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                await asyncio.sleep(min(0.005, left))
            self.pending -= len(batch)
            try:
                if connector is None or credentials is None:
                    for _, message in batch:
                        self.worker.forget(message.id)  # deleted with its connector
                    continue
                if bulk and len(batch) > 1:
                    await self._send_bulk(connector, credentials, batch)
                else:
                    await self._send(connector, credentials, batch)
            except Exception:
                log.exception("connector %s: a batch failed unexpectedly; its leases will expire", connector_id)

    async def _send(self, connector: Connector, credentials: dict[str, str], batch: list[Job]) -> None:
        vendor, options = connector.vendor, connector.options
        started_at = clock.now()
        webhook = batch[0][0]
        if connector.status == "unauthorized":
            result = Result(status=None, error="connector paused: credentials rejected")
            for _, message in batch:
                self.worker.finish(message, webhook, {}, b"", result, "paused", None, started_at)
            return
        # Items the vendor cannot key are refused here, alone: the rest of the batch goes.
        jobs: list[Job] = []
        for job in batch:
            if identity(job[1].event, options["match"]) is None:
                error = f"no {options['match']} to match the {vendor.title} contact"
                self.worker.finish(job[1], webhook, {}, b"", Result(status=None, error=error), "dead_letter", None,
                                   started_at)  # fmt: skip
            else:
                jobs.append(job)
        if not jobs:
            return
        items = [message.event for _, message in jobs]
        base = vendor.base_url(options, connector.base_url)
        if not await self._token_or_defer(connector, jobs):
            return
        if isinstance(vendor, HubSpot) and (connector.id, options["property"]) not in self._prepared:
            await self._create_property(connector, credentials, base)
        call = vendor.build(base, items, options)
        headers = {**vendor.auth_headers(credentials, options), **call.headers}
        result = await self._request(connector, credentials, call.method, call.url, headers, call.body)
        verdict = vendor.classify(result.status, result.headers, result.body, items, options)
        await self._note(connector, verdict)
        self._settle(jobs, verdict, headers, call.body, result, started_at)

    async def _send_bulk(self, connector: Connector, credentials: dict[str, str], batch: list[Job]) -> None:
        """Start a vendor bulk job, poll it to the end, then settle every message from its report."""
        vendor, options = connector.vendor, connector.options
        started_at = clock.now()
        base = vendor.base_url(options, connector.base_url)
        items = [message.event for _, message in batch]
        auth = vendor.auth_headers(credentials, options)

        async def send(c: Any) -> Result:
            return await self._request(connector, credentials, c.method, c.url, {**auth, **c.headers}, c.body)

        async def call(c: Any) -> Result:
            await self._wait_for_token(connector)  # a hold found while polling: the job is polled anyway
            return await send(c)

        if not await self._token_or_defer(connector, batch):
            return
        start = vendor.bulk_call(base, items, options)
        result = await send(start)
        verdict = vendor.classify(result.status, result.headers, result.body, items, options)
        failed: dict[int, str] = {}
        if verdict.kind == "ok":
            job_id = vendor.bulk_job_id(result.body)
            deadline = time.monotonic() + BULK_TIMEOUT_SECONDS
            state = "running"
            while state == "running" and time.monotonic() < deadline:
                await asyncio.sleep(BULK_POLL_SECONDS)
                polled = await call(vendor.bulk_status_call(base, job_id, options))
                state = vendor.bulk_state(polled.body) if polled.ok else "running"
            if state == "running":
                verdict = Verdict("retry", f"bulk job {job_id} did not finish in {BULK_TIMEOUT_SECONDS:.0f} s")
            elif state == "failed":
                verdict = Verdict("retry", f"bulk job {job_id} failed")
            elif state == "done_with_errors":
                report = await call(vendor.bulk_errors_call(base, job_id, options))
                failed = vendor.bulk_failures(report.body, items, options) if report.ok else {}
            verdict = replace(verdict, failed=failed)
        await self._note(connector, verdict)
        self._settle(batch, verdict, {**auth, **start.headers}, start.body, result, started_at)

    def _settle(self, jobs: list[Job], verdict: Verdict, headers: dict[str, str], sent: bytes, result: Result,
                started_at: datetime) -> None:  # fmt: skip
        """Record the attempt of every message in a vendor call and move each on, per the verdict."""
        body = sent[:BODY_KEPT] + (b"..." if len(sent) > BODY_KEPT else b"")
        for index, (job_webhook, message) in enumerate(jobs):
            outcome, retry_in, why = self._outcome(verdict, index, job_webhook, message, result)
            self.worker.finish(message, job_webhook, headers, body, result, outcome, retry_in, started_at, why)

    def _outcome(
        self, verdict: Verdict, index: int, webhook: Webhook, message: Claimed, result: Result
    ) -> tuple[str, float | None, str | None]:
        if verdict.kind == "ok":
            failed = verdict.failed.get(index)
            return ("dead_letter", None, failed) if failed else ("delivered", None, None)
        if verdict.kind == "unauthorized":
            return "paused", None, verdict.message
        if verdict.kind == "permanent":
            return "dead_letter", None, verdict.message
        retry = Result(status=result.status if result.status and not result.ok else None, headers=result.headers,
                       timed_out=result.timed_out, error=verdict.message)  # fmt: skip
        outcome, retry_in = self.worker.decide(webhook, message, retry)
        if outcome == "retrying" and verdict.hold_seconds:
            retry_in = max(retry_in or 0.0, verdict.hold_seconds)
        return outcome, retry_in, verdict.message

    async def _wait_for_token(self, connector: Connector) -> float:
        """Take a token, waiting for it: 0.0. Or, when the wait is a hold, the seconds it has left
        (no token taken)."""
        rate, burst = connector.vendor.rate(connector.options)
        while True:
            wait = await self.worker.db.run(ratelimit.take, connector.id, rate, burst)
            if wait <= 0:
                return 0.0
            if wait > HOLD_AFTER_SECONDS:
                return wait
            await asyncio.sleep(wait)

    async def _token_or_defer(self, connector: Connector, jobs: list[Job]) -> bool:
        """A token for sending `jobs`: True. Or, the connector held, `jobs` given back: False."""
        held = await self._wait_for_token(connector)
        if held:
            await self._defer(jobs, held)
        return not held

    async def _defer(self, jobs: list[Job], seconds: float) -> None:
        """Messages of a held connector back to the queue untried, due when the hold ends."""
        ids = [message.id for _, message in jobs]
        until = clock.now() + timedelta(seconds=seconds)
        await self.worker.db.run(delivery_queue.defer, self.worker.worker_id, ids, until)
        for message_id in ids:
            self.worker.forget(message_id)

    async def _request(self, connector: Connector, credentials: dict[str, str], method: str, url: str,
                       headers: dict[str, str], body: bytes) -> Result:  # fmt: skip
        vendor = connector.vendor
        if not isinstance(vendor, SFMC):
            return await self.worker.sender.send(method, url, headers, body)
        # SFMC: a client-credentials token, cached until shortly before expiry; one refresh on 401.
        token_options = {
            "token_url": vendor.token_url(connector.options, connector.base_url),
            "client_id": credentials["client_id"],
            "token_request_format": "json",
        }
        if connector.options.get("account_id"):
            token_options["account_id"] = connector.options["account_id"]
        material = Material("OAUTH2_CLIENT_CREDENTIALS", (credentials["client_secret"],), token_options)
        cache_key = (connector.id, hash(credentials["client_secret"]))
        for attempt in range(2):
            try:
                headers["Authorization"] = "Bearer " + await self.worker.tokens.token(cache_key, material)
            except TokenError as exc:
                return Result(status=401, error=str(exc))
            result = await self.worker.sender.send(method, url, headers, body)
            if result.status != 401 or attempt:
                return result
            self.worker.tokens.invalidate(cache_key)
        raise AssertionError("unreachable")

    async def _create_property(self, connector: Connector, credentials: dict[str, str], base: str) -> None:
        vendor = connector.vendor
        assert isinstance(vendor, HubSpot)
        call = vendor.property_call(base, connector.options)
        headers = {**vendor.auth_headers(credentials, connector.options), **call.headers}
        if await self._wait_for_token(connector):
            return  # held: the property is created on a later batch
        result = await self.worker.sender.send(call.method, call.url, headers, call.body)
        if result.ok or result.status == 409:  # created, or there already
            self._prepared.add((connector.id, connector.options["property"]))
        else:
            log.warning("HubSpot property %s not created: %s", connector.options["property"], result.status)

    async def _note(self, connector: Connector, verdict: Verdict) -> None:
        """What a vendor's answer says about the connector: its status, and a hold for every worker."""
        if verdict.hold_seconds:
            rate = connector.vendor.rate(connector.options)[0]
            await self.worker.db.run(ratelimit.hold, connector.id, verdict.hold_seconds, rate)
        status = STATUS_AFTER.get(verdict.kind, connector.status)
        error = verdict.message if verdict.kind != "ok" else None
        if status != connector.status or error != connector.last_error:
            await self.worker.db.run(connectors.set_status, connector.id, status, error)
            self._configs.pop(connector.id, None)
