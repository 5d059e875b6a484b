"""Response and query models of the REST API (v1).

Times leave the API as ISO-8601 in UTC. Live records (``cti.domain.model``) carry epoch
seconds; history records carry datetimes; both are converted here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from cti.domain.model import Call, CallDirection, CallState, Seat, SeatState, SkillGroup
from cti.utc import to_utc

T = TypeVar("T")

# Identifiers accepted in paths and filters: what Asterisk and our config produce, nothing
# that could smuggle CR/LF or wildcards further down.
SEAT_ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
SKILL_GROUP_PATTERN = r"^[A-Za-z0-9_.-]{1,80}$"
CALL_ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,128}$"
CUSTOMER_NUMBER_PATTERN = r"^\+?[0-9]+$"  # digits with an optional leading +
CUSTOMER_NUMBER_MAX_LENGTH = 32

# Names and descriptions people give things are free text, shown on wallboards and in
# CSV reports and logs, one line each: no C0 or C1 control character (CR, LF, tab, ESC)
# and no Unicode line or paragraph separator. (Regex escapes, for patterns too.)
CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")


def one_line(value: str) -> str:
    """``value`` if it holds no control character; the validation error otherwise."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"holds the control character U+{ord(found.group()):04X}: a name "
                         "is one line of printable text")
    return value


#: A display name or description: free text of one printable line.
Label = Annotated[str, AfterValidator(one_line)]

# app_queue member status (``QueueMemberStatus`` ``Status``), as names clients can read.
MEMBER_STATUS_NAMES: dict[int, str] = {
    0: "unknown",
    1: "not_in_use",
    2: "in_use",
    3: "busy",
    4: "invalid",
    5: "unavailable",
    6: "ringing",
    7: "ring_in_use",
    8: "on_hold",
}

CallStatusFilter = Literal["active", "ended", "all"]


