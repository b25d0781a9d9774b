"""The one ID generator.

IDs are random 64-bit integers shown as 19-digit strings, like Extole's. They come from the OS CSPRNG,
so they reveal neither volume nor order and cannot be enumerated.
"""

from __future__ import annotations

import os
import threading

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


def new_id() -> int:
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
