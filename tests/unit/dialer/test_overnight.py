"""The overnight check: trust the answer rate across a pause only once it has held."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing.overnight import OvernightCheck


def judged(rate_before: float, fresh_live: int, fresh_dials: int = 100) -> OvernightCheck:
    """A check that has seen one pause: `fresh_live` of the next `fresh_dials` dials live."""
    check = OvernightCheck(dials=100, z=2.5)
    assert check.resume(rate_before, dials=5000, live=round(5000 * rate_before)) is False
    start_live = round(5000 * rate_before)
    for n in range(1, fresh_dials + 1):
        check.follow(5000 + n, start_live + round(fresh_live * n / fresh_dials))
    return check


def test_the_first_pause_is_never_trusted() -> None:
    assert OvernightCheck(dials=300, z=2.5).resume(0.3, 0, 0) is False


def test_a_rate_that_held_across_the_last_pause_is_trusted_at_the_next() -> None:
    check = judged(0.30, fresh_live=33)  # 33% against 30%: 0.65 standard errors
    assert check.held is True
    assert check.resume(0.30, dials=9000, live=2700) is True


def test_a_rate_that_jumped_overnight_is_relearned_every_time() -> None:
    # Drift (dialer.md): 15% at the evening's end, 35% the next morning.
    check = judged(0.15, fresh_live=35)
    assert check.held is False
    assert check.resume(0.15, dials=9000, live=1350) is False


def test_a_fall_counts_as_a_move_too() -> None:
    assert judged(0.30, fresh_live=12).held is False


def test_trust_ends_as_soon_as_fresh_dials_answer_more_than_the_old_rate_allows() -> None:
    check = judged(0.30, fresh_live=30)
    assert check.resume(0.30, dials=9000, live=2700)
    # Every fresh dial answered live: trust ends within a handful of them, once.
    ends = [check.follow(9000 + n, 2700 + n) for n in range(1, 101)]
    assert ends.index(True) < 6
    assert ends.count(True) == 1
    assert not check.trusting
    assert check.held is False


def test_the_verdict_settles_after_the_fresh_dials_and_only_then() -> None:
    check = judged(0.30, fresh_live=30, fresh_dials=99)
    assert check.held is None
    check.follow(5100, 1500 + 30)
    assert check.held is True


@settings(max_examples=200, deadline=None)
@given(
    st.floats(0.01, 0.99),
    st.lists(st.booleans(), min_size=1, max_size=150),
    st.booleans(),
)
def test_trust_only_ever_ends_and_never_without_a_pause_trusted(
    rate: float, answers: list[bool], held: bool
) -> None:
    check = OvernightCheck(dials=100, z=2.5)
    check.held = held
    trusted = check.resume(rate, 0, 0)
    assert trusted is held
    live = 0
    for n, answered in enumerate(answers, start=1):
        live += answered
        was = check.trusting
        ended = check.follow(n, live)
        assert not (ended and not was)  # only trust can end
        assert check.trusting == (was and not ended)
        if n >= 100:
            assert check.held is not None
