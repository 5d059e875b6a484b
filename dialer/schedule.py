"""Calling windows, retry delays, grade cadences: when a lead may be called next.

Pure: every function takes ``now`` (an aware datetime) and returns aware UTC datetimes.

A calling window is a span of local wall-clock time on some weekdays, e.g. 10:00-12:00
every day. "Inside the window" is decided on the lead's wall clock (``now`` converted to
its zone), so DST changes move the window with the clock, as people expect. A lead with
several candidate zones (see :mod:`dialer.numbers`) is inside only when it is inside in
every one of them. A window may end at 24:00, midnight at the end of its day (as a skill
group's business hours may close then): its ``end`` is 00:00, which can mean nothing else
for an end, since a window never ends before it starts.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from dialer.numbers import zone

ALL_DAYS = frozenset(range(7))  # Monday = 0, as datetime.weekday()
MIDNIGHT = time(0)  # as a window's end: 24:00, the end of its day
END_OF_DAY = "24:00"
# Window times as written: whole minutes HH:MM; an end may also be 24:00.
CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
UNTIL_PATTERN = rf"^(([01][0-9]|2[0-3]):[0-5][0-9]|{END_OF_DAY})$"
MIN_RETRY_DELAY = timedelta(minutes=1)
MAX_RETRY_DELAY = timedelta(days=90)
NEW_LEAD_FOLLOW_UP = timedelta(hours=24)  # the handbooks: new leads within 24 h
# How far ahead to look for an opening: a week covers every weekday set, plus DST slack.
_HORIZON_DAYS = 9


class ScheduleError(ValueError):
    """A rule that cannot be used (a window that never opens, a delay under a minute...).

    ``field`` names the offending setting, for the API's error report.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Outcome(enum.StrEnum):
    """How a dial attempt ended."""

    ANSWERED = "answered"  # a person, connected to an agent
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"  # congestion, unreachable, network error
    MACHINE = "machine"  # answering machine detected
    ABANDONED = "abandoned"  # a person answered and no agent was free in time


RETRYABLE = (Outcome.BUSY, Outcome.NO_ANSWER, Outcome.FAILED, Outcome.MACHINE, Outcome.ABANDONED)

DEFAULT_RETRY_DELAYS: Mapping[Outcome, timedelta] = {
    Outcome.BUSY: timedelta(minutes=30),
    Outcome.NO_ANSWER: timedelta(hours=2),
    Outcome.FAILED: timedelta(hours=4),
    Outcome.MACHINE: timedelta(hours=4),
    # Ofcom: no repeat within 72 h of an abandoned call unless an agent is reserved.
    Outcome.ABANDONED: timedelta(hours=72),
}


class Grade(enum.StrEnum):
    """Lead grades from the handbooks: H buys within 7 days, A a month, B 3 months, C later."""

    H = "H"
    A = "A"
    B = "B"
    C = "C"


# None: the grade gets no agent calls.
DEFAULT_CADENCES: Mapping[Grade, timedelta | None] = {
    Grade.H: timedelta(days=3),
    Grade.A: timedelta(days=7),
    Grade.B: timedelta(days=15),
    Grade.C: None,
}


@dataclass(frozen=True, slots=True)
class Window:
    """``start`` <= local time < ``end`` on ``days`` (Monday = 0); an ``end`` of
    :data:`MIDNIGHT` is 24:00, so the window holds to the end of its day."""

    start: time
    end: time
    days: frozenset[int] = ALL_DAYS

    @property
    def ends_at_midnight(self) -> bool:
        return self.end == MIDNIGHT

    def contains(self, local: datetime) -> bool:
        if local.weekday() not in self.days:
            return False
        now = local.time()
        return self.start <= now and (now < self.end or self.ends_at_midnight)


def hhmm(t: time, *, end: bool = False) -> str:
    """A window's time as written, ``HH:MM``; an end at midnight is ``24:00``."""
    if end and t == MIDNIGHT:
        return END_OF_DAY
    return f"{t.hour:02d}:{t.minute:02d}"


def check_clock(value: str, pattern: str, span: str, where: str) -> str:
    """``value`` if it matches ``pattern``, else a ValueError saying what is accepted
    (``span``) and in which clock (``where``)."""
    if not re.fullmatch(pattern, value):
        raise ValueError(f"{value!r} is not HH:MM ({span}) {where}")
    return value


