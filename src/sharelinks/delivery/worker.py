"""The delivery worker: claim due messages, render, sign, send, record. Many requests in flight.

It runs inside `sharelinks serve` (embedded) or as `sharelinks worker` processes (scale-out). It wakes
on a local doorbell, on PostgreSQL on LISTEN, on SQLite when another connection commits (wakeup.
watch_sqlite); it also polls, so a lost wake-up only delays.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from sharelinks import clock
from sharelinks.config import Settings
from sharelinks.connectors.dispatch import ConnectorDispatcher
from sharelinks.db import listener
from sharelinks.db.database import Database
from sharelinks.delivery import queue, wakeup
from sharelinks.delivery.client import Result, Sender
from sharelinks.delivery.queue import Attempt, Claimed
from sharelinks.delivery.schedule import next_delay, parse_retry_after
from sharelinks.delivery.ssrf import NetworkPolicy
from sharelinks.keys import service as keys
from sharelinks.keys.algorithms import ALGORITHMS, Material, Signed
from sharelinks.keys.crypto import SecretBox
from sharelinks.keys.oauth import TokenError, TokenProvider
from sharelinks.observability.metrics import observe_attempt
from sharelinks.webhooks import payload
from sharelinks.webhooks import service as webhooks
from sharelinks.webhooks.models import DUE_PREDICATE, webhook_messages
from sharelinks.webhooks.service import Webhook

T = TypeVar("T")
log = logging.getLogger("sharelinks.delivery")
CLAIM_BATCH = 256
CONNECTOR_BUFFER = 20_000
RECORD_RETRY_PAUSES = (0.25, 0.5, 1.0, 2.0, 4.0)
RECORD_BATCH_SECONDS = 0.02
# New messages a worker takes at birth (wakeup.Taker) while it has fewer than this many lanes' worth
# waiting: beyond that they stay due in the table and are claimed as lanes free up.
ADOPT_BACKLOG_PER_LANE = 4
PURGE_EVERY_SECONDS = 600.0
SENSITIVE_HEADER_RE = re.compile(r"auth|key|token|secret|signature|cookie|password", re.IGNORECASE)
REDACTED = "[redacted]"


@functools.lru_cache(maxsize=4096)
def _hidden(name: str) -> bool:
    # Remembered per header name: a webhook sends the same few names every time, and the regular
    # expression searched per header took 4 µs of every delivery (0.6 with this cache).
    return SENSITIVE_HEADER_RE.search(name) is not None


def redact(headers: dict[str, str]) -> dict[str, str]:
    return {k: REDACTED if _hidden(k) else v for k, v in headers.items()}


class Configs:
    """Webhooks and opened keys, cached briefly: every delivery needs them, they rarely change.

    A warm entry costs a dict lookup, not a database round trip. An expired one is fetched once,
    however many lanes want it meanwhile: each used to fetch (and decrypt) it for itself, a dozen
    or more round trips every second per entry at a few thousand deliveries a second.
    """

    def __init__(self, db: Database, box: SecretBox, ttl: float = 1.0) -> None:
        self._webhooks: _Fetched[Webhook | None] = _Fetched(lambda i: db.run(webhooks.get, i), ttl)
        self._keys: _Fetched[Material | None] = _Fetched(lambda i: db.run(keys.material, box, i), ttl)

    async def webhook(self, webhook_id: int) -> Webhook | None:
        return await self._webhooks.get(webhook_id)

    async def key(self, key_id: int) -> Material | None:
        return await self._keys.get(key_id)


class _Fetched(Generic[T]):
    """Values by id, each kept `ttl` seconds and fetched by one call at a time."""

    def __init__(self, fetch: Callable[[int], Awaitable[T]], ttl: float) -> None:
        self._fetch = fetch
        self._ttl = ttl
        self._values: dict[int, tuple[T, float]] = {}
        self._fetching: dict[int, asyncio.Future[T]] = {}

    async def get(self, key: int) -> T:
        entry = self._values.get(key)
        if entry is not None and time.monotonic() - entry[1] <= self._ttl:
            return entry[0]
        fetching = self._fetching.get(key)
        if fetching is None:
            fetching = self._fetching[key] = asyncio.ensure_future(self._refresh(key))
        return await asyncio.shield(fetching)  # one caller going away must not cancel the others' fetch

    async def _refresh(self, key: int) -> T:
        try:
            value = await self._fetch(key)
            self._values[key] = (value, time.monotonic())
            return value
        finally:
            del self._fetching[key]


class DeliveryWorker:
    def __init__(self, db: Database, box: SecretBox, settings: Settings, *, worker_id: str | None = None) -> None:
        self.db = db
        self.settings = settings
        self.worker_id = worker_id or uuid.uuid4().hex[:16]
        self.policy = NetworkPolicy(settings.webhook_allow_networks)
        self.sender = Sender(
            self.policy,
            connect_timeout=settings.delivery_connect_timeout,
            total_timeout=settings.delivery_total_timeout,
            limit=settings.worker_concurrency,
        )
        self.tokens = TokenProvider(self.sender)
        self.configs = Configs(db, box)
        self.connectors = ConnectorDispatcher(self, box)
        self.doorbell = wakeup.Doorbell()
        # Claimed and not yet recorded: what the heartbeat renews and a shutdown hands back.
        self._held: set[int] = set()
        self._queue: asyncio.Queue[Claimed] = asyncio.Queue()
        self._busy = 0
        self._lanes: list[asyncio.Task[None]] = []
        self._to_record: list[Attempt] = []
        self._writer: asyncio.Task[None] | None = None
        self._claim_threshold = max(1, settings.worker_concurrency // 4)
        self._stopping = False
        self._released = False  # stop() has handed its claims back: later hand-offs go straight back
        self._giving_back: set[asyncio.Task[None]] = set()
        self._main: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.lease_seconds = settings.delivery_lease_seconds
        self.engine = db.engine

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self.doorbell.bind(loop)
        wakeup.register(self.doorbell, self)
        # Long-lived lanes instead of a task per delivery: the same concurrency, less overhead.
        self._lanes = [loop.create_task(self._lane()) for _ in range(self.settings.worker_concurrency)]
        self._main = loop.create_task(self._run(), name="delivery-worker")
        if not self.db.is_sqlite:
            self._listener = loop.create_task(self._listen(), name="delivery-listener")
        elif self.db.engine.url.database not in (None, "", ":memory:"):
            watching = wakeup.watch_sqlite(str(self.db.engine.url.database), self.doorbell)
            self._listener = loop.create_task(watching, name="delivery-sqlite-watch")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop claiming, give requests in flight `grace` seconds, record them, hand back the rest."""
        self._stopping = True
        wakeup.unregister(self.doorbell, self)
        for task in (self._main, self._listener):
            if task is not None:
                task.cancel()
        deadline = time.monotonic() + grace
        while self._busy and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        for lane in self._lanes:
            lane.cancel()
        await asyncio.gather(*self._lanes, return_exceptions=True)
        while (self._to_record or self._writer is not None) and time.monotonic() < deadline + grace:
            await asyncio.sleep(0.02)
        # From here on, what is handed over goes back on its own (`_take`), even while this awaits.
        held, self._released = list(self._held), True
        if held:
            await self._release(held)
        await self.sender.close()

    async def _release(self, message_ids: list[int]) -> None:
        try:
            await self.db.run(queue.release, self.worker_id, message_ids)
        except Exception:
            log.exception("could not release %d claims; their leases will expire", len(message_ids))

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until no message is due or held (tests and tools)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self._held and not await self.db.run(_has_due):
                return
            await asyncio.sleep(0.05)
        raise TimeoutError("deliveries still pending")

    # -- messages taken at birth (wakeup.Taker) ---------------------------------------------------

    def room(self) -> int:
        if self._stopping:
            return 0
        return self.settings.worker_concurrency * ADOPT_BACKLOG_PER_LANE - self._queue.qsize() - self._busy

    def adopt(self, messages: list[Claimed]) -> None:
        """Messages written leased to this worker, their transaction committed: deliver them as if
        claimed. Called by the committing thread, handed to the loop."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._take, messages)

    def _take(self, messages: list[Claimed]) -> None:
        """Messages leased to this worker (claimed, or written leased to it) into the lanes' queue."""
        if self._released:
            # Written leased to this worker by a transaction that committed after `stop` gave its
            # claims back: these go back too, or they would wait out their lease.
            assert self._loop is not None
            task = self._loop.create_task(self._release([message.id for message in messages]))
            self._giving_back.add(task)  # held: the loop keeps only a weak reference
            task.add_done_callback(self._giving_back.discard)
            return
        for message in messages:
            self._held.add(message.id)  # renewed by the heartbeat, handed back at shutdown
            self._queue.put_nowait(message)

    # -- the loop --------------------------------------------------------------------------------

    @property
    def _room(self) -> int:
        # Connector work may buffer well beyond the lanes: it waits for batches, bulk jobs and tokens.
        over = max(0, self.connectors.pending - CONNECTOR_BUFFER)
        return self.settings.worker_concurrency - self._queue.qsize() - self._busy - over

    async def _run(self) -> None:
        last_heartbeat = last_purge = time.monotonic()
        heartbeat_every = self.settings.delivery_lease_seconds / 6
        while not self._stopping:
            room = self._room
            claimed: list[Claimed] = []
            # Claim in batches: one query per freed lane would cost more than the deliveries.
            if room >= self._claim_threshold or (room > 0 and room == self.settings.worker_concurrency):
                try:
                    claimed = await self.db.run(
                        queue.claim, self.worker_id, min(room, CLAIM_BATCH), self.settings.delivery_lease_seconds
                    )
                except DBAPIError as exc:
                    log.warning("claiming deliveries failed (%s); retrying", exc.orig)
                    await asyncio.sleep(1.0)
                    continue
                except Exception:
                    log.exception("claiming deliveries failed; retrying")
                    await asyncio.sleep(1.0)
                    continue
                self._take(claimed)
            now = time.monotonic()
            if now - last_heartbeat >= heartbeat_every:
                last_heartbeat = now
                await self._heartbeat()
            if now - last_purge >= PURGE_EVERY_SECONDS:
                last_purge = now
                await self._purge()
            if claimed and len(claimed) == min(room, CLAIM_BATCH):
                continue  # there may be more due right now
            await self.doorbell.wait(self.settings.delivery_poll_seconds)

    async def _lane(self) -> None:
        while True:
            message = await self._queue.get()
            self._busy += 1
            try:
                await self._deliver(message)
            except Exception:
                log.exception("delivery of message %s failed unexpectedly; its lease will expire", message.id)
            finally:
                self._busy -= 1
            if self._room == self._claim_threshold:
                self.doorbell.ring()  # enough lanes are free for the next batch

    async def _heartbeat(self) -> None:
        try:
            await self.db.run(queue.heartbeat, self.worker_id, list(self._held), self.settings.delivery_lease_seconds)
        except Exception:
            log.exception("lease heartbeat failed")

    async def _purge(self) -> None:
        try:
            removed = await self.db.run(
                queue.purge, self.settings.dead_letter_retention_days, self.settings.delivered_retention_days
            )
            if removed:
                log.info("purged %d finished webhook messages past retention", removed)
        except Exception:
            log.exception("retention purge failed")

    async def _listen(self) -> None:
        def ring(_payload: str) -> None:
            self.doorbell.ring()

        # On every (re)connection, ring once: anything enqueued while not listening is claimed now.
        await listener.listen(self.db.url, {wakeup.CHANNEL: ring}, self.doorbell.ring)

    # -- one delivery ----------------------------------------------------------------------------

    async def _deliver(self, message: Claimed) -> None:
        started_at = clock.now()
        webhook = await self.configs.webhook(message.webhook_id)
        if webhook is None:
            self.forget(message.id)  # deleted with its webhook
            return
        if webhook.connector_id is not None:
            self.connectors.submit(webhook, message)  # its vendor batches and authenticates
            return
        event = {**message.event, "event_id": str(message.id)}
        body = payload.render(event, webhook.payload_fields, webhook.payload_template)
        # Every request names its message, stable across retries and replays: receivers dedupe on it.
        headers = {**webhook.headers, "webhook-id": str(message.id)}
        try:
            material = await self.configs.key(webhook.client_key_id) if webhook.client_key_id else None
            result = await self._send(webhook, material, message, headers, body)
        except (TokenError, ValueError) as exc:
            result = Result(status=None, error=str(exc)[:500])
        except Exception as exc:  # a bug must not lose the message: record it and retry
            log.exception("delivery %s failed unexpectedly", message.id)
            result = Result(status=None, error=f"internal error: {type(exc).__name__}")
        outcome, retry_in = self.decide(webhook, message, result)
        self.finish(message, webhook, headers, body, result, outcome, retry_in, started_at)

    def forget(self, message_id: int) -> None:
        """Stop holding a claim whose message no longer exists."""
        self._held.discard(message_id)

    def finish(
        self,
        message: Claimed,
        webhook: Webhook,
        headers: dict[str, str],
        body: bytes,
        result: Result,
        outcome: str,
        retry_in: float | None,
        started_at: datetime,
        error: str | None = None,
    ) -> None:
        """Queue the record of one attempt (its request, the answer, where the message goes next)."""
        observe_attempt(outcome, result.duration_ms / 1000)
        self._record(
            Attempt(
                message_id=message.id,
                webhook_id=webhook.id,
                worker_id=self.worker_id,
                number=message.attempt_count + 1,
                trigger=message.trigger,
                url=webhook.url,
                method=webhook.method,
                request_headers=redact(headers),
                request_body=body.decode(errors="replace"),
                status_code=result.status,
                response_headers=result.headers,
                response_body=result.body.decode(errors="replace"),
                truncated=result.truncated,
                error=error or result.error,
                duration_ms=result.duration_ms,
                started_at=started_at,
                outcome=outcome,
                retry_in=retry_in,
            )
        )
        log.debug("message %s to webhook %s: %s (%s)", message.id, webhook.id, outcome, result.status)

    def _record(self, attempt: Attempt) -> None:
        """Queue the attempt for the next batched write; the lane moves on at once.

        The claim's lease keeps the message from being claimed again until the write is done.
        """
        self._to_record.append(attempt)
        if self._writer is None:
            self._writer = asyncio.get_running_loop().create_task(self._write_records())

    async def _write_records(self) -> None:
        """Write queued attempts in batches until none is left."""
        try:
            while self._to_record:
                # A short pause gathers the attempts finishing meanwhile into one transaction.
                await asyncio.sleep(RECORD_BATCH_SECONDS)
                batch, self._to_record = self._to_record, []
                await self._write_batch(batch)
                self._held.difference_update(a.message_id for a in batch)
        finally:
            self._writer = None

    async def _write_batch(self, attempts: list[Attempt]) -> None:
        for pause in RECORD_RETRY_PAUSES:
            try:
                await self.db.run(queue.record, attempts)
                return
            except DBAPIError as exc:
                log.warning("recording %d attempts failed (%s); retrying", len(attempts), exc.orig)
            except Exception:
                log.exception("recording %d attempts failed", len(attempts))
                return
            await asyncio.sleep(pause)
        log.error("gave up recording %d attempts; they will be sent again", len(attempts))

    async def _send(
        self, webhook: Webhook, material: Material | None, message: Claimed, headers: dict[str, str], body: bytes
    ) -> Result:
        if webhook.client_key_id and material is None:
            return Result(status=None, error="security key not found")
        oauth = material is not None and material.algorithm == "OAUTH2_CLIENT_CREDENTIALS"
        for refresh in (False, True):
            if material is not None:
                if oauth:
                    cache_key = (material.key_id, material.version)
                    if refresh:
                        self.tokens.invalidate(cache_key)
                    headers["Authorization"] = "Bearer " + await self.tokens.token(cache_key, material)
                else:
                    signed = Signed(str(message.id), int(time.time()), body)
                    headers.update(ALGORITHMS[material.algorithm].headers(material, signed))
            result = await self.sender.send(webhook.method, webhook.url, headers, body)
            if not (oauth and result.status == 401) or refresh:
                return result
        raise AssertionError("unreachable")

    def decide(self, webhook: Webhook, message: Claimed, result: Result) -> tuple[str, float | None]:
        """(outcome, seconds until the next attempt): delivered, retrying on the schedule, or dead letter."""
        if result.ok:
            return "delivered", None
        if message.trigger == "manual":
            return "dead_letter", None  # a failed manual send is not rescheduled
        retry_after = parse_retry_after(
            result.headers.get("Retry-After") or result.headers.get("retry-after"), clock.now()
        )
        delay = next_delay(
            webhook.retry_seconds,
            message.attempt_count + 1,
            status=result.status,
            retry_after=retry_after,
            timed_out=result.timed_out,
            overload_floor=self.settings.delivery_overload_floor_seconds,
        )
        return ("dead_letter", None) if delay is None else ("retrying", delay)


def _has_due(conn: Any) -> bool:
    query = select(webhook_messages.c.id).where(DUE_PREDICATE).limit(1)
    return conn.execute(query).first() is not None
