"""The tracker: AMI events of one node -> mirror updates and domain events.

Decisions are pure functions over frozen records (``seats.apply`` for the seat machine,
the ``_call_*`` helpers here for calls); the tracker routes each event through an explicit
subscription table and stores the resulting records in its ``NodeMirror``. Storing in
place keeps the cost per event constant (copying the mirror per event would not), and the
tracker does no I/O and reads no clock: times come from the events' ``Timestamp`` header,
or from the time the batch was read when Asterisk does not stamp events.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from cti.ami.events import AmiEvent
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    DtmfReceived,
    SeatUpdated,
    SkillGroupChanged,
)
from cti.domain.model import Call, CallDirection, CallState, Seat, SkillGroup, SkillGroupMember
from cti.domain.state import NodeMirror
from cti.tracker import seats
from cti.tracker.seats import seat_id_of

log = logging.getLogger(__name__)

NO_EVENTS: Sequence[DomainEvent] = ()

# app_queue member Status -> device state name (DeviceStateChange spelling).
MEMBER_STATUS = {
    "0": "UNKNOWN",
    "1": "NOT_INUSE",
    "2": "INUSE",
    "3": "BUSY",
    "4": "INVALID",
    "5": "UNAVAILABLE",
    "6": "RINGING",
    "7": "RINGINUSE",
    "8": "ONHOLD",
}


@dataclass(frozen=True, slots=True)
class OutboundIntent:
    """A call the service is about to place (click-to-dial, the dialer).

    Asterisk's events do not say who the customer of an originated call is, nor which
    seat it is for; the service does, before it sends the Originate, so the call is
    born outbound with the right number, seat and campaign.
    """

    number: str
    seat_id: str | None = None  # click-to-dial: the seat rung first
    campaign_id: int | None = None


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    trunk_endpoints: frozenset[str] = frozenset({"trunk"})
    inbound_contexts: frozenset[str] = frozenset({"from-trunk"})
    wrapup_seconds: Mapping[str, int] = field(default_factory=dict)  # per skill group
    default_wrapup_seconds: int = 0
    ring_seconds: Mapping[str, int] = field(default_factory=dict)  # per skill group

    def wrapup_for(self, group: str) -> int:
        return self.wrapup_seconds.get(group, self.default_wrapup_seconds)

    def wrap_up_end(self, group: str, completed_at: float) -> float | None:
        """When app_queue offers a seat calls again after its call of ``group`` ended at
        ``completed_at`` (None: the group has no wrap-up).

        app_queue keeps a member's last call in whole seconds (``time_t lastcall``) and
        holds the member while ``time(NULL) - wrapuptime < lastcall``: the wrap-up ends
        on the whole second ``wrapuptime`` after the second the call ended, between
        ``wrapuptime - 1`` and ``wrapuptime`` seconds later. Ending it a full
        ``wrapuptime`` after the call kept seats in wrap-up in the mirror (and the
        dialer's view) up to a second after app_queue offered them calls again
        (bench/campaign_live: 2 s wrap-ups that lasted 1.5 s on average).
        """
        wrapup = self.wrapup_for(group)
        return math.floor(completed_at) + wrapup if wrapup else None

    def why_moved_on(self, group: str, ring_ms: int) -> str:
        """Why app_queue left a seat that did not answer (it does not say itself)."""
        limit = self.ring_seconds.get(group)
        if ring_ms < 500:
            return "busy_or_unreachable"  # failed at once: busy, rejected, not registered
        if limit is None or ring_ms >= limit * 1000 - 500:
            return "ring_timeout"
        return "declined"


def text(event: AmiEvent, header: str) -> str:
    value = event.get(header, "")
    return value if isinstance(value, str) else value[-1]


def stamp(event: AmiEvent, fallback: float) -> float:
    value = event.get("Timestamp")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
    return fallback


def seconds(event: AmiEvent, header: str) -> int | None:
    try:
        return int(text(event, header))
    except ValueError:
        return None


class Tracker:
    """Mirror of one node, kept current event by event."""

    def __init__(self, node: str, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self.mirror = NodeMirror(node)
        # Calls the service is placing, by call id; outlive resyncs (the mirror does not).
        self.intents: dict[str, OutboundIntent] = {}
        self._handlers: dict[str, Callable[[AmiEvent, float], Sequence[DomainEvent]]] = {
            "Newchannel": self._newchannel,
            "Hangup": self._hangup,
            "DialBegin": self._dial_begin,
            "DialEnd": self._dial_end,
            "QueueCallerJoin": self._caller_join,
            "QueueCallerLeave": self._caller_leave,
            "QueueCallerAbandon": self._caller_abandon,
            "AgentCalled": self._agent_called,
            "AgentRingNoAnswer": self._agent_no_answer,
            "AgentConnect": self._agent_connect,
            "AgentComplete": self._agent_complete,
            "AgentDump": self._agent_dump,
            "QueueMemberAdded": self._member_event,
            "QueueMemberRemoved": self._member_event,
            "QueueMemberPause": self._member_event,
            "QueueMemberStatus": self._member_event,
            "QueueMemberPenalty": self._member_event,
            "DeviceStateChange": self._device_state,
            "MixMonitorStart": self._recording_started,
            "DTMFEnd": self._dtmf,
            "UserEvent": self._user_event,
        }

    @property
    def node(self) -> str:
        return self.mirror.name

    def apply(self, event: AmiEvent, received_at: float) -> Sequence[DomainEvent]:
        """Apply one AMI event; return the domain events it implies (often none)."""
        name = event.get("Event")
        handler = self._handlers.get(name) if isinstance(name, str) else None
        if handler is None:
            return NO_EVENTS
        return handler(event, stamp(event, received_at))

    def tick(self, now: float) -> list[DomainEvent]:
        """Let time pass: end wrap-ups whose deadline is reached."""
        out: list[DomainEvent] = []
        for seat in list(self.mirror.seats.values()):
            if seat.wrap_up_until is not None and seat.wrap_up_until <= now:
                self._seat(seat.id, seat.interface, seats.WrapUpEnd(), seat.wrap_up_until, out)
        return out

    def end_wrap_up(self, seat_id: str, at: float) -> list[DomainEvent]:
        """The seat's wrap-up was ended early (by the service re-adding it to its queues,
        which clears app_queue's last-call time; app_queue sends no event for that)."""
        out: list[DomainEvent] = []
        seat = self.mirror.seats.get(seat_id)
        if seat is not None and seat.wrap_up_until is not None:
            self._seat(seat_id, seat.interface, seats.WrapUpEnd(), at, out)
        return out

    # --- seats ---------------------------------------------------------------------

    def _seat(
        self,
        seat_id: str,
        interface: str,
        transition: seats.Transition,
        at: float,
        out: list[DomainEvent],
    ) -> None:
        current = self.mirror.seats.get(seat_id)
        if current is None:
            current = Seat(id=seat_id, node=self.node, interface=interface)
        updated, change = seats.apply(current, transition, at)
        self.mirror.seats[seat_id] = updated
        if isinstance(change, SeatUpdated):
            out.append(change)
        elif change is not None:
            log.info(
                "seat %s: %s -[%s]-> %s",
                seat_id,
                change.previous.value,
                change.transition,
                updated.state.value,
            )
            out.append(change)

    def _member(self, event: AmiEvent) -> tuple[str, str, str] | None:
        interface = text(event, "Interface") or text(event, "Location")
        seat_id = seat_id_of(interface)
        if seat_id is None:
            return None
        return seat_id, interface, text(event, "Queue")

    def _group(self, name: str) -> SkillGroup:
        group = self.mirror.skill_groups.get(name)
        if group is None:
            group = self.mirror.skill_groups[name] = SkillGroup(name=name, node=self.node)
        return group

    def _store_member(
        self, group: str, seat_id: str, event: AmiEvent, at: float, *, remove: bool
    ) -> list[DomainEvent]:
        # The members dict is the mirror's own (domain events name the group, never carry
        # it), so it is updated in place: member status events are frequent.
        members = self._group(group).members
        if remove:
            changed = members.pop(seat_id, None) is not None
        else:
            record = member_record(seat_id, event)
            changed = members.get(seat_id) != record
            members[seat_id] = record
        return [SkillGroupChanged(self.node, group, at, seat_id)] if changed else []

    def _member_event(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        found = self._member(event)
        if found is None:
            return NO_EVENTS
        seat_id, interface, group = found
        name = text(event, "Event")
        out = self._store_member(group, seat_id, event, at, remove=name == "QueueMemberRemoved")
        for t in member_transitions(name, group, self.mirror.seats.get(seat_id), event):
            self._seat(seat_id, interface, t, at, out)
        return out

    def _device_state(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        device = text(event, "Device")
        self.mirror.devices[device] = text(event, "State")
        seat_id = seat_id_of(device)
        if seat_id is None or seat_id not in self.mirror.seats:
            return NO_EVENTS
        out: list[DomainEvent] = []
        seat = self.mirror.seats[seat_id]
        self._seat(seat_id, seat.interface, seats.Device(text(event, "State")), at, out)
        return out

    # --- calls ---------------------------------------------------------------------

    def _call_of(self, event: AmiEvent) -> Call | None:
        call_id = self.mirror.channel_calls.get(text(event, "Uniqueid"))
        return self.mirror.calls.get(call_id) if call_id is not None else None

    def _put_call(self, call: Call, at: float, out: list[DomainEvent]) -> None:
        self.mirror.calls[call.id] = call
        out.append(CallUpdated(call, at))

    def _newchannel(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        uniqueid = text(event, "Uniqueid")
        linkedid = text(event, "Linkedid") or uniqueid
        call_id = f"{self.node}:{linkedid}"
        self.mirror.channel_calls[uniqueid] = call_id
        self.mirror.channel_names[uniqueid] = text(event, "Channel")
        endpoint = seat_id_of(text(event, "Channel"))
        is_trunk = endpoint in self.config.trunk_endpoints
        out: list[DomainEvent] = []
        call = self.mirror.calls.get(call_id)
        intent = self.intents.get(call_id)
        if call is None:
            if intent is not None:
                direction, number = CallDirection.OUTBOUND, intent.number
            elif text(event, "Context") in self.config.inbound_contexts or is_trunk:
                direction, number = CallDirection.INBOUND, text(event, "CallerIDNum")
            else:
                direction, number = CallDirection.INTERNAL, text(event, "Exten")
            call = Call(
                id=call_id,
                node=self.node,
                linkedid=linkedid,
                direction=direction,
                state=CallState.DIALING,
                customer_number=number,
                started_at=at,
                channels=frozenset({uniqueid}),
                seat_id=intent.seat_id if intent else None,
                campaign_id=intent.campaign_id if intent else None,
            )
            out.append(
                CallTimelineEntry(
                    call_id,
                    "started",
                    at,
                    detail={
                        "channel": text(event, "Channel"),
                        "caller": text(event, "CallerIDNum"),
                    },
                )
            )
            self._put_call(call, at, out)
            self._offer_intent_seat(intent, endpoint, call_id, at, out)
            return out
        self._offer_intent_seat(intent, endpoint, call_id, at, out)
        direction = call.direction
        if is_trunk and direction is CallDirection.INTERNAL:
            direction = CallDirection.OUTBOUND
        self.mirror.calls[call_id] = dataclasses.replace(
            call, channels=call.channels | {uniqueid}, direction=direction
        )
        if direction is not call.direction:
            self._put_call(self.mirror.calls[call_id], at, out)
        return out

    def _offer_intent_seat(self, intent: OutboundIntent | None, endpoint: str | None,
                           call_id: str, at: float, out: list[DomainEvent]) -> None:
        # Click-to-dial rings the agent first: the seat is on this call from its leg on.
        if intent is not None and endpoint is not None and endpoint == intent.seat_id:
            self._seat(endpoint, f"PJSIP/{endpoint}", seats.Offer(call_id), at, out)

    def _recording_started(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        """Remember when the call's recording began (no delta: nothing visible changed)."""
        call = self._call_of(event)
        if call is not None and call.recording_started_at is None:
            self.mirror.calls[call.id] = dataclasses.replace(call, recording_started_at=at)
        return NO_EVENTS

    def _dtmf(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        """A digit a phone sent (pressed keys); digits Asterisk sends are not events."""
        if text(event, "Direction") != "Received":
            return NO_EVENTS
        uniqueid = text(event, "Uniqueid")
        call_id = self.mirror.channel_calls.get(uniqueid)
        if call_id is None:
            return NO_EVENTS
        return (DtmfReceived(self.node, call_id, uniqueid, text(event, "Digit"), at),)

    def _queue_exit(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        """The dialplan's UserEvent(CtiQueueExit) after Queue() returned unanswered (the
        maximum wait, nobody logged in): the caller goes on to voicemail, so app_queue's
        abandon was none, and the call no longer waits in the group."""
        call = self._call_of(event)
        if call is None or call.answered_at is not None:
            return NO_EVENTS
        self.mirror.abandons.pop(call.id, None)
        wait = call.wait_seconds
        if wait is None and call.queued_at is not None:
            wait = max(0, round(at - call.queued_at))
        out: list[DomainEvent] = [CallTimelineEntry(
            call.id, "left_queue", at, skill_group=text(event, "Queue") or call.skill_group,
            detail={"status": text(event, "Status"), "wait_seconds": wait})]
        self._release_seats(call.id, at, out)
        # A caller who never joined (nobody logged in: JOINEMPTY) was still the group's
        # call: its reports count it, and its recording falls under the group's policy.
        group = call.skill_group or text(event, "Queue") or None
        self._put_call(dataclasses.replace(call, state=CallState.DIALING, abandoned=False,
                                           left_queue_at=at, wait_seconds=wait,
                                           skill_group=group), at, out)
        return out

    def _user_event(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        if text(event, "UserEvent") == QUEUE_EXIT_EVENT:
            return self._queue_exit(event, at)
        return NO_EVENTS

    def _confirm_abandon(self, call: Call) -> Sequence[DomainEvent]:
        entry = self.mirror.abandons.pop(call.id, None)
        return (entry,) if entry is not None else NO_EVENTS

    def _hangup(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        uniqueid = text(event, "Uniqueid")
        call_id = self.mirror.channel_calls.pop(uniqueid, None)
        self.mirror.channel_names.pop(uniqueid, None)
        call = self.mirror.calls.get(call_id) if call_id is not None else None
        if call is None:
            return NO_EVENTS
        confirmed = self._confirm_abandon(call) if uniqueid == call.linkedid else NO_EVENTS
        cause = call.hangup_cause
        if uniqueid == call.linkedid or cause is None:
            cause = text(event, "Cause-txt") or text(event, "Cause") or None
        remaining = call.channels - {uniqueid}
        if remaining:
            call = dataclasses.replace(call, channels=remaining, hangup_cause=cause)
            self.mirror.calls[call.id] = call
            return [*confirmed, *self._leg_gone(call, text(event, "Channel"), at)]
        del self.mirror.calls[call.id]
        self.intents.pop(call.id, None)
        ended = end_call(dataclasses.replace(call, channels=remaining, hangup_cause=cause), at)
        out: list[DomainEvent] = [*confirmed, *self._confirm_abandon(call)]
        self._release_seats(call.id, at, out, ended=True, group=call.skill_group)
        out.append(CallTimelineEntry(call.id, "ended", at, detail={"cause": cause}))
        out.append(CallEnded(ended, at))
        return out

    def _leg_gone(self, call: Call, channel: str, at: float) -> Sequence[DomainEvent]:
        """A seat's leg hung up while the call goes on.

        Not answered: app_queue cancelled the ring (another seat answered, the caller's
        maximum wait ran out) or the agent rejected it; without this the seat showed
        ringing until the call ended. Answered: the seat left the call (a transfer); if
        it was the call's seat and another seat is on the call now, the call is theirs.
        """
        seat_id = seat_id_of(channel)
        seat = self.mirror.seats.get(seat_id or "")
        out: list[DomainEvent] = []
        if seat is not None and seat.call_id == call.id and seat.connected:
            # app_queue's AgentComplete (reason "transfer") usually came first; a seat
            # the call was transferred to has none, and must not stay on a call it left.
            self._seat(seat.id, seat.interface, seats.Complete(call.id, None), at, out)
        elif seat is not None and seat.call_id == call.id:
            self._seat(seat.id, seat.interface, seats.Withdrawn(call.id), at, out)
            still_offered = any(s.call_id == call.id for s in self.mirror.seats.values())
            if call.state is CallState.RINGING and not still_offered:
                state = CallState.QUEUED if call.left_queue_at is None else CallState.DIALING
                call = dataclasses.replace(call, state=state)
                self._put_call(call, at, out)
        if seat_id is not None and seat_id == call.seat_id and not self._has_leg(call, seat_id):
            successor = next((s.id for s in self.mirror.seats.values()
                              if s.call_id == call.id and s.connected), None)
            if successor is not None:  # attended: the consulting seat left its target on
                self._transferred(call, successor, at, out)
        return out

    # --- transfers: a seat joins a call already answered ------------------------------

    def _transfer_seat(self, call: Call | None, event: AmiEvent) -> str | None:
        """The seat a Dial of an answered call reaches (blind: [cti-transfer] dials it
        for the caller; attended: the agent's consultation), if it is one."""
        if call is None or call.state is not CallState.ON_CALL:
            return None  # queue offers are AgentCalled's (an answered campaign call waits
            # queued for its agent); click-to-dial's legs come before the answer
        seat_id = seat_id_of(text(event, "DestChannel"))
        if seat_id is None or seat_id in self.config.trunk_endpoints or seat_id == call.seat_id:
            return None
        return seat_id

    def _dial_begin(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call = self._call_of(event)
        seat_id = self._transfer_seat(call, event)
        if call is None or seat_id is None:
            return NO_EVENTS
        out: list[DomainEvent] = [CallTimelineEntry(call.id, "offered", at, seat_id=seat_id,
                                                    detail={"transfer": True})]
        current = self.mirror.seats.get(seat_id)
        if current is None or current.call_id is None:  # never over a call it is on
            self._seat(seat_id, f"PJSIP/{seat_id}", seats.Offer(call.id), at, out)
        return out

    def _transfer_answer(self, call: Call, event: AmiEvent,
                         at: float) -> Sequence[DomainEvent]:
        seat_id = self._transfer_seat(call, event)
        if seat_id is None:
            return NO_EVENTS
        out: list[DomainEvent] = []
        seat = self.mirror.seats.get(seat_id)
        interface = seat.interface if seat is not None else f"PJSIP/{seat_id}"
        if text(event, "DialStatus") != "ANSWER":
            if seat is not None and seat.call_id == call.id and not seat.connected:
                self._seat(seat_id, interface, seats.Withdrawn(call.id), at, out)
            return out
        out.append(CallTimelineEntry(call.id, "answered", at, seat_id=seat_id,
                                     detail={"transfer": True}))
        self._seat(seat_id, interface, seats.Answer(call.id), at, out)
        if call.seat_id is None or not self._has_leg(call, call.seat_id):
            self._transferred(call, seat_id, at, out)  # blind: the first seat already left
        return out  # attended: theirs once the consulting seat leaves (_leg_gone)

    def _has_leg(self, call: Call, seat_id: str) -> bool:
        names = self.mirror.channel_names
        return any(seat_id_of(names.get(u, "")) == seat_id for u in call.channels)

    def _transferred(self, call: Call, seat_id: str, at: float,
                     out: list[DomainEvent]) -> None:
        out.append(CallTimelineEntry(call.id, "transferred", at, seat_id=seat_id,
                                     detail={"from": call.seat_id}))
        log.info("call %s: transferred from seat %s to seat %s", call.id, call.seat_id,
                 seat_id)
        # Talk time is the customer's, over every seat: counted again from the answer.
        self._put_call(dataclasses.replace(call, seat_id=seat_id, talk_seconds=None,
                                           state=CallState.ON_CALL), at, out)

    def _release_seats(self, call_id: str, at: float, out: list[DomainEvent], *,
                       ended: bool = False, group: str | None = None) -> None:
        """Free seats still offered a call that is gone. app_queue sends no
        AgentRingNoAnswer or AgentDump when the caller abandons while a seat rings.

        ``ended``: the call's last channel hung up. A seat still connected to it
        completes it now (wrap-up from here if it was a queue call of ``group``): under
        load an AgentComplete was seen missing (bench/inbound_load), and no seat may stay
        on a call that is gone. If the AgentComplete comes after all, it only restarts the
        same wrap-up. A call outside the queues (click-to-dial) has no wrap-up: app_queue
        would not hold the seat back, so the mirror must not pretend it does."""
        for seat in list(self.mirror.seats.values()):
            if seat.call_id != call_id:
                continue
            if not seat.connected:
                self._seat(seat.id, seat.interface, seats.NoAnswer(call_id), at, out)
            elif ended:
                until = self.config.wrap_up_end(group, at) if group is not None else None
                complete = seats.Complete(call_id, until)
                self._seat(seat.id, seat.interface, complete, at, out)

    def _dial_end(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call = self._call_of(event)
        if call is not None and call.answered_at is not None:
            return self._transfer_answer(call, event, at)
        # Answer time of calls outside the queues (internal and outbound).
        if call is None or call.skill_group is not None:
            return NO_EVENTS
        if text(event, "DialStatus") != "ANSWER":
            return NO_EVENTS
        if call.id in self.intents and (
            seat_id_of(text(event, "DestChannel")) not in self.config.trunk_endpoints
        ):
            return NO_EVENTS  # the agent's leg of click-to-dial: the customer is yet to answer
        out: list[DomainEvent] = [CallTimelineEntry(call.id, "answered", at, seat_id=call.seat_id)]
        seat = self.mirror.seats.get(call.seat_id) if call.seat_id is not None else None
        if seat is not None and seat.call_id == call.id:
            self._seat(seat.id, seat.interface, seats.Answer(call.id), at, out)
        self._put_call(dataclasses.replace(call, state=CallState.ON_CALL, answered_at=at), at, out)
        return out

    def _caller_join(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        group = text(event, "Queue")
        waiting = self._set_waiting(group, event, at)
        call = self._call_of(event)
        if call is None:
            return waiting
        out: list[DomainEvent] = [
            *waiting,
            CallTimelineEntry(
                call.id,
                "queued",
                at,
                skill_group=group,
                detail={"position": seconds(event, "Position")},
            )
        ]
        queued = dataclasses.replace(
            call, state=CallState.QUEUED, skill_group=group, queued_at=call.queued_at or at,
            left_queue_at=None,
        )
        self._put_call(queued, at, out)
        return out

    def _caller_leave(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        return self._set_waiting(text(event, "Queue"), event, at)

    def _count(self, name: str, at: float, *, completed: int = 0,
               abandoned: int = 0) -> Sequence[DomainEvent]:
        if not name:
            return NO_EVENTS
        group = self._group(name)
        self.mirror.skill_groups[name] = dataclasses.replace(
            group, completed=group.completed + completed, abandoned=group.abandoned + abandoned)
        return (SkillGroupChanged(self.node, name, at),)

    def forget_member(self, seat_id: str, group: str, at: float) -> list[DomainEvent]:
        """app_queue answered a QueueRemove that the seat is not in ``group`` (or that
        there is no such queue) while the mirror had it there: an event was missed, so
        the mirror takes Asterisk's word for it now rather than at the next resync."""
        out: list[DomainEvent] = []
        found = self.mirror.skill_groups.get(group)
        if found is not None and found.members.pop(seat_id, None) is not None:
            out.append(SkillGroupChanged(self.node, group, at, seat_id))
        seat = self.mirror.seats.get(seat_id)
        if seat is not None and group in seat.skill_groups:
            self._seat(seat_id, seat.interface, seats.Logout(group), at, out)
        return out

    def configure_groups(self, strategies: Mapping[str, str], at: float) -> list[DomainEvent]:
        """The skill groups the configuration now has, as just applied to Asterisk: a
        reload sends no event, so new groups appear, strategies change, and a deleted
        group goes with its members' logins (app_queue drops them without an event)."""
        if not self.mirror.synced:
            return []  # the rebuild reads them from Asterisk
        out: list[DomainEvent] = []
        for name in [n for n in self.mirror.skill_groups if n not in strategies]:
            gone = self.mirror.skill_groups.pop(name)
            for seat_id, member in gone.members.items():
                self._seat(seat_id, member.interface, seats.Logout(name), at, out)
            log.info("skill group %s removed from the mirror (%d members logged out)", name,
                     len(gone.members))
        for name, strategy in strategies.items():
            group = self._group(name)
            if group.strategy != strategy:
                self.mirror.skill_groups[name] = dataclasses.replace(group, strategy=strategy)
                out.append(SkillGroupChanged(self.node, name, at))
        return out

    def _set_waiting(self, group: str, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        count = seconds(event, "Count")
        current = self._group(group)
        if count is None or count == current.calls_waiting:
            return NO_EVENTS
        self.mirror.skill_groups[group] = dataclasses.replace(current, calls_waiting=count)
        return [SkillGroupChanged(self.node, group, at)]

    def _caller_abandon(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        # The group's live figure counts as app_queue does (a maximum-wait exit too), so a
        # resync's QueueParams carry on from the same number.
        counted = self._count(text(event, "Queue"), at, abandoned=1)
        call = self._call_of(event)
        if call is None:
            return counted
        wait = seconds(event, "HoldTime")
        # app_queue says the same when the caller hangs up and when the group's maximum
        # wait sends them on to voicemail (record_abandoned on both paths): the caller's
        # hangup confirms it (_confirm_abandon); the dialplan's CtiQueueExit voids it; a
        # resync that finds the caller gone settles it (rebuild.settle_abandons).
        self.mirror.abandons[call.id] = CallTimelineEntry(
            call.id, "abandoned", at, skill_group=text(event, "Queue"),
            detail={"wait_seconds": wait})
        out: list[DomainEvent] = [*counted]
        self._release_seats(call.id, at, out)
        self._put_call(dataclasses.replace(call, abandoned=True, wait_seconds=wait), at, out)
        return out

    def _agent_event(self, event: AmiEvent) -> tuple[Call | None, str | None, str]:
        interface = text(event, "Interface")
        return self._call_of(event), seat_id_of(interface), interface

    def _agent_called(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call, seat_id, interface = self._agent_event(event)
        if call is None or seat_id is None:
            return NO_EVENTS
        out: list[DomainEvent] = [
            CallTimelineEntry(
                call.id, "offered", at, seat_id=seat_id, skill_group=text(event, "Queue")
            )
        ]
        self._seat(seat_id, interface, seats.Offer(call.id), at, out)
        if call.state is not CallState.ON_CALL:
            self._put_call(dataclasses.replace(call, state=CallState.RINGING), at, out)
        return out

    def _agent_no_answer(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call, seat_id, interface = self._agent_event(event)
        if call is None or seat_id is None:
            return NO_EVENTS
        out: list[DomainEvent] = [
            CallTimelineEntry(
                call.id,
                "no_answer",
                at,
                seat_id=seat_id,
                skill_group=text(event, "Queue"),
                detail={
                    "ring_ms": seconds(event, "RingTime"),
                    "reason": self.config.why_moved_on(
                        text(event, "Queue"), seconds(event, "RingTime") or 0
                    ),
                },
            )
        ]
        self._seat(seat_id, interface, seats.NoAnswer(call.id), at, out)
        if call.state is CallState.RINGING:
            self._put_call(dataclasses.replace(call, state=CallState.QUEUED), at, out)
        return out

    def _agent_connect(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call, seat_id, interface = self._agent_event(event)
        if call is None or seat_id is None:
            return NO_EVENTS
        wait = seconds(event, "HoldTime")
        out: list[DomainEvent] = [
            CallTimelineEntry(
                call.id,
                "answered",
                at,
                seat_id=seat_id,
                skill_group=text(event, "Queue"),
                detail={"wait_seconds": wait, "ring_seconds": seconds(event, "RingTime")},
            )
        ]
        self._seat(seat_id, interface, seats.Answer(call.id), at, out)
        for other in list(self.mirror.seats.values()):
            if other.id != seat_id and other.call_id == call.id and not other.connected:
                self._seat(other.id, other.interface, seats.Withdrawn(call.id), at, out)
        answered = dataclasses.replace(
            call, state=CallState.ON_CALL, seat_id=seat_id, answered_at=at, wait_seconds=wait
        )
        self._put_call(answered, at, out)
        return out

    def _call_id_of(self, event: AmiEvent, call: Call | None) -> str:
        """The call an agent event belongs to. Its caller channel may already be gone
        (its Hangup can arrive before app_queue's AgentComplete), so fall back on the
        event's own Linkedid rather than the channel map."""
        if call is not None:
            return call.id
        linkedid = text(event, "Linkedid")
        return f"{self.node}:{linkedid}" if linkedid else ""

    def _agent_complete(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call, seat_id, interface = self._agent_event(event)
        if seat_id is None:
            return NO_EVENTS
        group = text(event, "Queue")
        out: list[DomainEvent] = list(self._count(group, at, completed=1))
        call_id = self._call_id_of(event, call)
        self._seat(
            seat_id, interface, seats.Complete(call_id, self.config.wrap_up_end(group, at)), at,
            out,
        )
        if call_id:
            talk = seconds(event, "TalkTime")
            out.append(
                CallTimelineEntry(
                    call_id,
                    "completed",
                    at,
                    seat_id=seat_id,
                    skill_group=group,
                    detail={"talk_seconds": talk, "hung_up_by": text(event, "Reason")},
                )
            )
            if call is not None:
                self.mirror.calls[call.id] = dataclasses.replace(call, talk_seconds=talk)
        return out

    def _agent_dump(self, event: AmiEvent, at: float) -> Sequence[DomainEvent]:
        call, seat_id, interface = self._agent_event(event)
        if seat_id is None:
            return NO_EVENTS
        out: list[DomainEvent] = []
        call_id = self._call_id_of(event, call)
        self._seat(seat_id, interface, seats.Complete(call_id, None), at, out)
        if call_id:
            out.append(CallTimelineEntry(call_id, "dumped", at, seat_id=seat_id))
        return out


def member_transitions(
    name: str, group: str, seat: Seat | None, event: AmiEvent
) -> list[seats.Transition]:
    """What a queue-member event means for the seat's state machine."""
    paused = text(event, "Paused") == "1"
    reason = text(event, "PausedReason") or None
    if name == "QueueMemberAdded":
        status = MEMBER_STATUS.get(text(event, "Status"))
        login: list[seats.Transition] = [seats.Login(group, paused, reason)]
        return login if status is None else [*login, seats.Device(status)]
    if name == "QueueMemberRemoved":
        return [seats.Logout(group)]
    if name == "QueueMemberPause":
        return [seats.Pause(paused, reason)]
    if seat is None or group not in seat.skill_groups:
        # Status or penalty of a member we had not seen (it joined during a resync).
        return [seats.Login(group, paused, reason)]
    return []


def member_record(seat_id: str, event: AmiEvent) -> SkillGroupMember:
    def number(header: str) -> int:
        try:
            return int(text(event, header) or 0)
        except ValueError:
            return 0

    return SkillGroupMember(
        seat_id=seat_id,
        interface=text(event, "Interface") or text(event, "Location"),
        penalty=number("Penalty"),
        paused=text(event, "Paused") == "1",
        pause_reason=text(event, "PausedReason") or None,
        status=number("Status"),
        calls_taken=number("CallsTaken"),
        wrapup_seconds=number("Wrapuptime"),
    )


#: The UserEvent the generated dialplan sends when Queue() returns unanswered
#: (cti/telephony/dialplan.py).
QUEUE_EXIT_EVENT = "CtiQueueExit"


def end_call(call: Call, at: float) -> Call:
    """The final figures of a call whose last channel hung up at ``at``."""
    talk = call.talk_seconds
    if talk is None and call.answered_at is not None:
        talk = max(0, round(at - call.answered_at))
    wait = call.wait_seconds
    if wait is None and call.queued_at is not None:
        wait = max(0, round((call.answered_at or call.left_queue_at or at) - call.queued_at))
    # Hung up while still in the queue; one that left it unanswered went on in the dialplan
    # (voicemail after the maximum wait): not an abandon, and its wait ends there.
    abandoned = call.abandoned or (call.queued_at is not None and call.answered_at is None
                                   and call.left_queue_at is None)
    return dataclasses.replace(
        call,
        state=CallState.ENDED,
        ended_at=at,
        talk_seconds=talk,
        wait_seconds=wait,
        abandoned=abandoned,
    )

