"""Campaign state machine, stored rule JSON, dispositions."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dialer.campaign import (
    InvalidTransition,
    State,
    Transition,
    allowed_transitions,
    cadences_to_json,
    delays_to_json,
    rules_from_json,
    transition,
    windows_to_json,
)
from dialer.dispositions import DispositionCode, DispositionError, apply
from dialer.schedule import (
    DEFAULT_CADENCES,
    DEFAULT_RETRY_DELAYS,
    DEFAULT_WINDOWS,
    MIDNIGHT,
    Cadence,
    Grade,
    LeadTiming,
    Outcome,
    ScheduleError,
    Window,
)

NOW = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 Beijing


def test_named_transitions() -> None:
    assert transition(State.DRAFT, Transition.START) is State.RUNNING
    assert transition(State.RUNNING, Transition.PAUSE) is State.PAUSED
    assert transition(State.PAUSED, Transition.START) is State.RUNNING
    assert transition(State.PAUSED, Transition.STOP) is State.STOPPED
    with pytest.raises(InvalidTransition, match="cannot pause a draft campaign"):
        transition(State.DRAFT, Transition.PAUSE)
    assert allowed_transitions(State.STOPPED) == []


@given(st.lists(st.sampled_from(list(Transition)), max_size=12))
def test_stopped_is_final(events: list[Transition]) -> None:
    state = State.DRAFT
    for event in events:
        before = state
        try:
            state = transition(state, event)
        except InvalidTransition:
            assert event not in allowed_transitions(before)
            continue
        assert before is not State.STOPPED
    assert state in State


def test_rules_round_trip_through_json() -> None:
    rules = rules_from_json(windows_to_json(DEFAULT_WINDOWS), delays_to_json(DEFAULT_RETRY_DELAYS),
                           cadences_to_json(DEFAULT_CADENCES), 5, 1, 3)
    assert rules.cadence.windows == DEFAULT_WINDOWS
    assert rules.cadence.retry_delays == DEFAULT_RETRY_DELAYS
    assert rules.cadence.grade_cadences == DEFAULT_CADENCES
    with pytest.raises(ScheduleError):
        rules_from_json([], {}, {}, 5, 1, 3)
    with pytest.raises(ScheduleError):
        rules_from_json(windows_to_json(DEFAULT_WINDOWS), {}, {}, 5, 0, 3)


def test_a_window_ending_at_midnight_is_stored_and_read_as_24_00() -> None:
    windows = (Window(time(20), MIDNIGHT, frozenset({0, 1})), Window(time(0), MIDNIGHT))
    stored = windows_to_json(windows)
    assert stored == [{"start": "20:00", "end": "24:00", "days": [0, 1]},
                      {"start": "00:00", "end": "24:00", "days": list(range(7))}]
    rules = rules_from_json(stored, {}, {}, 5, 1, 3)
    assert rules.cadence.windows == windows


def test_a_callback_outside_a_window_ending_at_midnight_names_it_24_00() -> None:
    evening = Cadence(windows=(Window(time(20), MIDNIGHT),))
    late = datetime(2025, 6, 2, 15, 30, tzinfo=UTC)  # 23:30 Beijing
    assert apply(DispositionCode.CALLBACK, LEAD, evening, NOW, callback_at=late).callback_at
    with pytest.raises(DispositionError) as caught:
        apply(DispositionCode.CALLBACK, LEAD, evening, NOW, callback_at=late + timedelta(hours=1))
    assert caught.value.message == ("00:30 in Asia/Shanghai is outside the campaign's "
                                    "calling windows (20:00-24:00, the customer's local time)")


LEAD = LeadTiming(zones=("Asia/Shanghai",), created_at=NOW - timedelta(days=1), attempts=1,
                  last_attempt_at=NOW)


def test_finishing_codes_and_dnc() -> None:
    for code in (DispositionCode.SALE, DispositionCode.NOT_INTERESTED,
                 DispositionCode.WRONG_NUMBER):
        update = apply(code, LEAD, Cadence(), NOW)
        assert update.next_eligible_at is None and not update.add_to_dnc
    assert apply(DispositionCode.DO_NOT_CALL, LEAD, Cadence(), NOW).add_to_dnc


def test_interested_follows_the_grade_cadence() -> None:
    h = apply(DispositionCode.INTERESTED, LEAD, Cadence(), NOW, grade=Grade.H)
    assert h.grade is Grade.H and h.next_eligible_at == NOW + timedelta(days=3)
    c = apply(DispositionCode.INTERESTED, LEAD, Cadence(), NOW, grade=Grade.C)
    assert c.next_eligible_at is None


def test_callbacks_need_a_future_time_with_a_zone_inside_the_calling_windows() -> None:
    later = NOW + timedelta(days=1, hours=4, minutes=30)  # 15:30 Beijing tomorrow
    update = apply(DispositionCode.CALLBACK, LEAD, Cadence(), NOW, callback_at=later)
    assert update.callback_at == later and update.next_eligible_at == later
    # Asked for on the lead's last attempt: still made (it was accepted, then dropped).
    last = dataclasses.replace(LEAD, attempts=3, last_attempt_at=NOW,
                               last_outcome=Outcome.ANSWERED)
    update = apply(DispositionCode.CALLBACK, last, Cadence(max_attempts=3), NOW,
                   callback_at=later)
    assert update.next_eligible_at == later
    # 12:00 Beijing: the windows (10-12, 15-18) are closed. Booked, it would wait until
    # 15:00 and the customer be called three hours late; the agent is told instead.
    closed = NOW + timedelta(days=1, hours=1)
    with pytest.raises(DispositionError) as caught:
        apply(DispositionCode.CALLBACK, LEAD, Cadence(), NOW, callback_at=closed)
    assert caught.value.field == "callback_at"
    assert caught.value.message == ("12:00 in Asia/Shanghai is outside the campaign's "
                                    "calling windows (10:00-12:00, 15:00-18:00, the "
                                    "customer's local time)")
    for bad in (None, NOW - timedelta(minutes=1), later.replace(tzinfo=None),
                NOW + timedelta(days=91)):
        with pytest.raises(DispositionError) as caught:
            apply(DispositionCode.CALLBACK, LEAD, Cadence(), NOW, callback_at=bad)
        assert caught.value.field == "callback_at"
    with pytest.raises(DispositionError):
        apply(DispositionCode.SALE, LEAD, Cadence(), NOW, callback_at=later)


def test_other_leaves_the_schedule_alone() -> None:
    update = apply(DispositionCode.OTHER, LEAD, Cadence(), NOW, grade=Grade.B)
    assert update.keep_schedule and update.grade is Grade.B and not update.add_to_dnc
