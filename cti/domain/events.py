"""Domain events: what the tracker concludes from AMI traffic.

The bus fans these out; the history writer, the WebSocket stream and the dialer consume
them. They are frozen dataclasses so that one instance can be shared by every consumer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cti.domain.model import Call, Seat, SeatState, is_supervision_leg


@dataclass(frozen=True, slots=True)
class SeatStateChanged:
    seat: Seat
    previous: SeatState
    transition: str  # the named transition of the seat state machine
    at: float


@dataclass(frozen=True, slots=True)
class SeatUpdated:
    """A seat changed what it shows without changing state: logged in to one more group,
    paused while on a call, offered a call while wrapping up... For the live stream only:
    the seat-state log records states."""

    seat: Seat
    transition: str
    at: float


@dataclass(frozen=True, slots=True)
class CallUpdated:
    """A call started or changed (queued, answered, moved to another seat...)."""

    call: Call
    at: float


@dataclass(frozen=True, slots=True)
class CallEnded:
    call: Call
    at: float


@dataclass(frozen=True, slots=True)
class CallTimelineEntry:
    """One line of a call's timeline: joined queue, seat rung, seat did not answer..."""

    call_id: str
    kind: str
    at: float
    seat_id: str | None = None
    skill_group: str | None = None
    detail: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class SkillGroupChanged:
    """A skill group's figures or members changed (calls waiting, a member's status...).

    Only the name: the tracker updates skill groups in place (member events are frequent),
    so a consumer that needs the figures reads them from the live view when it handles
    this event, which is synchronously after the change.
    """

    node: str
    name: str
    at: float
    seat_id: str | None = None  # the member whose record changed; None: the group's figures


@dataclass(frozen=True, slots=True)
class MirrorRebuilt:
    """The mirror of one node was rebuilt from Asterisk's own view after a (re)connect."""

    node: str
    at: float


@dataclass(frozen=True, slots=True)
class NodeConnectionChanged:
    node: str
    connected: bool
    at: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class RecordingCatalogued:
    """A call's recording is in the catalogue and its file can be downloaded.

    ``duration_seconds`` is measured from the audio; ``call_seconds`` is how long the
    recorded part of the call lasted by its events (None if unknown): the audio is shorter
    when a phone stopped sending media (see ``recordings.catalogue``).
    """

    recording_id: int
    call_id: str
    direction: str | None
    seat_id: str | None
    customer_number: str | None
    skill_group: str | None
    campaign: str | None
    started_at: float
    duration_seconds: float
    call_seconds: float | None
    channels: int
    size_bytes: int
    at: float


@dataclass(frozen=True, slots=True)
class RecordingsDeleted:
    """The retention sweep deleted one batch of recordings (files and rows)."""

    batch_id: int
    call_ids: tuple[str, ...]  # one recording per call
    at: float


@dataclass(frozen=True, slots=True)
class DtmfReceived:
    """A DTMF digit received on one channel (AMI DTMFEnd, direction Received)."""

    node: str
    call_id: str
    uniqueid: str
    digit: str
    at: float


DomainEvent = (
    SeatStateChanged
    | SeatUpdated
    | CallUpdated
    | CallEnded
    | CallTimelineEntry
    | SkillGroupChanged
    | MirrorRebuilt
    | NodeConnectionChanged
    | RecordingCatalogued
    | RecordingsDeleted
    | DtmfReceived
)


def about_supervision_leg(event: DomainEvent) -> bool:
    """Whether ``event`` is about a supervisor's listening leg, which history, the calls
    list and the wallboards leave out (the supervision service follows it)."""
    if isinstance(event, CallUpdated | CallEnded):
        return is_supervision_leg(event.call.id)
    if isinstance(event, CallTimelineEntry | DtmfReceived):
        return is_supervision_leg(event.call_id)
    return False
