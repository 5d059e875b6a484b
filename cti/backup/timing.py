"""When the next scheduled backup is due (pure: ``now`` and the last backup are given).

Two kinds of schedule, as ``CTI_BACKUP__AT`` or ``CTI_BACKUP__INTERVAL`` say:

- ``Daily``: once a day at a wall-clock time, in a time zone (default: the host's local
  time). On a day the clocks skip that time (spring forward) it runs as many minutes
  after the jump; on a day the time comes twice, the first time.
- ``Every``: a fixed number of seconds after the last backup.

The last backup is the newest complete generation, whoever made it (a manual
``cti backup`` counts). A slot missed while the service was down or standing by is caught
up at once; after a failed attempt the next one waits ``retry`` seconds, but never later
than the next regular slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


@dataclass(frozen=True, slots=True)
class Daily:
    at: time
    zone: tzinfo | None = None  # None: the host's local time

    def __str__(self) -> str:
        return f"daily at {self.at:%H:%M} ({self.zone or 'local time'})"


@dataclass(frozen=True, slots=True)
class Every:
    seconds: float

    def __str__(self) -> str:
        return f"every {self.seconds:g} s"


Schedule = Daily | Every


def _local(day: date, at: time, zone: tzinfo | None) -> datetime:
    """That wall-clock time, as a UTC instant (aware datetimes in a gap or a fold do not
    compare across zones)."""
    if zone is None:  # naive local time -> the host's zone, DST included (mktime)
        return datetime.combine(day, at).astimezone(UTC)
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC)


def slot_after(schedule: Schedule, instant: datetime) -> datetime:
    """The first regular slot strictly after ``instant`` (an aware datetime)."""
    if isinstance(schedule, Every):
        return instant + timedelta(seconds=schedule.seconds)
    day = instant.astimezone(schedule.zone).date()
    for offset in range(3):  # today's slot, or tomorrow's (a DST day may shift one)
        candidate = _local(day + timedelta(days=offset), schedule.at, schedule.zone)
        if candidate > instant:
            return candidate
    raise AssertionError("unreachable: a day later is always after")  # pragma: no cover


def next_due(schedule: Schedule, *, last: datetime | None, now: datetime,
             failed_at: datetime | None = None, retry: float = 900.0) -> datetime:
    """When to run next. ``last``: the newest complete backup (None: none yet, due now);
    ``failed_at``: when the last attempt since it failed."""
    if last is not None and last > now:
        # A generation dated in the future (made while the clock was wrong) must not hold
        # the schedule off until that date: it counts as made now.
        last = now
    due = now if last is None else slot_after(schedule, last)
    if failed_at is not None and (last is None or failed_at > last):
        regular = slot_after(schedule, failed_at)
        due = max(due, min(failed_at + timedelta(seconds=retry), regular))
    return due
