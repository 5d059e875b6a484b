"""The pacer's decision tally: rules by reason, calls beyond the free agents."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing import Agents, Decision, Snapshot
from dialer.pacing.rules import uncovered_free_agents
from dialer.pacing.tally import DecisionTally, beyond_free_agents, rule_of


def test_the_rule_is_the_reason_before_its_colon_without_later_caps() -> None:
    assert rule_of("predictive: first-call risk 0.010, threshold 0.040") == "predictive"
    assert rule_of("learning: progressive until enough outcomes are seen") == "learning"
    assert rule_of("small budget: 7.2 abandons allowed in 24 h, progressive") == "small budget"
    assert rule_of("progressive: 2 free, 1 ringing; line cap 3") == "progressive"
    assert rule_of("no agent") == "no agent"
    assert rule_of("no line headroom; line cap 0") == "no line headroom"


def test_calls_beyond_free_agents_are_those_progressive_would_not_place() -> None:
    # 3 free agents, one already covered by a ringing call: progressive places 2.
    snapshot = Snapshot(now=0.0, agents=Agents(free=3, talking=(5.0,)), ringing=(1.0,))
    assert beyond_free_agents(snapshot, 2) == 0
    assert beyond_free_agents(snapshot, 5) == 3
    # More calls out than free agents already: every new call is beyond them.
    crowded = Snapshot(now=0.0, agents=Agents(free=1), ringing=(1.0, 2.0, 3.0))
    assert beyond_free_agents(crowded, 2) == 2


def test_the_tally_sums_ticks_calls_and_rules() -> None:
    tally = DecisionTally()
    snapshot = Snapshot(now=0.0, agents=Agents(free=2, talking=(5.0,) * 8))
    tally.add(snapshot, Decision(2, 15.0, "learning: progressive until enough outcomes"))
    tally.add(snapshot, Decision(5, 15.0, "predictive: first-call risk 0.010"))
    tally.add(snapshot, Decision(5, 15.0, "predictive: first-call risk 0.010"), placed=4)
    assert tally.ticks == 3
    assert tally.placed == 2 + 5 + 4
    assert tally.over_dialed == 3 + 2
    assert tally.over_dial_ticks == 2
    assert tally.rules == {"learning": 1, "predictive": 2}


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 5), st.integers(0, 60))
def test_calls_beyond_free_agents_never_exceed_calls_placed(
    free: int, ringing: int, waiting: int, placed: int
) -> None:
    snapshot = Snapshot(now=0.0, agents=Agents(free=free), ringing=(1.0,) * ringing,
                        waiting=waiting)
    beyond = beyond_free_agents(snapshot, placed)
    assert 0 <= beyond <= placed
    assert beyond == max(0, placed - max(0, uncovered_free_agents(snapshot)))
