"""The live campaign bench's pure parts: yesterday's session it seeds, the simulator's
view of it, and the abandon rate's interval."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from bench.campaign_live.scenario import prior_day
from bench.stats import wilson_interval
from dialer.schedule import Outcome
from dialer.sim.metrics import DAY
from tests.support.campaign_history import previous_session

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)


def test_yesterdays_session_has_the_live_answers_and_abandons_asked_for() -> None:
    session = previous_session(NOW, live=1200, abandon_rate=0.02, seats=("2001", "2002"))
    outcomes = Counter(d.outcome for d in session.dials)
    assert session.live == 1200 and session.abandoned == 24
    # The bench's customer mix: 40% live, 10% busy, 10% failed, 40% ring out.
    assert len(session.dials) == 3000
    assert outcomes[Outcome.BUSY] == outcomes[Outcome.FAILED] == 300
    assert outcomes[Outcome.NO_ANSWER] == 1200
    assert len({d.phone for d in session.dials}) == 3000
    assert all(d.phone.startswith("+86137") and len(d.phone) == 14 for d in session.dials)
    assert {d.seat_id for d in session.dials if d.outcome is Outcome.ANSWERED} == {
        "2001", "2002"}
    assert all(d.seat_id is None for d in session.dials if d.outcome is not Outcome.ANSWERED)


def test_yesterdays_session_stays_in_the_24h_window_past_the_look_ahead() -> None:
    session = previous_session(NOW)
    assert session.first == NOW - timedelta(hours=22)
    assert session.last < NOW - timedelta(hours=14)
    assert all(d.ended_at > d.started_at for d in session.dials)
    # The same session every time (the bench compares runs).
    assert previous_session(NOW) == session
    with pytest.raises(ValueError):
        previous_session(NOW, began_ago=timedelta(hours=1), ended_ago=timedelta(hours=2))


def test_the_simulator_sees_the_session_over_the_same_hours_of_its_yesterday() -> None:
    prior = prior_day({"live": 1200, "abandoned": 24, "began_ago_seconds": 22 * 3600.0,
                       "ended_ago_seconds": 14 * 3600.0})
    assert len(prior.live) == 1200 and len(prior.abandoned) == 24
    assert prior.live[0] == DAY - 22 * 3600.0
    assert prior.live[-1] < DAY - 14 * 3600.0


def test_wilson_interval() -> None:
    low, high = wilson_interval(12, 400)
    assert low < 12 / 400 < high
    assert low == pytest.approx(0.0173, abs=5e-4) and high == pytest.approx(0.0518, abs=5e-4)
    assert wilson_interval(0, 100)[0] == 0.0 and wilson_interval(0, 100)[1] > 0.0
    assert wilson_interval(100, 100)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError):
        wilson_interval(1, 0)
