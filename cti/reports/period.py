"""The period a report covers, from what a person types. Pure.

``from`` and ``to`` are dates (``2026-12-01``: midnight in the report's zone) or times
(ISO 8601; without an offset, in the report's zone). The period is [from, to): a month is
``from=2026-11-01&to=2026-12-01``. Without ``from``, today in the zone; without ``to``,
the same time the next day (a day of 23 or 25 hours when the clocks change).

A report's longest period is counted on the zone's calendar, as the period was typed: a
month is a month (October in Berlin lasts 31 days and an hour, and is 31 days), a day of
23 hours is a day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from cti.utc import OutOfRange, in_zone, later, to_utc


class PeriodError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


def _moment(field: str, typed: str, zone: tzinfo) -> datetime:
    """What was typed, as an aware time still on its own clock."""
    try:
        if len(typed) == 10:
            day = date.fromisoformat(typed)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        at = datetime.fromisoformat(typed)
    except ValueError:
        raise PeriodError(field, f"not a date (2026-12-01) or an ISO 8601 time: {typed!r}"
                          ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=zone)


def _in_utc(field: str, at: datetime, zone: tzinfo) -> datetime:
    """``at`` in UTC. It must be on the calendar in the report's zone too, where the
    report writes its times and names its file."""
    try:
        in_zone(at, zone)
        return to_utc(at)
    except OutOfRange as exc:
        raise PeriodError(field, str(exc)) from None


def _a_day_after(at: datetime, zone: tzinfo) -> datetime:
    """The same wall-clock time the next day, on the zone's clock: 23 or 25 hours on the
    days clocks change."""
    wall = in_zone(at, zone).replace(tzinfo=None)
    return later(wall, timedelta(days=1), zone).replace(tzinfo=zone)


def _wall(at: datetime, zone: tzinfo) -> datetime:
    """``at`` on the zone's wall clock, naive: as typed when typed on that clock (so a
    midnight the clocks skip is still that midnight), else moved there."""
    return at.replace(tzinfo=None) if at.tzinfo is zone else \
        in_zone(at, zone).replace(tzinfo=None)


def period(start: str | None, end: str | None, zone: tzinfo, now: datetime,
           longest: timedelta) -> Period:
    """The period typed; `longest` is counted on the zone's calendar (wall-clock time)."""
    if start is None:
        today = now.astimezone(zone).date()
        first = datetime(today.year, today.month, today.day, tzinfo=zone)
        begin = first.astimezone(UTC)
    else:
        first = _moment("from", start, zone)
        begin = _in_utc("from", first, zone)
    if end is not None:
        last = _moment("to", end, zone)
        finish = _in_utc("to", last, zone)
    else:
        try:  # the default end comes from ``from``: a ``from`` on the last day has none
            last = _a_day_after(begin, zone)
            finish = _in_utc("from", last, zone)
        except OutOfRange as exc:
            raise PeriodError("from", str(exc)) from None
    if finish <= begin:
        raise PeriodError("to", "must be after from")
    if _wall(last, zone) - _wall(first, zone) > longest:
        raise PeriodError("to", f"the period is longer than this report allows "
                                f"({longest.days} days): ask for a shorter one")
    return Period(begin, finish)
