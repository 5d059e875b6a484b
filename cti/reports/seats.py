"""The seat workload report: per agent position, where its time went over a period and
how many calls it took. Pure: folds over the seat-state log, in order.

Time is cut at the period's ends: a seat that was on a call when the period began counts
from the beginning, and the state it was last in counts up to the end (or up to now for
a period not over yet). Offline time is not logged-in time and is not reported.

- ``logged_in_s``: every state but offline.
- ``occupancy``: time handling calls (on a call, wrapping up, busy on a call outside the
  skill groups) over the time available for them (logged in, not paused). The figure
  call centres staff by; ringing counts as waiting, as the phone is not yet answered.
- ``answered`` and ``not_answered``: calls offered to the seat (queue and campaign) that
  it answered, or that rang it out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from cti.domain.model import SeatState
from cti.reports.table import Column, Row, Table, integer, mean, number, ratio, text

#: The states reported, in the order a supervisor reads them.
STATES = (SeatState.AVAILABLE, SeatState.RINGING, SeatState.ON_CALL, SeatState.WRAP_UP,
          SeatState.BUSY, SeatState.PAUSED)
HANDLING = (SeatState.ON_CALL, SeatState.WRAP_UP, SeatState.BUSY)


@dataclass(frozen=True, slots=True)
class StateChange:
    """One row of the seat-state log: from `at` on, the seat was in `state`."""

    seat_id: str
    at: datetime
    state: str
    pause_reason: str | None = None


@dataclass(slots=True)
class SeatTime:
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    paused: dict[str, float] = field(default_factory=lambda: defaultdict(float))  # by reason


class SeatTimes:
    """Seconds per seat and state within [start, end), from the log in (seat, at) order.

    Feed each seat's last change before `start` (the state it began the period in), then
    its changes within the period.
    """

    def __init__(self, start: datetime, end: datetime) -> None:
        if end < start:
            raise ValueError("a period cannot end before it starts")
        self._start, self._end = start, end
        self.seats: dict[str, SeatTime] = {}
        self._open: StateChange | None = None

    def add(self, change: StateChange) -> None:
        current = self._open
        if current is not None:
            if change.seat_id == current.seat_id:
                if change.at < current.at:
                    raise ValueError(f"seat {change.seat_id}: log out of order at {change.at}")
                self._close(current, change.at)
            else:
                self._close(current, self._end)
        self.seats.setdefault(change.seat_id, SeatTime())
        self._open = change

    def finish(self) -> dict[str, SeatTime]:
        if self._open is not None:
            self._close(self._open, self._end)
            self._open = None
        return self.seats

    def _close(self, change: StateChange, until: datetime) -> None:
        begin = max(change.at, self._start)
        end = min(until, self._end)
        if end <= begin or change.state == SeatState.OFFLINE:
            return
        seconds = (end - begin).total_seconds()
        times = self.seats[change.seat_id]
        times.seconds[change.state] += seconds
        if change.state == SeatState.PAUSED:
            times.paused[change.pause_reason or "unspecified"] += seconds


@dataclass(frozen=True, slots=True)
class Offers:
    answered: int = 0
    not_answered: int = 0


def seat_table(times: Mapping[str, SeatTime], offers: Mapping[str, Offers],
               reasons: Iterable[str] = ()) -> Table:
    """One row per seat that was logged in or offered a call; a column per pause reason
    (those given, then any other seen) so that pauses can be told apart."""
    seen = {r for t in times.values() for r in t.paused}
    given = list(dict.fromkeys(reasons))
    all_reasons = given + sorted(seen - set(given))
    columns: list[Column] = [
        text("seat_id", "Seat", 32),
        integer("logged_in_s", "Logged in (s)"),
        *(integer(f"{s}_s", f"{s.replace('_', ' ').capitalize()} (s)") for s in STATES),
        *(integer(f"paused_{r}_s", f"Paused: {r} (s)") for r in all_reasons),
        integer("answered", "Calls answered"),
        integer("not_answered", "Calls rung out"),
        number("handle_avg_s", "Average handle time (s)"),
        number("occupancy", "Occupancy"),
    ]
    rows: list[Row] = []
    for seat_id in sorted(set(times) | set(offers)):
        t = times.get(seat_id, SeatTime())
        took = offers.get(seat_id, Offers())
        logged_in = sum(t.seconds.values())
        handling = sum(t.seconds[s] for s in HANDLING)
        working = t.seconds[SeatState.ON_CALL] + t.seconds[SeatState.WRAP_UP]
        rows.append((
            seat_id, round(logged_in),
            *(round(t.seconds[s]) for s in STATES),
            *(round(t.paused.get(r, 0.0)) for r in all_reasons),
            took.answered, took.not_answered,
            mean(working, took.answered),
            ratio(handling, logged_in - t.seconds[SeatState.PAUSED]),
        ))
    return Table(columns, rows)
