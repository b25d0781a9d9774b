"""The one clock. Everything that needs "now" asks here, so tests can move time instead of sleeping."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime

_now: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731

# Now in seconds since the epoch: the cheap form, for stamps taken per request (clicks). Bound to
# time.time itself rather than wrapped, so a redirect's stamp costs no Python call; call it as
# `clock.timestamp()` (the module attribute), which `set_clock` rebinds.
timestamp: Callable[[], float] = time.time


def now() -> datetime:
    return _now()


def set_clock(fn: Callable[[], datetime] | None) -> None:
    """Replace the clock (tests); `None` restores the wall clock."""
    global _now, timestamp
    if fn is None:
        _now, timestamp = (lambda: datetime.now(UTC)), time.time
    else:
        _now, timestamp = fn, (lambda: fn().timestamp())
