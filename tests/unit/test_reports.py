"""The reports' arithmetic (cti/reports/): plain rows in, tables out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.reports.groups import QueuedCall, group_table
from cti.reports.outbound import NO_CAMPAIGN, DialRow, campaign_table
from cti.reports.period import PeriodError, period
from cti.reports.seats import Offers, SeatTimes, StateChange, seat_table

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def as_dict(table: object) -> list[dict[str, object]]:
    columns = [c.name for c in table.columns]  # type: ignore[attr-defined]
    return [dict(zip(columns, row, strict=True)) for row in table.rows]  # type: ignore[attr-defined]


# -- seat workload ---------------------------------------------------------------------

def test_a_seats_day_is_cut_at_the_periods_ends_and_split_by_state() -> None:
    times = SeatTimes(at(0), at(3600))
    for change in [
        StateChange("1001", at(-600), "on_call"),  # on a call when the period began
        StateChange("1001", at(60), "wrap_up"),
        StateChange("1001", at(90), "available"),
        StateChange("1001", at(100), "ringing"),
        StateChange("1001", at(105), "on_call"),
        StateChange("1001", at(285), "wrap_up"),
        StateChange("1001", at(315), "paused", "lunch"),
        StateChange("1001", at(2115), "available"),
        StateChange("1001", at(3000), "offline"),
        StateChange("1002", at(-7200), "offline"),  # never logged in: no time
        StateChange("1003", at(1800), "available"),
        StateChange("1003", at(1900), "paused", None),
    ]:
        times.add(change)
    rows = {r["seat_id"]: r for r in as_dict(seat_table(
        times.finish(), {"1001": Offers(answered=2, not_answered=1)}, ["lunch", "break"]))}
    one = rows["1001"]
    assert (one["on_call_s"], one["wrap_up_s"], one["ringing_s"]) == (60 + 180, 30 + 30, 5)
    assert one["available_s"] == 10 + 885
    assert (one["paused_s"], one["paused_lunch_s"], one["paused_break_s"]) == (1800, 1800, 0)
    assert one["logged_in_s"] == 3000
    assert (one["answered"], one["not_answered"]) == (2, 1)
    assert one["handle_avg_s"] == 150.0  # (240 + 60) / 2
    assert one["occupancy"] == round(300 / 1200, 4)
    assert rows["1002"]["logged_in_s"] == 0 and rows["1002"]["occupancy"] is None
    three = rows["1003"]
    assert (three["logged_in_s"], three["paused_unspecified_s"]) == (1800, 1700)


def test_a_log_out_of_order_is_refused() -> None:
    times = SeatTimes(at(0), at(60))
    times.add(StateChange("1001", at(10), "available"))
    with pytest.raises(ValueError, match="out of order"):
        times.add(StateChange("1001", at(5), "on_call"))


_states = st.sampled_from(["offline", "available", "ringing", "on_call", "wrap_up",
                           "paused", "busy"])


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(-500, 4000), _states),
                max_size=40))
def test_a_seats_states_add_up_to_its_logged_in_time_within_the_period(
        changes: list[tuple[str, int, str]]) -> None:
    start, end = at(0), at(3600)
    log = sorted(changes)
    times = SeatTimes(start, end)
    for seat, second, state in log:
        times.add(StateChange(seat, at(second), state))
    result = times.finish()
    for seat in {s for s, _, _ in log}:
        mine = [(second, state) for s, second, state in log if s == seat]
        # Expected: each change lasts until the next one (the last until the end).
        expected = 0.0
        for i, (second, state) in enumerate(mine):
            until = mine[i + 1][0] if i + 1 < len(mine) else 3600
            begin, finish = max(second, 0), min(until, 3600)
            if state != "offline" and finish > begin:
                expected += finish - begin
        got = result[seat]
        assert sum(got.seconds.values()) == pytest.approx(expected)
        assert sum(got.paused.values()) == pytest.approx(got.seconds["paused"])
        assert 0 <= sum(got.seconds.values()) <= 3600


# -- skill groups ----------------------------------------------------------------------

def test_a_groups_service_level_counts_every_call_queued() -> None:
    calls = [
        QueuedCall("sales", True, False, 5, 100, "1001"),
        QueuedCall("sales", True, False, 20, 60, "1002"),
        QueuedCall("sales", True, False, 21, None, "1001"),  # talk not known yet
        QueuedCall("sales", False, True, 3, None, None),
        QueuedCall("sales", False, False, 300, None, None),  # the maximum wait reached
        QueuedCall("support", False, True, None, None, None),
    ]
    rows = {r["skill_group"]: r for r in as_dict(group_table(calls, sl_seconds=20))}
    sales = rows["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["other"]) == \
        (5, 3, 1, 1)
    assert sales["answered_within_sl"] == 2
    assert sales["service_level"] == 0.4 and sales["abandon_rate"] == 0.2
    assert sales["wait_answered_avg_s"] == round(46 / 3, 1)
    assert (sales["wait_max_s"], sales["talk_s"], sales["talk_avg_s"]) == (300, 160, 80.0)
    assert sales["seats_answering"] == 2
    support = rows["support"]
    assert (support["abandon_rate"], support["wait_answered_avg_s"]) == (1.0, None)


# -- campaigns -------------------------------------------------------------------------

def test_the_outbound_report_counts_outcomes_rates_and_dispositions() -> None:
    dials = [
        DialRow(1, "Winter", 10, "+4420", "answered", 120),
        DialRow(1, "Winter", 10, "+4420", "busy", None),
        DialRow(1, "Winter", 11, "+4421", "abandoned", None),
        DialRow(1, "Winter", 12, "+4422", "no_answer", None),
        DialRow(1, "Winter", 13, "+4423", None, None),  # ringing now
        DialRow(None, None, None, "+4499", "answered", 30),
    ]
    rows = as_dict(campaign_table(dials, {(1, "sale"): 1, (None, "callback"): 1}))
    winter, manual = rows
    assert (winter["campaign_id"], winter["campaign"], winter["dials"]) == (1, "Winter", 5)
    assert (winter["answered"], winter["busy"], winter["abandoned"], winter["no_answer"],
            winter["in_progress"], winter["failed"]) == (1, 1, 1, 1, 1, 0)
    assert winter["live_answers"] == 2 and winter["abandon_rate"] == 0.5
    assert winter["contact_rate"] == 0.5  # 2 live of 4 ended
    assert (winter["talk_s"], winter["talk_avg_s"]) == (120, 120.0)
    assert (winter["leads_dialed"], winter["numbers_dialed"]) == (4, 4)
    assert (winter["dispositions_sale"], winter["dispositions_callback"]) == (1, 0)
    assert (manual["campaign_id"], manual["campaign"]) == (None, NO_CAMPAIGN)
    assert manual["dispositions_callback"] == 1 and manual["abandon_rate"] == 0.0


def test_a_period_without_dials_reports_no_rate() -> None:
    (row,) = as_dict(campaign_table([DialRow(2, "Spring", 1, "+4430", None, None)], {}))
    assert (row["abandon_rate"], row["contact_rate"], row["talk_avg_s"]) == (None, None, None)


# -- the period ------------------------------------------------------------------------

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 3, 29, 15, 0, tzinfo=UTC)


def test_dates_are_midnights_in_the_zone_and_a_day_is_the_default() -> None:
    # The clocks go forward on 29 March 2026 in London: that day has 23 hours.
    today = period(None, None, LONDON, NOW, timedelta(days=31))
    assert today.start == datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    assert today.end - today.start == timedelta(hours=23)
    month = period("2026-03-01", "2026-04-01", LONDON, NOW, timedelta(days=31))
    assert month.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert month.end == datetime(2026, 3, 31, 23, 0, tzinfo=UTC)


def test_times_without_an_offset_are_in_the_zone() -> None:
    span = period("2026-07-01T09:00", "2026-07-01T10:30:00+00:00", LONDON, NOW,
                  timedelta(days=1))
    assert span.start == datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
    assert span.end == datetime(2026, 7, 1, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(("start", "end", "field", "says"), [
    ("yesterday", None, "from", "not a date"),
    ("2026-02-30", None, "from", "not a date"),
    ("2026-03-02", "2026-03-01", "to", "after from"),
    ("2026-03-01", "2026-03-01", "to", "after from"),
    ("2026-01-01", "2026-03-01", "to", "longer than this report allows (31 days)"),
])
def test_a_bad_period_names_its_field(start: str, end: str | None, field: str,
                                      says: str) -> None:
    with pytest.raises(PeriodError) as caught:
        period(start, end, LONDON, NOW, timedelta(days=31))
    assert caught.value.field == field and says in caught.value.message


# -- the period at the edges of the calendar (D15) -----------------------------------------

TOKYO = ZoneInfo("Asia/Tokyo")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(("start", "end", "zone", "field", "where"), [
    ("9999-12-31", None, UTC, "from", "UTC"),  # its default end is past the calendar
    ("0001-01-01", None, TOKYO, "from", "UTC"),  # midnight in Tokyo is in year 0 in UTC
    ("0001-01-01T00:00:00+05:00", None, UTC, "from", "UTC"),
    ("9999-12-31T20:00:00+00:00", None, TOKYO, "from", "Asia/Tokyo"),  # its next day
    # on the calendar in UTC, not in the zone the report is written in
    ("0001-01-01T00:00:00+00:00", "0001-01-02T00:00:00+00:00", NEW_YORK, "from",
     "America/New_York"),
    ("9999-12-30", "9999-12-31T20:00:00-05:00", UTC, "to", "UTC"),
])
def test_a_period_off_the_calendar_names_its_field(
    start: str, end: str | None, zone: ZoneInfo, field: str, where: str
) -> None:
    with pytest.raises(PeriodError) as caught:
        period(start, end, zone, NOW, timedelta(days=366))
    assert caught.value.field == field
    assert caught.value.message == ("out of range: the time must fall within the years 1 to "
                                    f"9999 in {where}")


def test_the_calendars_last_whole_day_is_a_period() -> None:
    last = period("9999-12-30", None, TOKYO, NOW, timedelta(days=1))
    assert (last.start, last.end) == (datetime(9999, 12, 29, 15, tzinfo=UTC),
                                      datetime(9999, 12, 30, 15, tzinfo=UTC))


_EDGE_DAYS = st.one_of(st.dates(max_value=date(1, 1, 3)), st.dates(min_value=date(9999, 12, 29)),
                       st.dates())
_TYPED = st.one_of(
    _EDGE_DAYS.map(lambda d: d.isoformat()),
    st.builds(lambda d, h: f"{d.isoformat()}T{h:02d}:00:00", _EDGE_DAYS, st.integers(0, 23)),
    st.builds(lambda d, h, o: f"{d.isoformat()}T{h:02d}:00:00{o:+03d}:00", _EDGE_DAYS,
              st.integers(0, 23), st.integers(-12, 14)),
)


@given(_TYPED, st.none() | _TYPED,
       st.sampled_from([UTC, TOKYO, NEW_YORK, ZoneInfo("Pacific/Kiritimati")]))
def test_any_typed_period_is_a_period_or_a_period_error(
    start: str, end: str | None, zone: ZoneInfo
) -> None:
    """Never an OverflowError (a 500): whatever is typed, a 422 names from or to."""
    try:
        span = period(start, end, zone, NOW, timedelta(days=366 * 10_000))
    except PeriodError as exc:
        assert exc.field in {"from", "to"}
    else:
        # The report writes its times, and names its file, on the zone's clock.
        assert span.start.astimezone(zone) < span.end.astimezone(zone)
