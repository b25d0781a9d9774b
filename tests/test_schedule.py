"""The retry schedule: a floor that jitter only adds to, Retry-After clamped, the overload floor."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from sharelinks.delivery.schedule import MAX_JITTER_SECONDS, next_delay, parse_retry_after
from sharelinks.http.dates import parse_duration

DEFAULT = [1.0, 3600.0, 10800.0, 43200.0, 43200.0]


def delay(attempts: int, **kwargs: object) -> float | None:
    options: dict = {"status": 500, "retry_after": None, "timed_out": False, "overload_floor": 60.0, **kwargs}
    return next_delay(DEFAULT, attempts, **options)


@given(st.integers(1, 5), st.integers(0, 2**32))
def test_jitter_only_adds_at_most_ten_percent(attempts: int, seed: int) -> None:
    base = DEFAULT[attempts - 1]
    got = delay(attempts, rng=random.Random(seed))
    assert got is not None
    assert base <= got <= base + min(0.1 * base, MAX_JITTER_SECONDS)


def test_the_schedule_is_spent_after_five_retries() -> None:
    assert delay(6) is None
    assert next_delay([], 1, status=500, retry_after=None, timed_out=False, overload_floor=60) is None


def test_retry_after_is_clamped_between_base_and_twice_base() -> None:
    rng = random.Random(1)
    assert 3600 <= delay(2, status=429, retry_after=10.0, rng=rng) <= 3600 * 1.1  # raised to the base
    assert 7200 <= delay(2, status=503, retry_after=99999.0, rng=rng) <= 7200 * 1.1  # capped at 2 x base
    assert 5000 <= delay(2, status=503, retry_after=5000.0, rng=rng) <= 5500
    assert 3600 <= delay(2, status=500, retry_after=99999.0, rng=rng) <= 3960  # only on 429/503


def test_429_and_timeouts_wait_at_least_the_overload_floor() -> None:
    assert 60 <= delay(1, status=429) <= 66
    assert 60 <= delay(1, status=None, timed_out=True) <= 66
    assert delay(1, status=500) <= 1.1


def test_retry_after_forms() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 12:02:00 GMT", now) == 120
    assert parse_retry_after("Fri, 27 Nov 2026 11:00:00 GMT", now) == 0
    assert parse_retry_after("soon", now) is None and parse_retry_after(None, now) is None


def test_iso_durations() -> None:
    assert parse_duration("PT1S") == timedelta(seconds=1)
    assert parse_duration("pt12h") == timedelta(hours=12)
    assert parse_duration("P7D") == timedelta(days=7)
    assert parse_duration("PT0.05S") == timedelta(milliseconds=50)
    assert parse_duration("P1DT2H30M") == timedelta(days=1, hours=2, minutes=30)
    for bad in ("P", "PT", "1S", "P1DT", "PT-1S", "1 hour"):
        assert parse_duration(bad) is None, bad
