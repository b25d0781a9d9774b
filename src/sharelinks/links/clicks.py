"""Click recording: the redirect appends a tuple and returns; a background task writes batches.

Everything costly happens at flush time, off the redirect: bot detection, IP hashing, the one-hour
repeat window, counters and the daily rollup. A flush runs every `interval` seconds or at 2,000
buffered clicks, and once more at shutdown; what a `kill -9` can lose is the last interval.
The buffer is bounded: when full, clicks are dropped and counted rather than slow the redirect.
A flush prepares slices of 250 clicks on the loop, giving it back between them, and writes up to
5,000 in one transaction (their rows, counters and rollup together) beside the event loop
(`Database.run_aside`), so redirects keep flowing while thousands of clicks are stored; the fewer
transactions, the fewer times the writing thread must win the GIL back from a busy loop. The click
rows go into the log as blocks of up to 500 (links.models.click_blocks): one JSON row per block. A
redirect stamps its click with a float, not a datetime: the rows carry microseconds since the epoch
and days since the epoch until they are written. With a retention set, blocks older than it are
deleted at start and every ten minutes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple

import prometheus_client
from sqlalchemy import Connection, delete, insert, select

from sharelinks import clock
from sharelinks.db.database import Database
from sharelinks.db.rows import execute_values
from sharelinks.links.bots import is_bot
from sharelinks.links.models import CLICKS_PER_BLOCK, click_blocks
from sharelinks.observability.metrics import REGISTRY

log = logging.getLogger("sharelinks.links")
FLUSH_AT = 2000
SLICE = 250
WRITE_MAX = 5000
BUFFER_MAX = 100_000
REPEAT_WINDOW_SECONDS = 3600.0
UA_MAX = 512
REFERER_MAX = 1024
# The click log's retention purge (when one is set): how often, and blocks (500 clicks each) per statement.
PURGE_EVERY_SECONDS = 600.0
PURGE_BATCH = 200

CLICKS = prometheus_client.Counter("sharelinks_clicks_total", "Share link clicks seen", ["kind"], registry=REGISTRY)
DROPPED = CLICKS.labels("dropped")


class Clicked(NamedTuple):
    """What a click was on: a link, or a well-formed code nobody has (then `shareable_id` is None).
    Built once per cached link, so a redirect hands over a reference, not four fields."""

    shareable_id: int | None
    code: str
    program_id: int | None
    person_id: int | None


# (seconds since the epoch, what was clicked, ip, user_agent, referer, via_qr)
RawClick = tuple[float, Clicked, str, str | None, str | None, bool]
EPOCH_DAY = date(1970, 1, 1).toordinal()


@dataclass
class Tally:
    program_id: int
    clicks: int = 0
    unique_visitors: int = 0
    qr_scans: int = 0


class Visitors:
    """Visitor identity without keeping IPs: a keyed hash with a random salt per UTC day, held only
    in memory.

    The salt dies with the day (and the process), so a stored hash cannot be tied to an IP later.
    Keyed BLAKE2b is the MAC (a keyed hash by design, as HMAC makes one of SHA-256): 0.5 µs against
    1.45 for `hmac.digest`, on the event loop for every new visitor. The one-hour repeat window is
    kept apart, by a key that never leaves the process: keyed by the daily hash it forgot every
    visitor at midnight (23:50 and 00:10 counted twice). That key is the interpreter's own hash of
    the address (SipHash-1-3, keyed by the process's random secret, as every str's hash is):
    a second BLAKE2b was 3,500 of the 67,000 instructions a redirect from a new visitor cost, and
    a memory dump that could undo either holds its key too. 64 bits: any two visitors share a key
    with odds of 1 in 2^64 (then the second's click within the hour counts as a repeat).
    """

    def __init__(self) -> None:
        self._day: int | None = None
        self._salt = b""
        # Read and written inline by the flush's loop (`ClickRecorder._prepare`: two calls a click fewer).
        self.last_counted: dict[tuple[int | str, int], float] = {}  # (link, window key) → when last counted
        self.seen_today: set[tuple[int | str, str]] = set()  # (link, daily hash) counted unique today

    def hash(self, ip: str, today: int) -> str:
        """`today`: days since the epoch (UTC)."""
        if today != self._day:
            self._day, self._salt = today, os.urandom(32)
            self.seen_today.clear()
        return hashlib.blake2b(ip.encode(), key=self._salt, digest_size=16).hexdigest()

    def prune(self, now: float) -> None:
        """Forget the visitors counted over an hour before `now`, once there are a million."""
        if len(self.last_counted) > 1_000_000:
            self.last_counted = {k: t for k, t in self.last_counted.items() if now - t < REPEAT_WINDOW_SECONDS}


# Counters and the daily rollup as one statement per slice each (multi-row VALUES; SQLite names
# their columns column1, column2, … as PostgreSQL does). executemany ran one statement per link,
# and beside a busy event loop every one of them waited for the GIL.
_COUNTERS = (
    "UPDATE shareables SET clicks = shareables.clicks + v.column2, "
    "unique_visitors = shareables.unique_visitors + v.column3, qr_scans = shareables.qr_scans + v.column4 "
    "FROM (VALUES {values}) AS v WHERE shareables.id = v.column1"
)
_DAILY = (
    "INSERT INTO click_daily (shareable_id, day, program_id, clicks, unique_visitors, qr_scans) VALUES {values} "
    "ON CONFLICT (shareable_id, day) DO UPDATE SET clicks = click_daily.clicks + excluded.clicks, "
    "unique_visitors = click_daily.unique_visitors + excluded.unique_visitors, "
    "qr_scans = click_daily.qr_scans + excluded.qr_scans"
)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def write(conn: Connection, rows: list[tuple[Any, ...]], tallies: dict[tuple[int, int], Tally]) -> None:
    """One batch: the click rows (tuples in the order of `click_blocks.clicks`, the time in
    microseconds since the epoch) as blocks, the link counters, the daily rollup (days since the epoch)."""
    blocks = []
    for start in range(0, len(rows), CLICKS_PER_BLOCK):
        block = rows[start : start + CLICKS_PER_BLOCK]
        stamps = [row[0] for row in block]
        blocks.append(
            {
                "first_at": _EPOCH + timedelta(microseconds=min(stamps)),
                "last_at": _EPOCH + timedelta(microseconds=max(stamps)),
                "click_count": len(block),
                "clicks": block,
            }
        )
    if blocks:
        conn.execute(insert(click_blocks), blocks)
    per_link: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
    for (sid, _), tally in tallies.items():
        totals = per_link[sid]
        totals[0] += tally.clicks
        totals[1] += tally.unique_visitors
        totals[2] += tally.qr_scans
    execute_values(conn, _COUNTERS, [(sid, c, u, q) for sid, (c, u, q) in per_link.items()])
    sqlite = conn.dialect.name == "sqlite"
    daily = []
    for (sid, day_number), t in tallies.items():
        day = date.fromordinal(EPOCH_DAY + day_number)
        daily.append((sid, day.isoformat() if sqlite else day, t.program_id, t.clicks, t.unique_visitors, t.qr_scans))
    execute_values(conn, _DAILY, daily)


def purge(conn: Connection, before: datetime) -> int:
    """Delete up to PURGE_BATCH blocks whose clicks all happened before `before`; how many."""
    # first_at too, so the index on it finds them: a block's clicks are all after its first_at.
    old = (
        select(click_blocks.c.id)
        .where(click_blocks.c.first_at < before, click_blocks.c.last_at < before)
        .limit(PURGE_BATCH)
    )
    ids = list(conn.execute(old).scalars())
    if ids:
        conn.execute(delete(click_blocks).where(click_blocks.c.id.in_(ids)))
    return len(ids)


class ClickRecorder:
    def __init__(self, db: Database, interval: float = 1.0, *, retention_days: float = 0.0) -> None:
        self.db = db
        self.interval = interval
        self.retention_days = retention_days  # 0: the click log is kept for good
        self._purged_at = -PURGE_EVERY_SECONDS
        self.visitors = Visitors()
        self._buffer: list[RawClick] = []
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._stopping = False

    def add(self, click: RawClick) -> None:
        """The only call on the redirect path: an append."""
        buffer = self._buffer
        if len(buffer) >= FLUSH_AT:
            if len(buffer) >= BUFFER_MAX:
                DROPPED.inc()
                return
            if len(buffer) == FLUSH_AT:
                self._wake.set()
        buffer.append(click)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="click-recorder")

    async def stop(self) -> None:
        """Let the flush under way finish (cancelling it would drop the clicks it holds), then write the rest."""
        if self._task is not None:
            self._stopping = True
            self._wake.set()
            await self._task
            self._task = None
        await self.flush()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing clicks failed; they are kept for the next flush")
            if self.retention_days > 0 and time.monotonic() - self._purged_at >= PURGE_EVERY_SECONDS:
                self._purged_at = time.monotonic()
                try:
                    await self.purge_expired()
                except Exception:
                    log.exception("purging old clicks failed; trying again later")

    async def purge_expired(self) -> int:
        """Delete the click log's blocks older than the retention, a batch at a time; how many."""
        before = clock.now() - timedelta(days=self.retention_days)
        removed = 0
        while True:
            count = await self.db.run_aside(purge, before)
            removed += count
            if count < PURGE_BATCH:
                break
        if removed:
            log.info("purged %d click blocks older than %s days", removed, self.retention_days)
        return removed

    async def flush(self) -> int:
        """Write what is buffered: prepared a slice at a time on the loop (giving it back between
        slices), written beside it up to WRITE_MAX clicks per transaction."""
        async with self._flushing:
            batch, self._buffer = self._buffer, []
            for start in range(0, len(batch), WRITE_MAX):
                prepared = Prepared()
                for offset in range(start, min(start + WRITE_MAX, len(batch)), SLICE):
                    self._prepare(batch[offset : offset + SLICE], prepared)
                    await asyncio.sleep(0)  # redirects go on between slices
                try:
                    await self.db.run_aside(write, prepared.rows, prepared.tallies)
                except Exception:
                    # Back to the front of the buffer: nothing is lost to a short database outage.
                    self._buffer[:0] = batch[start : start + BUFFER_MAX - len(self._buffer)]
                    raise
                for kind, count in prepared.kinds.items():
                    CLICKS.labels(kind).inc(count)
            return len(batch)

    def _prepare(self, batch: list[RawClick], into: Prepared) -> None:
        rows, tallies, known = into.rows, into.tallies, into.visitors
        visitors = self.visitors
        if batch:
            visitors.prune(batch[0][0])
        last_counted, seen_today = visitors.last_counted, visitors.seen_today
        bots = repeats = 0
        for at, clicked, ip, user_agent, referer, via_qr in batch:
            day = int(at // 86400)
            seen_ip = known.get(ip)
            if seen_ip is None or seen_ip[0] != day:
                seen_ip = known[ip] = (day, visitors.hash(ip, day), hash(ip))  # the window key: see Visitors
            _, ip_hash, visitor = seen_ip
            sid, code, program_id, person_id = clicked
            if is_bot(user_agent):
                bot, counted = True, False
                bots += 1
            else:
                bot = False
                # Counted unless this visitor was counted on this link within the hour.
                seen = (sid if sid is not None else code.lower(), visitor)
                last = last_counted.get(seen)
                counted = last is None or at - last >= REPEAT_WINDOW_SECONDS
                if counted:
                    last_counted[seen] = at
                else:
                    repeats += 1
            rows.append(
                (int(at * 1_000_000), sid, code, program_id, person_id, ip_hash,
                 user_agent[:UA_MAX] if user_agent else None, referer[:REFERER_MAX] if referer else None,
                 bot, via_qr, counted)
            )  # fmt: skip
            if sid is None or program_id is None or not counted:
                continue
            tally = tallies.get((sid, day))
            if tally is None:
                tally = tallies[(sid, day)] = Tally(program_id)
            tally.clicks += 1
            tally.qr_scans += via_qr
            if (sid, ip_hash) not in seen_today:
                seen_today.add((sid, ip_hash))
                tally.unique_visitors += 1
        into.kinds.update(bot=bots, repeat=repeats, counted=len(batch) - bots - repeats)


@dataclass
class Prepared:
    """A flush's rows and tallies as its slices build them. IP hashes and window keys are remembered
    for this flush only, by address (one lookup a click): within a batch one visitor's repeat clicks
    cost one hash of each (both made for a new address, a bot's too), and no IP outlives the flush."""

    rows: list[tuple[Any, ...]] = field(default_factory=list)
    tallies: dict[tuple[int, int], Tally] = field(default_factory=dict)  # (link, day number)
    kinds: Counter[str] = field(default_factory=Counter)
    visitors: dict[str, tuple[int, str, int]] = field(default_factory=dict)  # ip → (day, its hash, its window key)
