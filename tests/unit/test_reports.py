"""The reports' arithmetic (cti/reports/): the database's sums in, tables out. The sums
themselves are PostgreSQL's (tests/integration/test_report_queries.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.reports.groups import GroupTotals, group_table
from cti.reports.outbound import NO_CAMPAIGN, CampaignDials, OutcomeDials, campaign_table
from cti.reports.period import PeriodError, period
from cti.reports.seats import Offers, StateSeconds, seat_table
from cti.reports.table import Table


def as_dict(table: Table) -> list[dict[str, object]]:
    columns = [c.name for c in table.columns]
    return [dict(zip(columns, row, strict=True)) for row in table.rows]


# -- seat workload ---------------------------------------------------------------------

def test_every_seat_is_a_row_with_its_name_its_states_and_its_pauses_by_reason() -> None:
    seconds = [
        StateSeconds("1001", "on_call", 240.4), StateSeconds("1001", "wrap_up", 60),
        StateSeconds("1001", "available", 895), StateSeconds("1001", "ringing", 5),
        StateSeconds("1001", "paused", 1500, "lunch"), StateSeconds("1001", "paused", 300),
        StateSeconds("1001", "paused", 10, ""),  # an empty reason is none given
        StateSeconds("1003", "paused", 60, "training"),  # a reason no longer listed
    ]
    names = {"1001": "李娜 Li Na", "1002": "张伟", "1003": None}
    table = seat_table(names, seconds, {"1001": Offers(answered=2, not_answered=1),
                                        "9999": Offers(not_answered=1)},
                       ["lunch", "break"])
    assert [c.name for c in table.columns][:2] == ["seat_id", "display_name"]
    assert [c.name for c in table.columns if c.name.startswith("paused_")] == [
        "paused_s", "paused_lunch_s", "paused_break_s", "paused_training_s",
        "paused_unspecified_s"]
    rows = {r["seat_id"]: r for r in as_dict(table)}
    assert list(rows) == ["1001", "1002", "1003", "9999"]
    one = rows["1001"]
    assert one["display_name"] == "李娜 Li Na"
    assert (one["on_call_s"], one["wrap_up_s"], one["paused_s"]) == (240, 60, 1810)
    assert (one["paused_lunch_s"], one["paused_unspecified_s"], one["paused_break_s"]) == \
        (1500, 310, 0)
    assert one["logged_in_s"] == 3010
    assert one["handle_avg_s"] == round(300.4 / 2, 1)
    assert one["occupancy"] == round(300.4 / 1200.4, 4)
    two = rows["1002"]  # registered, never logged in: zeros, no rates
    assert (two["display_name"], two["logged_in_s"], two["answered"]) == ("张伟", 0, 0)
    assert (two["handle_avg_s"], two["occupancy"]) == (None, None)
    assert rows["9999"]["display_name"] is None and rows["9999"]["not_answered"] == 1


# -- skill groups ----------------------------------------------------------------------

def test_a_groups_rates_come_from_its_sums_and_a_group_without_calls_has_none() -> None:
    table = group_table([
        GroupTotals("support", "客服部"),
        GroupTotals("sales", "销售部", offered=5, answered=3, abandoned=1, within_sl=2,
                    wait_answered=46, wait_abandoned=3, wait_max=300, talk=160, talked=2,
                    seats=2),
    ], sl_seconds=20)
    sales, support = as_dict(table)
    assert (sales["skill_group"], sales["display_name"], sales["other"]) == \
        ("sales", "销售部", 1)
    assert sales["service_level"] == 0.4 and sales["abandon_rate"] == 0.2
    assert sales["wait_answered_avg_s"] == round(46 / 3, 1)
    assert (sales["talk_avg_s"], sales["seats_answering"]) == (80.0, 2)
    assert (support["offered"], support["other"], support["service_level"],
            support["abandon_rate"], support["talk_avg_s"]) == (0, 0, None, None, None)


_COUNTS = st.integers(0, 10_000)


@given(st.lists(st.tuples(_COUNTS, _COUNTS, _COUNTS, _COUNTS), max_size=5),
       st.integers(1, 3600))
def test_a_groups_rates_are_fractions_and_none_without_calls(
        counts: list[tuple[int, int, int, int]], sl_seconds: int) -> None:
    groups = []
    for i, (answered, abandoned, other, late) in enumerate(counts):
        groups.append(GroupTotals(f"g{i}", offered=answered + abandoned + other,
                                  answered=answered, abandoned=abandoned,
                                  within_sl=max(0, answered - late)))
    for row in as_dict(group_table(groups, sl_seconds)):
        assert isinstance(row["other"], int) and row["other"] >= 0
        if row["offered"] == 0:
            assert row["service_level"] is None and row["abandon_rate"] is None
        else:
            assert 0 <= row["service_level"] <= 1
            assert 0 <= row["abandon_rate"] <= 1


# -- campaigns -------------------------------------------------------------------------

def test_the_outbound_report_counts_outcomes_rates_and_dispositions() -> None:
    campaigns = [CampaignDials(None, None, dials=1, numbers=1),
                 CampaignDials(2, "Spring"),  # no dials in the period: zeros
                 CampaignDials(1, "Winter", dials=5, leads=4, numbers=4)]
    outcomes = [OutcomeDials(1, "answered", 1, talk_seconds=120, talked=1),
                OutcomeDials(1, "busy", 1), OutcomeDials(1, "abandoned", 1),
                OutcomeDials(1, "no_answer", 1), OutcomeDials(1, None, 1),
                OutcomeDials(None, "answered", 1, talk_seconds=30, talked=1)]
    rows = as_dict(campaign_table(campaigns, outcomes,
                                  {(1, "sale"): 1, (None, "callback"): 1}))
    winter, spring, manual = rows
    assert (winter["campaign_id"], winter["campaign"], winter["dials"]) == (1, "Winter", 5)
    assert (winter["answered"], winter["busy"], winter["abandoned"], winter["no_answer"],
            winter["in_progress"], winter["failed"]) == (1, 1, 1, 1, 1, 0)
    assert winter["live_answers"] == 2 and winter["abandon_rate"] == 0.5
    assert winter["contact_rate"] == 0.5  # 2 live of 4 ended
    assert (winter["talk_s"], winter["talk_avg_s"]) == (120, 120.0)
    assert (winter["leads_dialed"], winter["numbers_dialed"]) == (4, 4)
    assert (winter["dispositions_sale"], winter["dispositions_callback"]) == (1, 0)
    assert (spring["campaign"], spring["dials"], spring["answered"], spring["talk_s"]) == \
        ("Spring", 0, 0, 0)
    assert (spring["abandon_rate"], spring["contact_rate"], spring["talk_avg_s"]) == \
        (None, None, None)
    assert (manual["campaign_id"], manual["campaign"]) == (None, NO_CAMPAIGN)
    assert manual["dispositions_callback"] == 1 and manual["abandon_rate"] == 0.0


def test_a_period_without_ended_dials_reports_no_rate() -> None:
    (row,) = as_dict(campaign_table([CampaignDials(2, "Spring", dials=1, numbers=1)],
                                    [OutcomeDials(2, None, 1)], {}))
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


# -- the period's longest, on the zone's calendar (P9) -------------------------------------

def _next_month(first: date) -> date:
    return date(first.year + first.month // 12, first.month % 12 + 1, 1)


_FIRSTS = st.builds(date, st.integers(1900, 2100), st.integers(1, 12), st.just(1))


@given(st.timezones(), _FIRSTS)
def test_a_calendar_month_is_a_month_in_any_zone(zone: ZoneInfo, first: date) -> None:
    """A month's limit counts the zone's calendar days, not elapsed hours: October in
    Berlin lasts 31 days and 1 hour, and is still a month."""
    following = _next_month(first)
    span = period(first.isoformat(), following.isoformat(), zone, NOW, timedelta(days=31))
    assert span.start < span.end
    period(first.isoformat(), (first + timedelta(days=31)).isoformat(), zone, NOW,
           timedelta(days=31))
    with pytest.raises(PeriodError, match=r"longer than this report allows \(31 days\)"):
        period(first.isoformat(), (first + timedelta(days=32)).isoformat(), zone, NOW,
               timedelta(days=31))
    year = date(first.year + 1, first.month, 1)
    period(first.isoformat(), year.isoformat(), zone, NOW, timedelta(days=366))


@pytest.mark.parametrize(("start", "end", "zone"), [
    ("2026-10-01", "2026-11-01", "Europe/Berlin"),
    ("2026-10-01", "2026-11-01", "Europe/London"),
    ("2026-10-05", "2026-11-05", "America/New_York"),
    ("2026-10-01T00:00:00+02:00", "2026-11-01T00:00:00+01:00", "Europe/Berlin"),
    ("2026-03-10", "2026-04-10", "Australia/Sydney"),
    ("2024-08-08", "2024-09-08", "America/Santiago"),  # 8 September's midnight is skipped
])
def test_the_months_the_probe_saw_refused_are_months(start: str, end: str, zone: str) -> None:
    span = period(start, end, ZoneInfo(zone), NOW, timedelta(days=31))
    assert timedelta(days=31) - timedelta(hours=1) <= span.end - span.start <= \
        timedelta(days=31) + timedelta(hours=1)


def test_a_longer_period_by_the_clock_change_hour_is_still_refused() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    with pytest.raises(PeriodError):
        period("2026-10-01", "2026-11-01T01:00", berlin, NOW, timedelta(days=31))