def parse_hhmm(text: str) -> time:
    """``HH:MM`` -> a time; ``24:00`` (only meaningful as an end) -> :data:`MIDNIGHT`."""
    return MIDNIGHT if text == END_OF_DAY else time.fromisoformat(text)


DEFAULT_WINDOWS: tuple[Window, ...] = (
    Window(time(10, 0), time(12, 0)),
    Window(time(15, 0), time(18, 0)),
)


def validate_windows(windows: Sequence[Window], field: str = "windows") -> tuple[Window, ...]:
    """Windows that open at least once a week; raises :class:`ScheduleError` otherwise."""
    if not windows:
        raise ScheduleError(field, "no calling window: calls would never be placed")
    for i, w in enumerate(windows):
        name = f"{field}.{i}"
        if w.start.tzinfo is not None or w.end.tzinfo is not None:
            raise ScheduleError(name, "times are local wall-clock times, without a zone")
        if w.start >= w.end and not w.ends_at_midnight:
            raise ScheduleError(
                name, "the window never opens: end must be after start (24:00 ends it at "
                "midnight; split windows that cross midnight in two)"
            )
        if not w.days:
            raise ScheduleError(name, "the window never opens: no weekday given")
        if not w.days <= ALL_DAYS:
            raise ScheduleError(name, "weekdays are 0 (Monday) to 6 (Sunday)")
    return tuple(windows)


def validate_retry_delays(
    delays: Mapping[Outcome, timedelta], field: str = "retry_delays"
) -> dict[Outcome, timedelta]:
    """Every retryable outcome with a delay of at least a minute (defaults fill gaps)."""
    merged = dict(DEFAULT_RETRY_DELAYS)
    for outcome, delay in delays.items():
        if outcome not in RETRYABLE:
            raise ScheduleError(f"{field}.{outcome}", "not a retryable outcome")
        if delay < MIN_RETRY_DELAY:
            raise ScheduleError(f"{field}.{outcome}", "must be at least one minute")
        if delay > MAX_RETRY_DELAY:
            raise ScheduleError(f"{field}.{outcome}", "must be at most 90 days")
        merged[outcome] = delay
    return merged


def validate_cadences(
    cadences: Mapping[Grade, timedelta | None], field: str = "grade_cadences"
) -> dict[Grade, timedelta | None]:
    merged = dict(DEFAULT_CADENCES)
    for grade, every in cadences.items():
        if every is not None and not MIN_RETRY_DELAY <= every <= MAX_RETRY_DELAY:
            raise ScheduleError(f"{field}.{grade}", "must be between one minute and 90 days")
        merged[grade] = every
    return merged


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    return now.astimezone(UTC)


def in_window(windows: Sequence[Window], zones: Sequence[str], now: datetime) -> bool:
    """True when ``now`` is inside some window on the wall clock of every zone in ``zones``."""
    instant = _utc(now)
    for name in zones:
        local = instant.astimezone(zone(name))
        if not any(w.contains(local) for w in windows):
            return False
    return bool(zones)


