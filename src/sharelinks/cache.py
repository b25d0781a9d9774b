"""A small time-bounded cache for configuration read on hot paths (programs, extensions, webhooks).

Entries are keyed per database, so two databases in one process (tests, tools) never see each
other's rows. A change made through this process clears the cache at once; other processes see it
within `ttl` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from sqlalchemy import Connection, Engine

V = TypeVar("V")


class TtlCache(Generic[V]):
    def __init__(self, ttl: float = 2.0, max_entries: int = 1000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._entries: dict[tuple[Engine, Hashable], tuple[V, float]] = {}

    def get(self, conn: Connection, key: Hashable, load: Callable[[Connection], V]) -> V:
        now = time.monotonic()
        full_key = (conn.engine, key)
        entry = self._entries.get(full_key)
        if entry is not None and now - entry[1] <= self.ttl:
            return entry[0]
        value = load(conn)
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[full_key] = (value, now)
        return value

    def clear(self) -> None:
        self._entries.clear()
