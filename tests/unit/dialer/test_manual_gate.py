"""The gate for agents' own dials, and when a refused lead is due again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dialer.compliance import (
    Decision,
    FrequencyCap,
    NumberHistory,
    Reason,
    check_manual,
    retry_after_refusal,
)
from dialer.schedule import DEFAULT_WINDOWS

NOW = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Beijing
SHANGHAI = ("Asia/Shanghai",)
CAP = FrequencyCap(per_day=2, per_week=3)


def test_a_clean_number_may_be_dialed_at_any_hour_without_a_campaign() -> None:
    night = NOW + timedelta(hours=14)  # 01:00 in Beijing
    assert check_manual(NumberHistory(), CAP, night).allowed


def test_dnc_and_caps_always_apply_windows_only_for_a_campaign() -> None:
    dialed = NumberHistory(in_global_dnc=True, recent_dials=(NOW - timedelta(hours=1),) * 2)
    night = NOW + timedelta(hours=14)
    decision = check_manual(dialed, CAP, night, windows=DEFAULT_WINDOWS, zones=SHANGHAI)
    assert decision.reasons == (Reason.DNC_GLOBAL, Reason.OUTSIDE_WINDOW, Reason.CAP_DAY)


def test_an_abandoned_call_does_not_stop_an_agent_calling_back() -> None:
    history = NumberHistory(last_abandoned_at=NOW - timedelta(hours=1))
    assert check_manual(history, CAP, NOW).allowed


def test_final_refusals_end_the_lead() -> None:
    for reason in (Reason.DNC_GLOBAL, Reason.DNC_CAMPAIGN, Reason.MAX_ATTEMPTS, Reason.GRADE_C):
        decision = Decision((Reason.CAP_DAY, reason))
        assert retry_after_refusal(decision, DEFAULT_WINDOWS, SHANGHAI, NOW) is None


def test_a_capped_lead_is_rechecked_later_inside_its_window() -> None:
    at = retry_after_refusal(Decision((Reason.CAP_DAY,)), DEFAULT_WINDOWS, SHANGHAI, NOW)
    assert at is not None and at >= NOW + timedelta(hours=1)
    local = at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai"))
    assert (10 <= local.hour < 12) or (15 <= local.hour < 18)


def test_a_lead_outside_its_window_waits_for_the_next_opening_only() -> None:
    evening = NOW + timedelta(hours=8)  # 19:00 in Beijing
    at = retry_after_refusal(Decision((Reason.OUTSIDE_WINDOW,)), DEFAULT_WINDOWS, SHANGHAI,
                             evening)
    assert at == datetime(2025, 6, 3, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing
