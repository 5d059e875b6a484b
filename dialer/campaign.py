"""A campaign's dialing rules as plain data, their JSON form, and the campaign state machine.

Pure. The store keeps the JSON form (``windows``, ``retry_delays`` in seconds,
``grade_cadences`` in days); :func:`rules_from_json` turns it back into the rules the
schedule and the compliance gate use.

States and named transitions (anything else is refused)::

    draft   --start-->  running
    running --pause-->  paused
    paused  --start-->  running      (resume)
    draft | running | paused --stop--> stopped   (final)
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from dialer.compliance import CampaignRules, FrequencyCap
from dialer.schedule import (
    Cadence,
    Grade,
    Outcome,
    ScheduleError,
    Window,
    hhmm,
    parse_hhmm,
    validate_cadences,
    validate_retry_delays,
    validate_windows,
)


class State(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"


class Transition(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    STOP = "stop"


_TRANSITIONS: Mapping[tuple[State, Transition], State] = {
    (State.DRAFT, Transition.START): State.RUNNING,
    (State.PAUSED, Transition.START): State.RUNNING,
    (State.RUNNING, Transition.PAUSE): State.PAUSED,
    (State.DRAFT, Transition.STOP): State.STOPPED,
    (State.RUNNING, Transition.STOP): State.STOPPED,
    (State.PAUSED, Transition.STOP): State.STOPPED,
}


class InvalidTransition(ValueError):
    def __init__(self, state: State, transition: Transition) -> None:
        super().__init__(f"cannot {transition.value} a {state.value} campaign")
        self.state = state
        self.transition = transition


def transition(state: State, event: Transition) -> State:
    """The state after ``event``; raises :class:`InvalidTransition`."""
    try:
        return _TRANSITIONS[(state, event)]
    except KeyError:
        raise InvalidTransition(state, event) from None


def allowed_transitions(state: State) -> list[Transition]:
    return [t for (s, t) in _TRANSITIONS if s is state]


# -- JSON form of the rules -----------------------------------------------------------


def windows_to_json(windows: Sequence[Window]) -> list[dict[str, Any]]:
    return [
        {"start": hhmm(w.start), "end": hhmm(w.end, end=True), "days": sorted(w.days)}
        for w in windows
    ]


def windows_from_json(raw: Sequence[Mapping[str, Any]]) -> tuple[Window, ...]:
    return tuple(
        Window(parse_hhmm(w["start"]), parse_hhmm(w["end"]),
               frozenset(int(d) for d in w["days"]))
        for w in raw
    )


def delays_to_json(delays: Mapping[Outcome, timedelta]) -> dict[str, int]:
    return {o.value: int(d.total_seconds()) for o, d in delays.items()}


def cadences_to_json(cadences: Mapping[Grade, timedelta | None]) -> dict[str, int | None]:
    return {g.value: None if d is None else int(d / timedelta(days=1)) for g, d in cadences.items()}


def rules_from_json(
    windows: Sequence[Mapping[str, Any]],
    retry_delays: Mapping[str, Any],
    grade_cadences: Mapping[str, Any],
    max_attempts: int,
    cap_per_day: int,
    cap_per_week: int,
) -> CampaignRules:
    """Stored JSON -> validated rules. Raises :class:`ScheduleError` on a bad value."""
    cadence = Cadence(
        windows=validate_windows(windows_from_json(windows)),
        retry_delays=validate_retry_delays(
            {Outcome(k): timedelta(seconds=int(v)) for k, v in retry_delays.items()}
        ),
        grade_cadences=validate_cadences(
            {Grade(k): None if v is None else timedelta(days=int(v))
             for k, v in grade_cadences.items()}
        ),
        max_attempts=max_attempts,
    )
    if max_attempts < 1:
        raise ScheduleError("max_attempts", "must be at least 1")
    try:
        cap = FrequencyCap(per_day=cap_per_day, per_week=cap_per_week)
    except ValueError as exc:
        raise ScheduleError("caps", str(exc)) from exc
    return CampaignRules(cadence=cadence, cap=cap)
