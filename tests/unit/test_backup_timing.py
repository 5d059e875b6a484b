"""Generation names, retention and when a scheduled backup is due (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.backup import generations
from cti.backup.timing import Daily, Every, next_due, slot_after

PARIS = ZoneInfo("Europe/Paris")
SHANGHAI = ZoneInfo("Asia/Shanghai")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- names and retention -----------------------------------------------------------------

def test_a_generation_is_named_by_its_utc_start_and_made_unique() -> None:
    at = datetime(2026, 11, 25, 10, 0, 5, tzinfo=SHANGHAI)
    assert generations.name_for(at, set()) == "2026-11-25T020005Z"
    assert generations.name_for(at, {"2026-11-25T020005Z"}) == "2026-11-25T020005Z.1"
    assert generations.name_for(at, {"2026-11-25T020005Z", "2026-11-25T020005Z.1"}) \
        == "2026-11-25T020005Z.2"
    assert generations.parse("2026-11-25T020005Z.2") == (utc(2026, 11, 25, 2, 0, 5), 2)


def test_a_new_generation_is_always_named_the_newest() -> None:
    """The clock stepped back, or an older one of the same second was pruned."""
    assert generations.name_for(utc(2026, 11, 25, 1, 0), {"2026-11-25T020005Z"}) \
        == "2026-11-25T020005Z.1"
    assert generations.name_for(utc(2026, 11, 25, 2, 0, 5), {"2026-11-25T020005Z.1"}) \
        == "2026-11-25T020005Z.2"


@pytest.mark.parametrize("name", ["", "latest", ".partial-x", "2026-11-25", "2026-13-25T020005Z",
                                  "2026-11-25T020005Z.0", "2026-11-25T020005Z/..", "manifest.json"])
def test_other_names_are_not_generations(name: str) -> None:
    assert not generations.is_name(name)


def test_retention_removes_the_oldest_beyond_keep_in_time_order() -> None:
    names = ["2026-11-25T020000Z", "2026-11-23T020000Z.1", "lost+found", "2026-11-24T020000Z",
             "2026-11-23T020000Z"]
    assert generations.beyond_keep(names, 2) == ["2026-11-23T020000Z", "2026-11-23T020000Z.1"]
    assert generations.beyond_keep(names, 10) == []


@given(st.lists(st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2040, 1, 1)),
                unique=True, max_size=12), st.integers(-1, 15))
def test_retention_always_keeps_the_newest(starts: list[datetime], keep: int) -> None:
    names: set[str] = set()
    for at in starts:
        names.add(generations.name_for(at.replace(tzinfo=UTC), names))
    removed = generations.beyond_keep(names, keep)
    kept = generations.oldest_first(names - set(removed))
    assert len(kept) == min(len(names), max(1, keep))
    if names:
        assert kept[-1] == generations.oldest_first(names)[-1]
        first_kept = generations.parse(kept[0])
        assert first_kept is not None
        assert all((generations.parse(old) or first_kept) < first_kept for old in removed)


# -- when the next backup is due ---------------------------------------------------------

def test_daily_at_two_in_the_zone_given() -> None:
    daily = Daily(time(2, 0), SHANGHAI)  # 02:00 in Shanghai is 18:00 UTC the day before
    assert slot_after(daily, utc(2026, 11, 24, 17, 0)) == utc(2026, 11, 24, 18, 0)
    assert slot_after(daily, utc(2026, 11, 24, 18, 0)) == utc(2026, 11, 25, 18, 0)


def test_daily_on_the_days_clocks_change() -> None:
    daily = Daily(time(2, 30), PARIS)
    # 29 March 2026: 02:00 -> 03:00 in Paris; 02:30 does not exist: it runs at 03:30 CEST.
    assert slot_after(daily, utc(2026, 3, 28, 12, 0)) == utc(2026, 3, 29, 1, 30)
    # 25 October 2026: 02:30 comes twice; it runs at the first (CEST, 00:30 UTC), once.
    first = slot_after(daily, utc(2026, 10, 24, 12, 0))
    assert first == utc(2026, 10, 25, 0, 30)
    assert slot_after(daily, first) == utc(2026, 10, 26, 1, 30)


def test_no_backup_yet_is_due_now() -> None:
    now = utc(2026, 11, 25, 10, 0)
    assert next_due(Daily(time(2, 0), PARIS), last=None, now=now) == now


def test_a_missed_slot_is_caught_up_at_once() -> None:
    """Given yesterday's backup and the service down at today's 02:00, when it is back at
    10:00, then the backup is due (in the past), not tomorrow."""
    daily = Daily(time(2, 0), UTC)
    due = next_due(daily, last=utc(2026, 11, 24, 2, 0, 3), now=utc(2026, 11, 25, 10, 0))
    assert due == utc(2026, 11, 25, 2, 0)


def test_a_manual_backup_counts_as_the_last_one() -> None:
    every = Every(6 * 3600)
    assert next_due(every, last=utc(2026, 11, 25, 9, 0), now=utc(2026, 11, 25, 10, 0)) \
        == utc(2026, 11, 25, 15, 0)


def test_after_a_failure_the_next_try_waits_retry_but_not_past_the_next_slot() -> None:
    daily = Daily(time(2, 0), UTC)
    last, failed = utc(2026, 11, 24, 2, 0), utc(2026, 11, 25, 2, 0, 4)
    assert next_due(daily, last=last, now=failed, failed_at=failed, retry=900) \
        == failed + timedelta(seconds=900)
    hourly = Every(600)
    assert next_due(hourly, last=last, now=failed, failed_at=failed, retry=900) \
        == failed + timedelta(seconds=600)
    assert next_due(daily, last=None, now=failed, failed_at=failed, retry=60) \
        == failed + timedelta(seconds=60)


def test_a_failure_before_the_last_backup_no_longer_delays() -> None:
    every = Every(3600)
    last = utc(2026, 11, 25, 9, 0)
    assert next_due(every, last=last, now=last, failed_at=last - timedelta(minutes=5)) \
        == last + timedelta(hours=1)


def test_a_generation_dated_in_the_future_does_not_hold_the_schedule_off() -> None:
    """Made while the clock was a year ahead; the clock is right again."""
    daily = Daily(time(2, 0), UTC)
    now = utc(2026, 11, 25, 12, 0)
    due = next_due(daily, last=utc(2027, 11, 25, 2, 0), now=now)
    assert due == utc(2026, 11, 26, 2, 0)
