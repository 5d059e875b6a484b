"""The load benchmark's pure judgements: the mirror bracketed between two Asterisk reads,
lasting divergences, a step's problems; and the percentile the benchmarks report."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.inbound_load.verdict import StepResult, bracket, confirmed, problems
from bench.stats import percentile

ids = st.frozensets(st.sampled_from([f"c{i}" for i in range(12)]))


def test_a_call_asterisk_had_before_and_after_but_the_mirror_lacks_is_missing() -> None:
    d = bracket({"a", "b"}, {"a"}, {"a", "b"})
    assert d.missing == {"b"} and not d.ghosts and not d.matched


def test_a_call_only_the_mirror_has_is_a_ghost() -> None:
    d = bracket({"a"}, {"a", "z"}, {"a"})
    assert d.ghosts == {"z"} and not d.missing


def test_calls_starting_or_ending_inside_the_bracket_are_not_divergences() -> None:
    # "new" began after the first read, "gone" ended before the second: either way is fine
    assert bracket({"gone", "a"}, {"a", "new"}, {"a", "new"}).matched
    assert bracket({"gone", "a"}, {"a", "gone"}, {"a", "new"}).matched


@given(ids)
def test_a_mirror_equal_to_a_still_asterisk_always_matches(calls: frozenset[str]) -> None:
    assert bracket(calls, calls, calls).matched


@given(ids, ids, ids)
def test_any_mirror_between_the_two_reads_matches(before: frozenset[str],
                                                  after: frozenset[str],
                                                  extra: frozenset[str]) -> None:
    # the mirror holds what lasted, plus any of what came or went within the bracket
    mirror = (before & after) | (extra & (before | after))
    assert bracket(before, mirror, after).matched


def test_only_a_divergence_seen_twice_in_a_row_counts() -> None:
    first = bracket({"a", "b"}, {"q"}, {"a", "b"})  # a, b missing; q ghost
    second = bracket({"a", "c"}, {"a", "q"}, {"a", "c"})  # c missing; q ghost again
    lasting = confirmed(first, second)
    assert lasting.missing == frozenset() and lasting.ghosts == {"q"}


def held_step() -> StepResult:
    return StepResult(rate=4, placed=120, sipp_ok=120, answered_in_history=120,
                      in_history=120, recordings=120, samples=20, samples_matched=19)


def test_a_step_holds_when_every_call_is_placed_answered_recorded_and_in_history() -> None:
    assert problems(held_step(), expected=120) == []


@pytest.mark.parametrize(("change", "word"), [
    ({"placed": 100, "in_history": 100, "answered_in_history": 100, "recordings": 100},
     "placed"),
    ({"sipp_failed": 3}, "failed"),
    ({"answered_in_history": 110}, "not answered"),
    ({"in_history": 119}, "in history"),
    ({"recordings": 90}, "recordings"),
    ({"confirmed_divergences": 1, "worst_missing": 2}, "diverged"),
    ({"mirror_emptied": False}, "still showed calls"),
    ({"drained": False}, "still had channels"),
    ({"stuck_seats": ["1141:on_call"]}, "1141:on_call"),
])
def test_each_way_a_step_can_give_is_reported(change: dict[str, object], word: str) -> None:
    step = held_step()
    for key, value in change.items():
        setattr(step, key, value)
    found = problems(step, expected=120)
    assert any(word in p for p in found), found


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
