"""The compliance gate: every rule named, nothing allowed by omission."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.compliance import (
    CampaignRules,
    FrequencyCap,
    LeadState,
    NumberHistory,
    Reason,
    check,
    check_manual,
)
from dialer.schedule import MIDNIGHT, Cadence, Grade, Window

NOW = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Beijing
RULES = CampaignRules(cadence=Cadence(max_attempts=3))


def lead(**kw: object) -> LeadState:
    base: dict[str, object] = {
        "e164": "+8613800138000",
        "zones": ("Asia/Shanghai",),
        "grade": None,
        "attempts": 0,
        "next_eligible_at": NOW - timedelta(minutes=5),
    }
    base.update(kw)
    return LeadState(**base)  # type: ignore[arg-type]


def test_a_clean_lead_in_its_window_is_allowed() -> None:
    decision = check(lead(), RULES, NumberHistory(), NOW)
    assert decision.allowed and decision.reasons == ()


@pytest.mark.parametrize(
    ("history", "reason"),
    [
        (NumberHistory(in_global_dnc=True), Reason.DNC_GLOBAL),
        (NumberHistory(in_campaign_dnc=True), Reason.DNC_CAMPAIGN),
        (NumberHistory(recent_dials=[NOW - timedelta(hours=23)]), Reason.CAP_DAY),
        (NumberHistory(last_abandoned_at=NOW - timedelta(hours=71)), Reason.ABANDONED_72H),
    ],
)
def test_history_rules(history: NumberHistory, reason: Reason) -> None:
    assert check(lead(), RULES, history, NOW).reasons == (reason,)


def test_day_cap_is_a_rolling_24_hours() -> None:
    old = NumberHistory(recent_dials=[NOW - timedelta(hours=24, seconds=1)])
    assert check(lead(), RULES, old, NOW).allowed


def test_a_callback_the_customer_asked_for_is_not_held_back_by_the_caps() -> None:
    """Called at 09:00 and asked to be called back at 11:00: under the default cap of one
    call a day the callback would otherwise wait until tomorrow."""
    week = NumberHistory(recent_dials=[NOW - timedelta(days=d, hours=2) for d in range(3)])
    asked = lead(callback_at=NOW - timedelta(minutes=1), next_eligible_at=NOW)
    assert check(asked, RULES, week, NOW).allowed
    # Only once its time has come; and DNC and the calling windows still hold.
    early = lead(callback_at=NOW + timedelta(hours=1), next_eligible_at=NOW)
    assert check(early, RULES, week, NOW).reasons == (Reason.CAP_DAY, Reason.CAP_WEEK)
    dnc = NumberHistory(in_global_dnc=True, recent_dials=week.recent_dials)
    assert check(asked, RULES, dnc, NOW).reasons == (Reason.DNC_GLOBAL,)
    evening = NOW + timedelta(hours=9)  # 20:00 in Beijing
    late = lead(callback_at=evening - timedelta(minutes=1), next_eligible_at=evening)
    assert check(late, RULES, week, evening).reasons == (Reason.OUTSIDE_WINDOW,)


def test_week_cap_counts_dials_across_campaigns() -> None:
    three = NumberHistory(recent_dials=[NOW - timedelta(days=d) for d in (2, 4, 6)])
    assert check(lead(), RULES, three, NOW).reasons == (Reason.CAP_WEEK,)
    older = NumberHistory(recent_dials=[NOW - timedelta(days=d) for d in (2, 4, 8)])
    assert check(lead(), RULES, older, NOW).allowed


def test_abandoned_call_blocks_72_hours_unless_an_agent_is_reserved() -> None:
    history = NumberHistory(last_abandoned_at=NOW - timedelta(hours=10))
    assert Reason.ABANDONED_72H in check(lead(), RULES, history, NOW).reasons
    assert check(lead(), RULES, history, NOW, agent_reserved=True).allowed
    after = NumberHistory(last_abandoned_at=NOW - timedelta(hours=72, seconds=1))
    assert check(lead(), RULES, after, NOW).allowed


def test_lead_rules() -> None:
    assert check(lead(attempts=3), RULES, NumberHistory(), NOW).reasons == (Reason.MAX_ATTEMPTS,)
    # a callback the customer asked for on the last attempt is not one attempt too many
    asked = lead(attempts=3, callback_at=NOW - timedelta(minutes=1))
    assert check(asked, RULES, NumberHistory(), NOW).allowed
    assert check(lead(grade=Grade.C), RULES, NumberHistory(), NOW).reasons == (Reason.GRADE_C,)
    later = lead(next_eligible_at=NOW + timedelta(hours=1))
    assert check(later, RULES, NumberHistory(), NOW).reasons == (Reason.NOT_DUE,)
    finished = lead(next_eligible_at=None)
    assert check(finished, RULES, NumberHistory(), NOW).reasons == (Reason.NOT_DUE,)


def test_window_is_checked_in_the_leads_zone() -> None:
    # 11:00 in Beijing is 09:00 in Urumqi: outside the 10-12 window there.
    urumqi = lead(zones=("Asia/Urumqi",))
    assert check(urumqi, RULES, NumberHistory(), NOW).reasons == (Reason.OUTSIDE_WINDOW,)


def test_a_window_ending_at_24_00_lets_the_gate_dial_until_midnight() -> None:
    evening = CampaignRules(cadence=Cadence(windows=(Window(time(20), MIDNIGHT),),
                                            max_attempts=3))
    late = datetime(2025, 6, 2, 15, 59, tzinfo=UTC)  # 23:59 in Beijing
    assert check(lead(), evening, NumberHistory(), late).allowed
    after = late + timedelta(minutes=1)  # 00:00: the next day, before 20:00
    assert check(lead(), evening, NumberHistory(), after).reasons == (Reason.OUTSIDE_WINDOW,)
    assert check_manual(NumberHistory(), evening.cap, late, windows=evening.cadence.windows,
                        zones=("Asia/Shanghai",)).allowed


def test_every_reason_is_reported_at_once() -> None:
    history = NumberHistory(
        in_global_dnc=True,
        in_campaign_dnc=True,
        recent_dials=[NOW - timedelta(hours=1)] * 3,
        last_abandoned_at=NOW - timedelta(hours=1),
    )
    night = NOW + timedelta(hours=12)
    decision = check(lead(attempts=3, grade=Grade.C), RULES, history, night)
    assert set(decision.reasons) == {
        Reason.DNC_GLOBAL, Reason.DNC_CAMPAIGN, Reason.OUTSIDE_WINDOW, Reason.CAP_DAY,
        Reason.CAP_WEEK, Reason.MAX_ATTEMPTS, Reason.ABANDONED_72H, Reason.GRADE_C,
    }


def test_caps_of_zero_are_configuration_errors() -> None:
    with pytest.raises(ValueError):
        FrequencyCap(per_day=0)
    with pytest.raises(ValueError):
        FrequencyCap(per_day=2, per_week=1)


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError):
        check(lead(), RULES, NumberHistory(), NOW.replace(tzinfo=None))


@given(
    st.lists(st.integers(min_value=0, max_value=7 * 24 * 60), max_size=8),
    st.integers(min_value=1, max_value=3),
    st.integers(min_value=0, max_value=3),
)
def test_allowed_dials_never_exceed_the_caps(
    minutes_ago: list[int], per_day: int, extra_week: int
) -> None:
    cap = FrequencyCap(per_day=per_day, per_week=per_day + extra_week)
    rules = CampaignRules(cadence=Cadence(max_attempts=100), cap=cap)
    dials = [NOW - timedelta(minutes=m) for m in minutes_ago]
    decision = check(lead(), rules, NumberHistory(recent_dials=dials), NOW)
    day = sum(1 for t in dials if t > NOW - timedelta(days=1))
    week = sum(1 for t in dials if t > NOW - timedelta(days=7))
    if decision.allowed:
        # Placing this dial keeps both windows within their caps.
        assert day + 1 <= cap.per_day and week + 1 <= cap.per_week
    else:
        assert day >= cap.per_day or week >= cap.per_week


@given(
    st.booleans(), st.booleans(), st.integers(0, 5), st.sampled_from([None, *Grade]),
    st.integers(min_value=-100, max_value=100), st.booleans(),
)
def test_allowed_only_when_no_rule_objects(
    global_dnc: bool, campaign_dnc: bool, attempts: int, grade: Grade | None,
    abandoned_hours_ago: int, reserved: bool,
) -> None:
    history = NumberHistory(
        in_global_dnc=global_dnc,
        in_campaign_dnc=campaign_dnc,
        last_abandoned_at=NOW - timedelta(hours=abs(abandoned_hours_ago)),
    )
    decision = check(lead(attempts=attempts, grade=grade), RULES, history, NOW,
                     agent_reserved=reserved)
    blocked = (
        global_dnc or campaign_dnc or attempts >= 3 or grade is Grade.C
        or (abs(abandoned_hours_ago) < 72 and not reserved)
    )
    assert decision.allowed is not blocked
