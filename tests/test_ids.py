"""IDs: 19 digits; random ones unpredictable and evenly spread, ordered ones in time order and unique."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sharelinks import ids
from sharelinks.ids import new_id, ordered_under, parse_id
from tests.helpers import ordered_id_parts


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


# -- ordered IDs ----------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_generator(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from a generator that has made nothing yet (the process's own carries the
    millisecond and draws of whatever ran before)."""
    monkeypatch.setattr(ids, "_ordered", ids._Ordered())


def test_ordered_ids_carry_the_time_and_node_and_never_repeat() -> None:
    before = time.time_ns() // 1_000_000 - 1_767_225_600_000
    with ordered_under(77):
        made = [new_id() for _ in range(20_000)]
    after = time.time_ns() // 1_000_000 - 1_767_225_600_000
    assert len(set(made)) == len(made)
    assert all(len(str(i)) == 19 and 0 < i < 2**63 for i in made)
    parts = [ordered_id_parts(i) for i in made]
    assert {node for _, node in parts} == {77}
    stamps = [ms for ms, _ in parts]
    assert stamps == sorted(stamps)  # in the order made, millisecond by millisecond
    assert before <= stamps[0] and stamps[-1] <= after + 20_000 // 512  # busy milliseconds may run ahead


def test_outside_ordered_under_ids_are_random_again() -> None:
    with ordered_under(5):
        ordered = new_id()
    now_ms = ordered_id_parts(ordered)[0]
    outside = [new_id() for _ in range(200)]
    # None is an ordered ID of this second (a random one lands there about once in 10^9 draws)...
    assert not any(abs(ordered_id_parts(i)[0] - now_ms) < 1000 for i in outside)
    # ...and they spread over the whole range: about half in its upper half (binomial sd ~7).
    assert 60 < sum(i > 10**18 + (2**63 - 10**18) // 2 for i in outside) < 140


def test_a_busy_or_stepped_back_clock_moves_on_instead_of_repeating(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1_767_225_600_000_000_000 + 10**12]  # in the past: the real clock, later, moves on from here
    monkeypatch.setattr(ids.time, "time_ns", lambda: now[0])
    with ordered_under(1):
        first = [new_id() for _ in range(2_000)]  # one frozen millisecond: 512 draws each, then the next
        now[0] -= 5_000_000_000  # the clock steps back five seconds
        later = [new_id() for _ in range(2_000)]
    made = first + later
    assert len(set(made)) == len(made)
    stamps = [ordered_id_parts(i)[0] for i in made]
    assert stamps == sorted(stamps)
    assert stamps[-1] - stamps[0] == len(made) // 512 - (len(made) % 512 == 0)


def test_threads_sharing_a_node_never_draw_the_same_id() -> None:
    def make(_: int) -> list[int]:
        with ordered_under(9):
            return [new_id() for _ in range(10_000)]

    with ThreadPoolExecutor(4) as pool:
        made = [i for batch in pool.map(make, range(4)) for i in batch]
    assert len(set(made)) == len(made)
