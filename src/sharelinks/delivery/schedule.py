"""When to try again: the webhook's schedule, Retry-After, the overload floor, add-only jitter.

    base  = schedule[n]
    delay = clamp(retry_after, base, 2 * base)   when the answer was 429/503 with Retry-After
    delay = max(delay, floor)                     when the answer was 429 or the request timed out
    delay += uniform(0, min(10% of delay, 15 min))

The jitter only adds, so each published interval stays a minimum (webhook-delivery.md §4).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

MAX_JITTER_SECONDS = 900.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After header: delay-seconds or an HTTP-date (RFC 9110). None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def next_delay(
    schedule: list[float],
    failed_attempts: int,
    *,
    status: int | None,
    retry_after: float | None,
    timed_out: bool,
    overload_floor: float,
    rng: random.Random | None = None,
) -> float | None:
    """Seconds until the next attempt after `failed_attempts` failures; None when the schedule is spent."""
    if failed_attempts > len(schedule):
        return None
    base = schedule[failed_attempts - 1]
    delay = base
    if retry_after is not None and status in (429, 503):
        delay = min(max(retry_after, base), 2 * base)
    if status == 429 or timed_out:
        delay = max(delay, overload_floor)
    jitter = min(0.10 * delay, MAX_JITTER_SECONDS)
    return delay + (rng or random).uniform(0, jitter)
