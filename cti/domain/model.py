"""Plain, immutable records of what the service mirrors from Asterisk.

A *seat* is an agent position: one PJSIP endpoint (``PJSIP/1001`` is seat ``1001``).
A *skill group* is an Asterisk queue. A *call* is everything that shares one Linkedid,
prefixed by the node name (``node1:1732530000.12``) so that ids stay unique across nodes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

#: The Originate channel id (hence the Linkedid) of a supervisor's listening leg: the
#: mirror follows the leg for the supervision service, but it is no call of the centre's.
SUPERVISION_LEG_PREFIX = "cti-spy-"


def is_supervision_leg(call_id: str) -> bool:
    """Whether ``call_id`` (``node:linkedid``) is a supervisor's listening leg."""
    return call_id.partition(":")[2].startswith(SUPERVISION_LEG_PREFIX)


class SeatState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"
    BUSY = "busy"


class CallState(enum.StrEnum):
    DIALING = "dialing"  # channels exist, nobody answered yet and not in a queue
    QUEUED = "queued"  # waiting in a skill group
    RINGING = "ringing"  # a seat is being offered the call
    ON_CALL = "on_call"  # a seat answered
    ENDED = "ended"


class CallDirection(enum.StrEnum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


@dataclass(frozen=True, slots=True)
class Seat:
    """One agent position as Asterisk sees it now."""

    id: str
    node: str
    interface: str  # e.g. PJSIP/1001
    state: SeatState = SeatState.OFFLINE
    pause_reason: str | None = None
    skill_groups: frozenset[str] = frozenset()
    device_state: str = "UNKNOWN"  # Asterisk device state name: NOT_INUSE, INUSE, RINGING...
    call_id: str | None = None  # the queue call the seat is ringing for or talking on
    connected: bool = False  # True once the seat answered call_id
    paused: bool = False
    since: float | None = None  # epoch seconds of the last state change
    wrap_up_until: float | None = None


@dataclass(frozen=True, slots=True)
class SkillGroupMember:
    seat_id: str
    interface: str
    penalty: int
    paused: bool
    pause_reason: str | None
    status: int  # app_queue member status, 1 not in use ... 8 on hold
    calls_taken: int
    wrapup_seconds: int


@dataclass(frozen=True, slots=True)
class SkillGroup:
    """A queue: its parameters and who is in it."""

    name: str
    node: str
    strategy: str = ""
    calls_waiting: int = 0
    completed: int = 0
    abandoned: int = 0
    members: dict[str, SkillGroupMember] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Call:
    """A call: all channels sharing one Linkedid, with the figures history needs."""

    id: str
    node: str
    linkedid: str
    direction: CallDirection
    state: CallState
    customer_number: str
    started_at: float
    channels: frozenset[str] = frozenset()  # live channel uniqueids
    skill_group: str | None = None
    seat_id: str | None = None
    queued_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    # When the dialplan started recording it (AMI MixMonitorStart), if it did.
    recording_started_at: float | None = None
    # When it left its skill group unanswered and went on in the dialplan (the maximum
    # wait, to voicemail); None again when it joins one.
    left_queue_at: float | None = None
    wait_seconds: int | None = None  # time in queue until answered, abandoned or left
    talk_seconds: int | None = None
    hangup_cause: str | None = None
    abandoned: bool = False
    campaign_id: int | None = None  # outbound calls the service placed for a campaign
