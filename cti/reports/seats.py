"""The seat workload report: per agent position, where its time went over a period and
how many calls it took.

PostgreSQL walks the seat-state log and sums each seat's seconds per state and pause
reason (``cti/db/report_queries.py``: a month of a busy centre's log is too many rows to
fetch); this module turns the sums into the report. Pure.

Time is cut at the period's ends: a seat that was on a call when the period began counts
from the beginning, and the state it was last in counts up to the end (or up to now for
a period not over yet). Offline time is not logged-in time and is not reported.

Every seat is a row, zeros included: those registered when the period ended and any other
offered a call in it. ``display_name`` is the seat's name (the agent's, as
``PUT /v1/seats/{id}`` set it) as it is now.

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
from dataclasses import dataclass

from cti.domain.model import SeatState
from cti.reports.table import Column, Row, Table, integer, mean, number, ratio, text

#: The states reported, in the order a supervisor reads them.
STATES = (SeatState.AVAILABLE, SeatState.RINGING, SeatState.ON_CALL, SeatState.WRAP_UP,
          SeatState.BUSY, SeatState.PAUSED)
HANDLING = (SeatState.ON_CALL, SeatState.WRAP_UP, SeatState.BUSY)


@dataclass(frozen=True, slots=True)
class StateSeconds:
    """A seat's seconds in one state within the period, summed (the database's sum).
    ``pause_reason``: for ``paused``, the reason given (None or empty: unspecified)."""

    seat_id: str
    state: str
    seconds: float
    pause_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Offers:
    answered: int = 0
    not_answered: int = 0


def seat_table(seats: Mapping[str, str | None], seconds: Iterable[StateSeconds],
               offers: Mapping[str, Offers], reasons: Iterable[str] = ()) -> Table:
    """One row per seat (`seats`: id -> display name; and any other with time or offers);
    a column per pause reason (those given, then any other seen) so that pauses can be
    told apart."""
    times: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    paused: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for s in seconds:
        times[s.seat_id][s.state] += s.seconds
        if s.state == SeatState.PAUSED:
            paused[s.seat_id][s.pause_reason or "unspecified"] += s.seconds
    seen = {r for by_reason in paused.values() for r in by_reason}
    given = list(dict.fromkeys(reasons))
    all_reasons = given + sorted(seen - set(given))
    columns: list[Column] = [
        text("seat_id", "Seat"),
        text("display_name", "Agent's name"),
        integer("logged_in_s", "Logged in (s)"),
        *(integer(f"{s}_s", f"{s.replace('_', ' ').capitalize()} (s)") for s in STATES),
        *(integer(f"paused_{r}_s", f"Paused: {r} (s)") for r in all_reasons),
        integer("answered", "Calls answered"),
        integer("not_answered", "Calls rung out"),
        number("handle_avg_s", "Average handle time (s)"),
        number("occupancy", "Occupancy"),
    ]
    rows: list[Row] = []
    for seat_id in sorted(set(seats) | set(times) | set(offers)):
        t = times.get(seat_id, {})
        took = offers.get(seat_id, Offers())
        logged_in = sum(t.values())  # the database left offline time out
        handling = sum(t.get(s, 0.0) for s in HANDLING)
        working = t.get(SeatState.ON_CALL, 0.0) + t.get(SeatState.WRAP_UP, 0.0)
        reasons_seen = paused.get(seat_id, {})
        rows.append((
            seat_id, seats.get(seat_id),
            round(logged_in),
            *(round(t.get(s, 0.0)) for s in STATES),
            *(round(reasons_seen.get(r, 0.0)) for r in all_reasons),
            took.answered, took.not_answered,
            mean(working, took.answered),
            ratio(handling, logged_in - t.get(SeatState.PAUSED, 0.0)),
        ))
    return Table(columns, rows)