def _offset_changes(name: str, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [start, end) where the zone's UTC offset changes (DST transitions)."""
    tz = zone(name)
    found: list[datetime] = []
    step = timedelta(hours=6)  # no zone changes offset twice within six hours
    t = start
    while t < end:
        u = min(t + step, end)
        if t.astimezone(tz).utcoffset() != u.astimezone(tz).utcoffset():
            lo, hi = t, u  # offset(lo) != offset(hi): bisect to the second
            while hi - lo > timedelta(seconds=1):
                mid = lo + (hi - lo) / 2
                if mid.astimezone(tz).utcoffset() == lo.astimezone(tz).utcoffset():
                    lo = mid
                else:
                    hi = mid
            found.append(hi.replace(microsecond=0))
        t = u
    return found


def _local_starts(windows: Sequence[Window], name: str, start: datetime) -> Iterable[datetime]:
    """UTC instants at which a window's start time occurs on the zone's wall clock.

    A wall time repeated when clocks go back occurs twice (fold 0 and 1); both count.
    A wall time skipped when clocks go forward maps to an instant near the gap; the
    transition instants from :func:`_offset_changes` cover the real opening there.
    """
    tz = zone(name)
    first: date = start.astimezone(tz).date() - timedelta(days=1)
    for d in range(_HORIZON_DAYS + 1):
        day = first + timedelta(days=d)
        for w in windows:
            if day.weekday() not in w.days:
                continue
            wall = datetime.combine(day, w.start)
            for fold in (0, 1):
                yield wall.replace(tzinfo=tz, fold=fold).astimezone(UTC)


def next_opening(
    windows: Sequence[Window], zones: Sequence[str], now: datetime
) -> datetime | None:
    """The first instant >= ``now`` inside the windows in every zone, or None within
    about a week (windows that never open are rejected by :func:`validate_windows`).

    Being inside can only begin at ``now``, at a window start on some zone's wall clock,
    or where a zone's clocks jump; so those candidates, checked in order, give the
    exact answer.
    """
    instant = _utc(now)
    if not zones:
        return None
    horizon = instant + timedelta(days=_HORIZON_DAYS)
    candidates = {instant}
    for name in zones:
        candidates.update(t for t in _local_starts(windows, name, instant) if t >= instant)
        candidates.update(_offset_changes(name, instant, horizon))
    for t in sorted(candidates):
        if t > horizon:
            break
        if in_window(windows, zones, t):
            return t
    return None


# Reference weeks (winter, summer) for "do these windows ever open in these zones".
_OPEN_CHECKS = (datetime(2025, 1, 6, tzinfo=UTC), datetime(2025, 7, 7, tzinfo=UTC))


def ever_opens(windows: Sequence[Window], zones: Sequence[str]) -> bool:
    """True if the windows are open in all ``zones`` at once some time in a winter week and
    in a summer week. Zones far apart may never share an open hour: 10-12 and 15-18 in
    Beijing are 07-09 and 12-15 in Karachi, outside both of Karachi's windows."""
    return all(next_opening(windows, zones, t) is not None for t in _OPEN_CHECKS)


@dataclass(frozen=True, slots=True)
class Cadence:
    """A campaign's retry and follow-up rules."""

    windows: tuple[Window, ...] = DEFAULT_WINDOWS
    retry_delays: Mapping[Outcome, timedelta] = field(
        default_factory=lambda: dict(DEFAULT_RETRY_DELAYS)
    )
    grade_cadences: Mapping[Grade, timedelta | None] = field(
        default_factory=lambda: dict(DEFAULT_CADENCES)
    )
    max_attempts: int = 5


@dataclass(frozen=True, slots=True)
class LeadTiming:
    """What the schedule needs to know about a lead."""

    zones: tuple[str, ...]
    created_at: datetime
    grade: Grade | None = None
    attempts: int = 0
    last_attempt_at: datetime | None = None
    last_outcome: Outcome | None = None
    callback_at: datetime | None = None


def due_at(lead: LeadTiming, rules: Cadence) -> datetime | None:
    """When the lead next becomes due, ignoring windows; None if never again.

    - grade C gets no agent calls;
    - a scheduled callback comes next (the customer asked for that time: a call asked
      for is not one more unsolicited attempt, so the maximum does not hold it back);
    - maximum attempts end the lead;
    - never attempted: due at once (the 24-hour follow-up rule is measured, not waited);
    - after a connected call: the grade's cadence (ungraded leads: the A cadence);
    - after a failed attempt: the retry delay of its outcome.
    """
    if lead.grade is Grade.C:
        return None
    if lead.callback_at is not None:
        return _utc(lead.callback_at)
    if lead.attempts >= rules.max_attempts:
        return None
    if lead.last_attempt_at is None or lead.last_outcome is None:
        return _utc(lead.created_at)
    last = _utc(lead.last_attempt_at)
    if lead.last_outcome is Outcome.ANSWERED:
        every = rules.grade_cadences.get(lead.grade or Grade.A)
        return None if every is None else last + every
    return last + rules.retry_delays[lead.last_outcome]


def next_eligible(lead: LeadTiming, rules: Cadence, now: datetime) -> datetime | None:
    """The first instant at or after both ``now`` and the lead's due time that lies in a
    calling window in the lead's zone(s); None if the lead is finished."""
    due = due_at(lead, rules)
    if due is None:
        return None
    return next_opening(rules.windows, lead.zones, max(due, _utc(now)))


def follow_up_deadline(created_at: datetime) -> datetime:
    """New leads are to be followed up within 24 hours (the handbooks' >= 90% target)."""
    return _utc(created_at) + NEW_LEAD_FOLLOW_UP