def epoch_to_datetime(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, tz=UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """Naive datetimes are taken as UTC; aware ones are converted to UTC."""
    return None if value is None else to_utc(value)


#: A time a client sends (query or body), in UTC once validated; naive ones are taken as
#: UTC. One at the very edge of the range, whose offset moves it out, is a 422 naming it
#: (:class:`cti.utc.OutOfRange` is the ``ValueError`` pydantic reports).
UtcDateTime = Annotated[datetime, AfterValidator(to_utc)]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ProblemOut(_Out):
    """Every error response: a stable ``code``, a message for people, and specifics."""

    code: str = Field(examples=["invalid_input"])
    message: str = Field(examples=["invalid limit"])
    details: dict[str, Any] = Field(
        default_factory=dict,
        examples=[{"fields": [{"field": "limit", "in": "query", "message": "..."}]}],
    )


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries documenting problem documents for ``statuses``."""
    return {status: {"model": ProblemOut} for status in statuses}


class Page(_Out, Generic[T]):
    items: list[T]
    total: int = Field(description="How many items match, across all pages.")
    limit: int
    offset: int


class SeatOut(_Out):
    id: str
    display_name: str | None = None
    node: str
    interface: str
    state: SeatState
    pause_reason: str | None = None
    skill_groups: list[str] = Field(default_factory=list)
    device_state: str = "UNKNOWN"
    call_id: str | None = None
    since: datetime | None = None
    wrap_up_until: datetime | None = None
    live: bool = Field(description="False for a configured seat that Asterisk does not know yet.")

    @classmethod
    def from_live(cls, seat: Seat, display_name: str | None = None) -> SeatOut:
        return cls(
            id=seat.id,
            display_name=display_name,
            node=seat.node,
            interface=seat.interface,
            state=seat.state,
            pause_reason=seat.pause_reason,
            skill_groups=sorted(seat.skill_groups),
            device_state=seat.device_state,
            call_id=seat.call_id,
            since=epoch_to_datetime(seat.since),
            wrap_up_until=epoch_to_datetime(seat.wrap_up_until),
            live=True,
        )

    @classmethod
    def configured_only(
        cls, seat_id: str, node: str, interface: str, display_name: str | None
    ) -> SeatOut:
        return cls(
            id=seat_id,
            display_name=display_name,
            node=node,
            interface=interface,
            state=SeatState.OFFLINE,
            live=False,
        )


class SkillGroupMemberOut(_Out):
    seat_id: str
    interface: str | None
    penalty: int = Field(description="The skill level: lower is offered calls first.")
    paused: bool
    pause_reason: str | None
    status: int = Field(description="app_queue member status code, 0..8.")
    status_name: str
    calls_taken: int
    wrapup_seconds: int


class SkillGroupOut(_Out):
    name: str
    display_name: str | None = None
    node: str
    strategy: str
    calls_waiting: int
    completed: int
    abandoned: int
    members: list[SkillGroupMemberOut]
    live: bool = Field(description="False for a configured group Asterisk does not have yet.")

    @classmethod
    def from_live(cls, group: SkillGroup, display_name: str | None = None) -> SkillGroupOut:
        members = [
            SkillGroupMemberOut(
                seat_id=m.seat_id,
                interface=m.interface,
                penalty=m.penalty,
                paused=m.paused,
                pause_reason=m.pause_reason,
                status=m.status,
                status_name=MEMBER_STATUS_NAMES.get(m.status, "unknown"),
                calls_taken=m.calls_taken,
                wrapup_seconds=m.wrapup_seconds,
            )
            for m in sorted(group.members.values(), key=lambda m: (m.penalty, m.seat_id))
        ]
        return cls(
            name=group.name,
            display_name=display_name,
            node=group.node,
            strategy=group.strategy,
            calls_waiting=group.calls_waiting,
            completed=group.completed,
            abandoned=group.abandoned,
            members=members,
            live=True,
        )

    @classmethod
    def configured_only(
        cls, name: str, node: str, display_name: str | None, penalties: dict[str, int]
    ) -> SkillGroupOut:
        """A group Asterisk does not have yet: configured members, shown as unavailable."""
        members = [
            SkillGroupMemberOut(
                seat_id=seat_id,
                interface=None,
                penalty=penalty,
                paused=False,
                pause_reason=None,
                status=5,
                status_name=MEMBER_STATUS_NAMES[5],
                calls_taken=0,
                wrapup_seconds=0,
            )
            for seat_id, penalty in sorted(penalties.items(), key=lambda kv: (kv[1], kv[0]))
        ]
        return cls(
            name=name,
            display_name=display_name,
            node=node,
            strategy="",
            calls_waiting=0,
            completed=0,
            abandoned=0,
            members=members,
            live=False,
        )


class CallOut(_Out):
    id: str
    node: str
    linkedid: str
    direction: CallDirection
    state: CallState
    active: bool = Field(description="True while Asterisk still has the call.")
    customer_number: str
    started_at: datetime
    skill_group: str | None = None
    seat_id: str | None = None
    queued_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    wait_seconds: int | None = None
    talk_seconds: int | None = None
    hangup_cause: str | None = None
    abandoned: bool = False

    @classmethod
    def from_live(cls, call: Call) -> CallOut:
        started = epoch_to_datetime(call.started_at)
        assert started is not None
        return cls(
            id=call.id,
            node=call.node,
            linkedid=call.linkedid,
            direction=call.direction,
            state=call.state,
            active=call.ended_at is None,  # the mirror's calls; an ended one just left it
            customer_number=call.customer_number,
            started_at=started,
            skill_group=call.skill_group,
            seat_id=call.seat_id,
            queued_at=epoch_to_datetime(call.queued_at),
            answered_at=epoch_to_datetime(call.answered_at),
            ended_at=epoch_to_datetime(call.ended_at),
            wait_seconds=call.wait_seconds,
            talk_seconds=call.talk_seconds,
            hangup_cause=call.hangup_cause,
            abandoned=call.abandoned,
        )


class TimelineEntryOut(_Out):
    kind: str
    at: datetime
    seat_id: str | None = None
    skill_group: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def from_history(
        cls,
        kind: str,
        at: datetime,
        seat_id: str | None,
        skill_group: str | None,
        detail: Mapping[str, Any] | None,
    ) -> TimelineEntryOut:
        """A ``call_events`` row, read from PostgreSQL or still held by the history
        writer: both read the same, so an entry the writer commits meanwhile is seen as
        the same entry (:func:`cti.api.timeline.merge_timeline`)."""
        utc = as_utc(at)
        assert utc is not None
        return cls(
            kind=kind,
            at=utc,
            seat_id=seat_id,
            skill_group=skill_group,
            detail=dict(detail or {}),
        )


class CallDetailOut(CallOut):
    timeline: list[TimelineEntryOut]


class ComponentOut(_Out):
    name: str
    ok: bool
    detail: dict[str, Any] = Field(default_factory=dict)


class ReadinessOut(_Out):
    ok: bool
    components: list[ComponentOut]


class LivenessOut(_Out):
    ok: bool = True
