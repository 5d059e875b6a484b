"""The campaign runner's timing: a fixed tick cadence whatever each tick's work takes, and
the connect window app_queue's once-a-second recheck leaves the pacer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.outbound.app_queue import connect_window
from cti.outbound.cadence import next_tick


def test_a_tick_that_took_a_quarter_second_still_leaves_the_next_one_on_time() -> None:
    # Sleeping a full period after the work (the old runner) would tick at 11.25.
    assert next_tick(10.0, 10.25, 1.0) == 11.0


def test_an_overrun_skips_the_missed_deadlines_instead_of_bursting() -> None:
    assert next_tick(10.0, 12.4, 1.0) == 13.0
    assert next_tick(10.0, 11.0, 1.0) == 12.0  # exactly on a deadline: the one after


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError):
        next_tick(0.0, 0.0, 0.0)


@given(st.floats(0, 1e6), st.floats(0, 100), st.floats(0.01, 10))
def test_the_next_tick_is_on_the_grid_and_within_one_period_after_now(
    previous: float, late: float, period: float
) -> None:
    now = previous + late
    tick = next_tick(previous, now, period)
    assert now < tick <= now + period + 1e-6 * max(1.0, now)
    steps = (tick - previous) / period
    assert steps == pytest.approx(round(steps), abs=1e-6)


def test_app_queue_reaches_agents_freed_by_its_last_recheck_before_the_deadline() -> None:
    assert connect_window(2.0) == 1.0  # rechecks at 1 s; at 2 s the timeout wins
    assert connect_window(2.5) == 2.0
    assert connect_window(1.0) == 0.0  # only agents free at the answer
    assert connect_window(3.0, recheck=0.5) == 2.5
    with pytest.raises(ValueError):
        connect_window(0.0)
