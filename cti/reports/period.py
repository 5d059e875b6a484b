"""The period a report covers, from what a person types. Pure.

``from`` and ``to`` are dates (``2026-12-01``: midnight in the report's zone) or times
(ISO 8601; without an offset, in the report's zone). The period is [from, to): a month is
``from=2026-11-01&to=2026-12-01``. Without ``from``, today in the zone; without ``to``,
the same time the next day (a day of 23 or 25 hours when the clocks change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo


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
    try:
        if len(typed) == 10:
            day = date.fromisoformat(typed)
            return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
        at = datetime.fromisoformat(typed)
    except ValueError:
        raise PeriodError(field, f"not a date (2026-12-01) or an ISO 8601 time: {typed!r}"
                          ) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=zone)
    return at.astimezone(UTC)


def _a_day_after(at: datetime, zone: tzinfo) -> datetime:
    """The same wall-clock time the next day: 23 or 25 hours on the days clocks change."""
    wall = at.astimezone(zone).replace(tzinfo=None) + timedelta(days=1)
    return wall.replace(tzinfo=zone).astimezone(UTC)


def period(start: str | None, end: str | None, zone: tzinfo, now: datetime,
           longest: timedelta) -> Period:
    if start is None:
        today = now.astimezone(zone).date()
        begin = datetime(today.year, today.month, today.day, tzinfo=zone).astimezone(UTC)
    else:
        begin = _moment("from", start, zone)
    finish = _a_day_after(begin, zone) if end is None else _moment("to", end, zone)
    if finish <= begin:
        raise PeriodError("to", "must be after from")
    if finish - begin > longest:
        raise PeriodError("to", f"the period is longer than this report allows "
                                f"({longest.days} days): ask for a shorter one")
    return Period(begin, finish)
