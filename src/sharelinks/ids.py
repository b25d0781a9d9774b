"""The one ID generator.

IDs are 63-bit integers shown as 19-digit strings, like Extole's. Two kinds, same format:

- Inside a transaction of a database this process has a node number from (`ordered_under`), an ID
  is the millisecond it was made, then that node, then 10 bits drawn from the OS CSPRNG, none drawn
  twice in one millisecond. New rows' keys thus land beside each other in every index on them. With
  random keys each new row dirtied its own page of each such index (a person, a link, an event and a
  webhook message touched ten), and SQLite's commit wrote every such page to the WAL: ingesting events
  with a link and a webhook, the batch thread spent 226 µs an event against 118 with ordered keys,
  and `serve` took 15 % more events/s (fourteen interleaved pairs of runs, README). Unique across processes
  because each claims its own node from the database it writes to (`db.nodes`). They show when
  a row was made, as its created_at column does; not how many were made (no counter), and they cannot
  be guessed from one another (2^10 draws a node a millisecond).
- Anywhere else (request ids, a database not yet migrated): 63 random bits from the OS CSPRNG.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_LOW = 10**18  # keep every ID 19 digits long
_SPAN = (2**63 - 1) - _LOW
# The largest multiple of _SPAN below 2**64: draws at or above it are rejected, so every ID in the
# span is equally likely (no modulo bias).
_LIMIT = (2**64 // _SPAN) * _SPAN


class _RandomPool:
    """os.urandom read 4 KiB at a time: one syscall per 512 IDs instead of one per ID (it was 6% of
    event-ingest CPU). The bytes are the kernel CSPRNG's; only the read is batched."""

    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._buffer = b""
        self._offset = 0
        self._lock = threading.Lock()

    def draw(self, count: int) -> bytes:
        """`count` bytes (at most the pool's size), each handed out once."""
        with self._lock:
            if self._offset + count > len(self._buffer):
                self._buffer = os.urandom(self._size)
                self._offset = 0
            chunk = self._buffer[self._offset : self._offset + count]
            self._offset += count
        return chunk

    def draw64(self) -> int:
        return int.from_bytes(self.draw(8), "big")


_pool = _RandomPool()


def random_bytes(count: int) -> bytes:
    """CSPRNG bytes from the shared pool: cheap when called often for a few bytes."""
    return _pool.draw(count)


NODE_BITS = 12
DRAW_BITS = 10
_DRAWS_PER_MS = 512  # then on to the next millisecond: a draw stays one or two tries
_EPOCH_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
# Past this many milliseconds after the epoch (in 2088) an ordered ID would leave 19 digits.
_LAST_MS = (2**63 - 1 - _LOW) >> (NODE_BITS + DRAW_BITS)
_node: ContextVar[int | None] = ContextVar("sharelinks_id_node", default=None)


class _Ordered:
    """Millisecond, node, draw: IDs in the order they were made, never one twice in this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ms = 0
        self._drawn: set[int] = set()

    def next(self, node: int) -> int | None:
        with self._lock:
            ms = time.time_ns() // 1_000_000 - _EPOCH_MS
            if ms > self._ms:
                self._ms, self._drawn = ms, set()
            elif len(self._drawn) >= _DRAWS_PER_MS:
                # A busy millisecond, or the clock stepped back: the next one, so nothing repeats.
                self._ms, self._drawn = self._ms + 1, set()
            if self._ms > _LAST_MS:
                return None
            while True:
                draw = int.from_bytes(_pool.draw(2), "big") & ((1 << DRAW_BITS) - 1)
                if draw not in self._drawn:
                    break
            self._drawn.add(draw)
            return _LOW + (((self._ms << NODE_BITS) | node) << DRAW_BITS | draw)


_ordered = _Ordered()


@contextmanager
def ordered_under(node: int | None) -> Iterator[None]:
    """IDs made in the block are ordered ones of `node` (random ones if None)."""
    token = _node.set(node)
    try:
        yield
    finally:
        _node.reset(token)


def new_id() -> int:
    node = _node.get()
    if node is not None:
        ordered = _ordered.next(node)
        if ordered is not None:
            return ordered
    while True:
        draw = _pool.draw64()
        if draw < _LIMIT:
            return _LOW + draw % _SPAN


def parse_id(raw: str) -> int | None:
    """An ID from a URL or body, or None when it cannot be one of ours."""
    if not raw.isdigit() or len(raw) > 19:
        return None
    value = int(raw)
    return value if 0 < value < 2**63 else None
