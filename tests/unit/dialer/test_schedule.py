"""Calling windows in the lead's local time, retry delays, grade cadences."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.schedule import (
    DEFAULT_WINDOWS,
    MIDNIGHT,
    Cadence,
    Grade,
    LeadTiming,
    Outcome,
    ScheduleError,
    Window,
    due_at,
    ever_opens,
    follow_up_deadline,
    in_window,
    next_eligible,
    next_opening,
    validate_cadences,
    validate_retry_delays,
    validate_windows,
)

ZONES = [
    "Asia/Shanghai",
    "Asia/Urumqi",
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "America/Sao_Paulo",
    "Pacific/Chatham",
]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_default_windows_are_the_handbook_hours() -> None:
    assert (Window(time(10), time(12)), Window(time(15), time(18))) == DEFAULT_WINDOWS


def test_xinjiang_window_opens_two_hours_after_beijing() -> None:
    midnight = utc(2025, 6, 2, 0, 0)
    assert next_opening(DEFAULT_WINDOWS, ["Asia/Shanghai"], midnight) == utc(2025, 6, 2, 2, 0)
    assert next_opening(DEFAULT_WINDOWS, ["Asia/Urumqi"], midnight) == utc(2025, 6, 2, 4, 0)
    # 10:30 in Beijing is 08:30 in Urumqi: one is open, the other is not.
    t = utc(2025, 6, 2, 2, 30)
    assert in_window(DEFAULT_WINDOWS, ["Asia/Shanghai"], t)
    assert not in_window(DEFAULT_WINDOWS, ["Asia/Urumqi"], t)


def test_inside_a_window_the_opening_is_now_and_end_is_exclusive() -> None:
    t = utc(2025, 6, 2, 3, 0)  # 11:00 Beijing
    assert next_opening(DEFAULT_WINDOWS, ["Asia/Shanghai"], t) == t
    end = utc(2025, 6, 2, 4, 0)  # 12:00 Beijing
    assert not in_window(DEFAULT_WINDOWS, ["Asia/Shanghai"], end)
    assert next_opening(DEFAULT_WINDOWS, ["Asia/Shanghai"], end) == utc(2025, 6, 2, 7, 0)


def test_several_zones_must_all_be_open() -> None:
    # 10:00-12:00 in London and in Lagos (one hour apart in winter): open 10:00-11:00 UTC.
    zones = ["Europe/London", "Africa/Lagos"]
    windows = [Window(time(10), time(12))]
    assert next_opening(windows, zones, utc(2025, 1, 6, 0, 0)) == utc(2025, 1, 6, 10, 0)
    assert not in_window(windows, zones, utc(2025, 1, 6, 11, 0))


def test_weekday_windows() -> None:
    weekdays = [Window(time(10), time(12), frozenset(range(5)))]
    saturday = utc(2025, 6, 7, 12, 0)  # Saturday 20:00 in Beijing
    assert next_opening(weekdays, ["Asia/Shanghai"], saturday) == utc(2025, 6, 9, 2, 0)


def test_dst_spring_forward_opens_at_the_jump() -> None:
    # London, 2025-03-30: 01:00 GMT jumps to 02:00 BST (01:00 UTC). 01:30-02:30 local
    # opens at the jump, whose wall clock reads 02:00.
    windows = [Window(time(1, 30), time(2, 30))]
    assert next_opening(windows, ["Europe/London"], utc(2025, 3, 30, 0, 0)) == utc(
        2025, 3, 30, 1, 0
    )
    # A window entirely inside the skipped hour does not open that day.
    skipped = [Window(time(1, 15), time(1, 45))]
    assert next_opening(skipped, ["Europe/London"], utc(2025, 3, 30, 0, 50)) == utc(
        2025, 3, 31, 0, 15
    )


def test_dst_fall_back_repeated_hour_opens_twice() -> None:
    # London, 2025-10-26: 02:00 BST goes back to 01:00 GMT; 01:15 happens at 00:15 and 01:15 UTC.
    windows = [Window(time(1, 15), time(1, 45))]
    assert next_opening(windows, ["Europe/London"], utc(2025, 10, 26, 0, 0)) == utc(
        2025, 10, 26, 0, 15
    )
    assert next_opening(windows, ["Europe/London"], utc(2025, 10, 26, 0, 50)) == utc(
        2025, 10, 26, 1, 15
    )


def test_zones_far_apart_may_never_share_a_window() -> None:
    assert ever_opens(DEFAULT_WINDOWS, ["Asia/Shanghai", "Asia/Dhaka"])  # 2 h apart
    assert not ever_opens(DEFAULT_WINDOWS, ["Asia/Shanghai", "Asia/Karachi"])  # 3 h apart
    assert ever_opens([Window(time(9), time(21))], ["Asia/Shanghai", "Asia/Karachi"])


def test_windows_that_never_open_are_rejected() -> None:
    with pytest.raises(ScheduleError, match="no calling window"):
        validate_windows([])
    with pytest.raises(ScheduleError) as caught:
        validate_windows([Window(time(10), time(12)), Window(time(18), time(9))])
    assert caught.value.field == "windows.1"
    with pytest.raises(ScheduleError):
        validate_windows([Window(time(10), time(10))])
    with pytest.raises(ScheduleError, match="weekday"):
        validate_windows([Window(time(10), time(12), frozenset())])
    with pytest.raises(ScheduleError):
        validate_windows([Window(time(10), time(12), frozenset({7}))])


def test_a_window_may_end_at_midnight_at_the_end_of_its_day() -> None:
    # 20:00-24:00 (the end is written 00:00: a window never ends before it starts)
    evening = Window(time(20), MIDNIGHT, frozenset({0}))  # Mondays
    assert validate_windows([evening]) == (evening,)
    shanghai = ["Asia/Shanghai"]
    monday_2359 = utc(2025, 6, 2, 15, 59, 59)  # Monday 23:59:59 in Beijing
    assert in_window([evening], shanghai, monday_2359)
    assert not in_window([evening], shanghai, utc(2025, 6, 2, 16, 0))  # Tuesday 00:00
    assert not in_window([evening], shanghai, utc(2025, 6, 2, 11, 59))  # Monday 19:59
    assert next_opening([evening], shanghai, utc(2025, 6, 2, 16, 0)) == utc(2025, 6, 9, 12, 0)
    whole_day = [Window(time(0), MIDNIGHT)]
    assert validate_windows(whole_day) == tuple(whole_day)
    for hour in range(24):
        assert in_window(whole_day, ["Europe/London"], utc(2025, 3, 30, hour, 30))
    assert ever_opens(whole_day, ["Asia/Shanghai", "America/New_York"])


def test_retry_delays_under_a_minute_are_rejected() -> None:
    with pytest.raises(ScheduleError) as caught:
        validate_retry_delays({Outcome.BUSY: timedelta(seconds=59)})
    assert caught.value.field == "retry_delays.busy"
    merged = validate_retry_delays({Outcome.BUSY: timedelta(minutes=1)})
    assert merged[Outcome.BUSY] == timedelta(minutes=1)
    assert merged[Outcome.NO_ANSWER] > timedelta(0)  # defaults fill the rest
    with pytest.raises(ScheduleError):
        validate_retry_delays({Outcome.ANSWERED: timedelta(hours=1)})


def test_cadences_follow_the_handbook() -> None:
    cadences = validate_cadences({})
    assert cadences[Grade.H] == timedelta(days=3)
    assert cadences[Grade.A] == timedelta(days=7)
    assert cadences[Grade.B] == timedelta(days=15)
    assert cadences[Grade.C] is None
    with pytest.raises(ScheduleError):
        validate_cadences({Grade.H: timedelta(seconds=1)})


T0 = utc(2025, 6, 2, 3, 0)  # Monday 11:00 in Beijing
RULES = Cadence()


def lead(**kw: object) -> LeadTiming:
    base: dict[str, object] = {"zones": ("Asia/Shanghai",), "created_at": T0}
    base.update(kw)
    return LeadTiming(**base)  # type: ignore[arg-type]


def test_new_lead_is_due_at_once_and_must_be_followed_up_within_a_day() -> None:
    assert next_eligible(lead(), RULES, T0) == T0
    assert follow_up_deadline(T0) == T0 + timedelta(hours=24)


def test_retry_after_busy_waits_the_delay_then_the_window() -> None:
    busy = lead(attempts=1, last_attempt_at=T0, last_outcome=Outcome.BUSY)
    assert due_at(busy, RULES) == T0 + timedelta(minutes=30)
    late = lead(attempts=1, last_attempt_at=utc(2025, 6, 2, 3, 50), last_outcome=Outcome.BUSY)
    # 11:50 + 30 min = 12:20, outside; the afternoon window opens at 15:00 (07:00 UTC).
    assert next_eligible(late, RULES, T0) == utc(2025, 6, 2, 7, 0)


def test_grades_set_the_follow_up_cadence() -> None:
    h = lead(grade=Grade.H, attempts=1, last_attempt_at=T0, last_outcome=Outcome.ANSWERED)
    assert due_at(h, RULES) == T0 + timedelta(days=3)
    b = lead(grade=Grade.B, attempts=1, last_attempt_at=T0, last_outcome=Outcome.ANSWERED)
    assert due_at(b, RULES) == T0 + timedelta(days=15)
    c = lead(grade=Grade.C, attempts=1, last_attempt_at=T0, last_outcome=Outcome.ANSWERED)
    assert due_at(c, RULES) is None


def test_callbacks_win_and_max_attempts_end_the_lead() -> None:
    cb = T0 + timedelta(days=1, hours=4)
    assert due_at(lead(attempts=1, last_attempt_at=T0, last_outcome=Outcome.ANSWERED,
                       callback_at=cb), RULES) == cb
    done = lead(attempts=RULES.max_attempts, last_attempt_at=T0, last_outcome=Outcome.BUSY)
    assert due_at(done, RULES) is None
    assert next_eligible(done, RULES, T0) is None
    # The customer reached on the last attempt asks to be called back: that call is made.
    asked = lead(attempts=RULES.max_attempts, last_attempt_at=T0,
                 last_outcome=Outcome.ANSWERED, callback_at=cb)
    assert due_at(asked, RULES) == cb


minutes = st.integers(min_value=0, max_value=24 * 60 - 1)


def clock_time(minute: int) -> time:
    """Minutes since the day's start -> a window time (1440, the day's end: 24:00)."""
    return time((minute // 60) % 24, minute % 60)


@st.composite
def windows(draw: st.DrawFn) -> list[Window]:
    out = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        a = draw(minutes)
        b = draw(st.integers(min_value=a + 1, max_value=24 * 60))  # up to 24:00
        days = draw(st.frozensets(st.integers(0, 6), min_size=1))
        out.append(Window(clock_time(a), clock_time(b), days))
    return out


@settings(max_examples=200, deadline=None)
@given(minutes, st.integers(0, 6), st.datetimes(min_value=datetime(2020, 1, 1),
                                               max_value=datetime(2030, 12, 31)))
def test_a_window_ending_at_24_00_holds_every_later_instant_of_its_days(
    start: int, day: int, local: datetime
) -> None:
    window = Window(clock_time(start), MIDNIGHT, frozenset({day}))
    validate_windows([window])
    expected = local.weekday() == day and local.time() >= window.start
    assert window.contains(local) is expected


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=60, deadline=None)
@given(windows(), st.lists(st.sampled_from(ZONES), min_size=1, max_size=1), instants)
def test_next_opening_is_the_first_open_instant(
    ws: list[Window], zones: list[str], now: datetime
) -> None:
    validate_windows(ws)
    opening = next_opening(ws, zones, now)
    assert opening is not None  # one zone and a valid window: it opens within a week
    assert opening >= now
    assert in_window(ws, zones, opening)
    # Nothing earlier is open (checked on a one-minute grid from now).
    t = now
    while t < opening:
        assert not in_window(ws, zones, t), t
        t += timedelta(minutes=1)


@settings(max_examples=60, deadline=None)
@given(windows(), st.lists(st.sampled_from(ZONES), min_size=1, max_size=3), instants)
def test_in_window_means_open_on_every_local_clock(
    ws: list[Window], zones: list[str], now: datetime
) -> None:
    from zoneinfo import ZoneInfo

    expected = all(any(w.contains(now.astimezone(ZoneInfo(z))) for w in ws) for z in zones)
    assert in_window(ws, zones, now) is expected
    opening = next_opening(ws, zones, now)
    if opening is not None:
        assert opening >= now and in_window(ws, zones, opening)


@given(st.sampled_from(list(Outcome)), st.integers(min_value=0, max_value=59))
def test_no_retry_delay_under_a_minute_is_accepted(outcome: Outcome, seconds: int) -> None:
    with pytest.raises(ScheduleError):
        validate_retry_delays({outcome: timedelta(seconds=seconds)})


@given(
    st.sampled_from([o for o in Outcome if o is not Outcome.ANSWERED]),
    st.integers(min_value=0, max_value=4),
    instants,
)
def test_a_retry_is_never_sooner_than_its_delay(
    outcome: Outcome, attempts: int, last: datetime
) -> None:
    timing = lead(created_at=last, attempts=attempts, last_attempt_at=last, last_outcome=outcome)
    due = due_at(timing, RULES)
    assert due is not None and due >= last + RULES.retry_delays[outcome]
    eligible = next_eligible(timing, RULES, last)
    assert eligible is not None and eligible >= due
