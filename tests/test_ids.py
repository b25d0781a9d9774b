"""IDs: 19 digits, unpredictable, evenly spread."""

from __future__ import annotations

from sharelinks.ids import new_id, parse_id


def test_ids_are_19_digit_and_distinct() -> None:
    ids = [new_id() for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(str(i)) == 19 and 0 < i < 2**63 for i in ids)


def test_ids_spread_over_the_whole_range() -> None:
    # Ten equal buckets over the ID span: each should hold ~10% of 20,000 draws (binomial sd ~ 42).
    low, high = 10**18, 2**63 - 1
    buckets = [0] * 10
    for _ in range(20_000):
        buckets[(new_id() - low) * 10 // (high - low)] += 1
    assert all(1750 < b < 2250 for b in buckets), buckets


def test_parse_id() -> None:
    assert parse_id("7059776202829706264") == 7059776202829706264
    for bad in ("", "abc", "-1", "0", "99999999999999999999", "9223372036854775808"):
        assert parse_id(bad) is None
