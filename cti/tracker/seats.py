"""The seat state machine.

A seat's state is derived from a few facts Asterisk tells us (memberships, pause, the queue
call it is offered or connected to, its device state, a wrap-up deadline). Each AMI fact
arrives as a named transition; ``apply`` returns the new seat and, if the derived state
changed, the event saying ``from -[transition]-> to``.

Derivation, first match wins:

    not logged in to any group, or device unavailable  -> offline
    connected to a queue call                          -> on_call
    offered a queue call                               -> ringing
    device in use by a call outside the queues         -> busy
    paused (with reason)                               -> paused
    inside its wrap-up time                            -> wrap_up
    otherwise                                          -> available
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass

from cti.domain.events import SeatStateChanged, SeatUpdated
from cti.domain.model import Seat, SeatState

UNAVAILABLE_DEVICE = frozenset({"UNAVAILABLE", "INVALID"})
# RINGING/RINGINUSE are left out: a queue offer rings the device before AgentCalled arrives.
BUSY_DEVICE = frozenset({"INUSE", "BUSY", "ONHOLD"})
_CHANNEL_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


def derive(seat: Seat) -> SeatState:
    if not seat.skill_groups or seat.device_state in UNAVAILABLE_DEVICE:
        return SeatState.OFFLINE
    if seat.call_id is not None:
        return SeatState.ON_CALL if seat.connected else SeatState.RINGING
    if seat.device_state in BUSY_DEVICE:
        return SeatState.BUSY
    if seat.paused:
        return SeatState.PAUSED
    if seat.wrap_up_until is not None:
        return SeatState.WRAP_UP
    return SeatState.AVAILABLE


# --- transitions: each is a small record of what Asterisk said ------------------------


@dataclass(frozen=True, slots=True)
class Login:
    group: str
    paused: bool
    reason: str | None
    name = "login"


@dataclass(frozen=True, slots=True)
class Logout:
    group: str
    name = "logout"


@dataclass(frozen=True, slots=True)
class Pause:
    paused: bool
    reason: str | None

    @property
    def name(self) -> str:
        return "pause" if self.paused else "unpause"


@dataclass(frozen=True, slots=True)
class Offer:
    call_id: str
    name = "offer"


@dataclass(frozen=True, slots=True)
class NoAnswer:
    call_id: str
    name = "no_answer"


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """The offer ended without this seat answering or timing out: another seat answered
    (``ringall``: app_queue hangs up the other legs without an AgentRingNoAnswer), or the
    seat's leg was hung up (the caller's maximum wait ran out, the agent rejected it)."""

    call_id: str
    name = "offer_withdrawn"


@dataclass(frozen=True, slots=True)
class Answer:
    call_id: str
    name = "answer"


@dataclass(frozen=True, slots=True)
class Complete:
    """The queue call ended (AgentComplete) or the seat dropped it before bridging (dump)."""

    call_id: str
    wrap_up_until: float | None
    name = "complete"


@dataclass(frozen=True, slots=True)
class WrapUpEnd:
    name = "wrap_up_end"


@dataclass(frozen=True, slots=True)
class Device:
    state: str
    name = "device"


Transition = (Login | Logout | Pause | Offer | NoAnswer | Withdrawn | Answer | Complete
              | WrapUpEnd | Device)


def _next(seat: Seat, t: Transition) -> Seat:
    match t:
        case Login(group=group, paused=paused, reason=reason):
            return dataclasses.replace(
                seat,
                skill_groups=seat.skill_groups | {group},
                paused=paused,
                pause_reason=reason if paused else None,
            )
        case Logout(group=group):
            groups = seat.skill_groups - {group}
            if groups:
                return dataclasses.replace(seat, skill_groups=groups)
            return dataclasses.replace(
                seat, skill_groups=groups, paused=False, pause_reason=None, wrap_up_until=None
            )
        case Pause(paused=paused, reason=reason):
            return dataclasses.replace(
                seat, paused=paused, pause_reason=(reason or None) if paused else None
            )
        case Offer(call_id=call_id):
            return dataclasses.replace(seat, call_id=call_id, connected=False, wrap_up_until=None)
        case NoAnswer(call_id=call_id) | Withdrawn(call_id=call_id):
            if seat.call_id != call_id or seat.connected:
                return seat
            return dataclasses.replace(seat, call_id=None, connected=False)
        case Answer(call_id=call_id):
            return dataclasses.replace(seat, call_id=call_id, connected=True)
        case Complete(call_id=call_id, wrap_up_until=until):
            if seat.call_id not in (call_id, None):
                return seat  # already offered the next call
            # The device's NOT_INUSE may lag AgentComplete; until it says otherwise the
            # call is over, so a stale INUSE must not make the seat look busy.
            return dataclasses.replace(
                seat, call_id=None, connected=False, wrap_up_until=until, device_state="NOT_INUSE"
            )
        case WrapUpEnd():
            return dataclasses.replace(seat, wrap_up_until=None)
        case Device(state=state):
            if state == seat.device_state:
                return seat
            return dataclasses.replace(seat, device_state=state)
    raise AssertionError(f"unhandled transition {t!r}")  # pragma: no cover


def apply(seat: Seat, t: Transition,
          at: float) -> tuple[Seat, SeatStateChanged | SeatUpdated | None]:
    """Apply one transition; return the new seat and the change event, if any: a state
    change (or a new pause reason while paused), or an update of what the seat shows."""
    moved = _next(seat, t)
    state = derive(moved)
    if state is seat.state:
        if moved.pause_reason != seat.pause_reason and state is SeatState.PAUSED:
            moved = dataclasses.replace(moved, since=at)
            return moved, SeatStateChanged(moved, seat.state, t.name, at)
        if _shown(moved) != _shown(seat):
            return moved, SeatUpdated(moved, t.name, at)
        return moved, None
    moved = dataclasses.replace(moved, state=state, since=at)
    return moved, SeatStateChanged(moved, seat.state, t.name, at)


def _shown(seat: Seat) -> tuple[object, ...]:
    """What a seat shows beyond its state (the device state alone changes too often to
    be worth a message: the state derived from it is)."""
    return (seat.skill_groups, seat.paused, seat.pause_reason, seat.call_id,
            seat.wrap_up_until)


def seat_id_of(interface_or_channel: str) -> str | None:
    """``PJSIP/1001`` or ``PJSIP/1001-0000002a`` -> ``1001``; other technologies -> None."""
    tech, sep, rest = interface_or_channel.partition("/")
    if not sep or tech.upper() != "PJSIP":
        return None
    endpoint = _CHANNEL_SUFFIX.sub("", rest)
    return endpoint or None
