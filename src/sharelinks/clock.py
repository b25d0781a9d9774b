"""The one clock. Everything that needs "now" asks here, so tests can move time instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731
_timestamp: Callable[[], float] = time.time


def now() -> datetime:
    return _now()


def timestamp() -> float:
    """Now in seconds since the epoch: the cheap form, for stamps taken per request (clicks)."""
    return _timestamp()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the wall clock."""
    global _now, _timestamp
    if fn is None:
        _now, _timestamp = (lambda: datetime.now(UTC)), time.time
    else:
        _now, _timestamp = fn, (lambda: fn().timestamp())
