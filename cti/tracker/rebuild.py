"""Rebuild a node's mirror from Asterisk's own view (a ``Snapshot``), after a (re)connect.

Pure: takes the snapshot and the mirror held before the connection was lost, returns the
new mirror and the domain events that reconcile the two (seats that changed state while
we were away, abandons whose confirming hangup was missed, calls that ended unseen, calls
we had not seen start).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping

from cti.ami.events import AmiEvent, Snapshot
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    MirrorRebuilt,
    SeatStateChanged,
)
from cti.domain.model import Call, CallDirection, CallState, Seat, SkillGroup
from cti.domain.state import NodeMirror
from cti.tracker.seats import derive, seat_id_of
from cti.tracker.tracker import MEMBER_STATUS, TrackerConfig, end_call, member_record, text


def _duration(value: str) -> float:
    """``HH:MM:SS`` -> seconds (CoreShowChannel's Duration)."""
    try:
        h, m, s = (int(p) for p in value.split(":"))
    except ValueError:
        return 0.0
    return float(h * 3600 + m * 60 + s)


def _number(event: AmiEvent, header: str) -> int:
    try:
        return int(text(event, header) or 0)
    except ValueError:
        return 0


def _calls(
    snap: Snapshot, previous: NodeMirror, config: TrackerConfig
) -> tuple[dict[str, Call], dict[str, str], dict[str, tuple[str, bool]]]:
    """Calls by id, channel uniqueid -> call id, and seat id -> (queue call id, answered)."""
    groups: dict[str, list[AmiEvent]] = defaultdict(list)
    for ch in snap.channels:
        if text(ch, "Event") != "CoreShowChannel":
            continue  # the list's CoreShowChannelsComplete
        groups[text(ch, "Linkedid") or text(ch, "Uniqueid")].append(ch)
    waiting = {
        text(e, "Uniqueid"): e for e in snap.queue_status if text(e, "Event") == "QueueEntry"
    }

    calls: dict[str, Call] = {}
    channel_calls: dict[str, str] = {}
    seat_calls: dict[str, tuple[str, bool]] = {}
    for linkedid, channels in groups.items():
        call_id = f"{snap.node}:{linkedid}"
        first = next((c for c in channels if text(c, "Uniqueid") == linkedid), channels[0])
        endpoint = seat_id_of(text(first, "Channel"))
        inbound = (
            text(first, "Context") in config.inbound_contexts or endpoint in config.trunk_endpoints
        )
        has_trunk = any(seat_id_of(text(c, "Channel")) in config.trunk_endpoints for c in channels)
        queue_legs = [c for c in channels if text(c, "Application") == "Queue"]
        group = text(queue_legs[0], "ApplicationData").split(",")[0] if queue_legs else None
        started = snap.taken_at - max(_duration(text(c, "Duration")) for c in channels)
        old = previous.calls.get(call_id)
        call = old or Call(
            id=call_id,
            node=snap.node,
            linkedid=linkedid,
            direction=CallDirection.INBOUND
            if inbound
            else (CallDirection.OUTBOUND if has_trunk else CallDirection.INTERNAL),
            state=CallState.DIALING,
            customer_number=text(first, "CallerIDNum") if inbound else text(first, "Exten"),
            started_at=started,
        )
        uniqueids = frozenset(text(c, "Uniqueid") for c in channels)
        state, seat_id, answered_at = call.state, call.seat_id, call.answered_at
        queued_at, wait = call.queued_at, call.wait_seconds
        entry = next((waiting[u] for u in uniqueids if u in waiting), None)
        if entry is not None:
            state = CallState.QUEUED
            queued_at = queued_at or snap.taken_at - _number(entry, "Wait")
        if group is not None:
            for ch in channels:
                seat = seat_id_of(text(ch, "Channel"))
                if seat is None or seat in config.trunk_endpoints or ch in queue_legs:
                    continue
                up = text(ch, "ChannelState") == "6" and bool(text(ch, "BridgeId"))
                seat_calls[seat] = (call_id, up)
                if up:
                    state, seat_id = CallState.ON_CALL, seat
                    answered_at = answered_at or snap.taken_at
                    if wait is None and queued_at is not None:
                        wait = max(0, round(answered_at - queued_at))
                elif state is not CallState.ON_CALL:
                    state = CallState.RINGING
        elif (
            call.answered_at is None
            and len(channels) > 1
            and all(text(c, "ChannelState") == "6" for c in channels)
        ):
            state, answered_at = CallState.ON_CALL, snap.taken_at
        calls[call_id] = dataclasses.replace(
            call,
            state=state,
            channels=uniqueids,
            skill_group=group or call.skill_group,
            seat_id=seat_id,
            answered_at=answered_at,
            queued_at=queued_at,
            wait_seconds=wait,
        )
        for u in uniqueids:
            channel_calls[u] = call_id
    return calls, channel_calls, seat_calls


def _channel_names(snap: Snapshot) -> dict[str, str]:
    return {
        text(ch, "Uniqueid"): text(ch, "Channel")
        for ch in snap.channels
        if text(ch, "Event") == "CoreShowChannel"
    }


def settle_abandons(
    previous: NodeMirror, channel_calls: Mapping[str, str]
) -> tuple[dict[str, CallTimelineEntry], list[CallTimelineEntry]]:
    """The abandons still pending after a resync, and those settled by it.

    The tracker holds app_queue's abandon until the caller's Hangup confirms it (the
    dialplan's CtiQueueExit voids it: the maximum wait sent the caller to voicemail). A
    Hangup lost with the AMI link would hold it forever. A caller whose channel Asterisk
    no longer has is gone: app_queue counted it abandoned, and it counts abandoned here
    too (were it a maximum-wait exit whose CtiQueueExit was lost as well, nothing left in
    Asterisk tells the two apart). A caller still up keeps waiting for its Hangup or exit.
    """
    kept: dict[str, CallTimelineEntry] = {}
    settled: list[CallTimelineEntry] = []
    for call_id, entry in previous.abandons.items():
        call = previous.calls.get(call_id)
        caller = call.linkedid if call is not None else call_id.partition(":")[2]
        if caller in channel_calls:
            kept[call_id] = entry
        else:
            settled.append(entry)
    return kept, settled


def rebuild(
    snap: Snapshot, previous: NodeMirror, config: TrackerConfig
) -> tuple[NodeMirror, list[DomainEvent]]:
    at = snap.taken_at
    calls, channel_calls, seat_calls = _calls(snap, previous, config)
    devices = {
        text(e, "Device"): text(e, "State")
        for e in snap.device_states
        if text(e, "Event") == "DeviceStateChange"
    }

    groups: dict[str, SkillGroup] = {}
    seats: dict[str, Seat] = {}
    for ev in snap.queue_status:
        kind = text(ev, "Event")
        if kind == "QueueParams":
            name = text(ev, "Queue")
            groups[name] = SkillGroup(
                name=name,
                node=snap.node,
                strategy=text(ev, "Strategy"),
                calls_waiting=_number(ev, "Calls"),
                completed=_number(ev, "Completed"),
                abandoned=_number(ev, "Abandoned"),
            )
    # When app_queue offers each seat calls again after its last one (a new process knows
    # no call's end): it holds a member while now - wrapuptime < LastCall (whole seconds).
    # A seat shown available in that time gets calls the queue will not give it: after a
    # restart mid-shift the dialer placed calls for seats still in wrap-up, and a
    # progressive campaign abandoned them.
    wrap_ends: dict[str, float] = {}
    for ev in snap.queue_status:
        if text(ev, "Event") != "QueueMember":
            continue
        interface = text(ev, "Location")
        seat_id = seat_id_of(interface)
        group = text(ev, "Queue")
        if seat_id is None or group not in groups:
            continue
        groups[group].members[seat_id] = member_record(seat_id, ev)
        last_call = _number(ev, "LastCall")
        wrapup = _number(ev, "Wrapuptime") or config.wrapup_for(group)
        if last_call and wrapup and text(ev, "InCall") != "1":
            wrap_ends[seat_id] = max(wrap_ends.get(seat_id, 0.0), float(last_call + wrapup))
        old = seats.get(seat_id) or previous.seats.get(seat_id)
        base = seats.get(seat_id) or Seat(
            id=seat_id,
            node=snap.node,
            interface=interface,
            skill_groups=frozenset(),
            since=old.since if old else at,
            wrap_up_until=old.wrap_up_until if old else None,
        )
        paused = text(ev, "Paused") == "1"
        device = devices.get(text(ev, "StateInterface") or interface) or MEMBER_STATUS.get(
            text(ev, "Status"), "UNKNOWN"
        )
        seats[seat_id] = dataclasses.replace(
            base,
            skill_groups=base.skill_groups | {group},
            paused=base.paused or paused,
            pause_reason=base.pause_reason
            or (text(ev, "PausedReason") or None if paused else None),
            device_state=device,
        )

    out: list[DomainEvent] = []
    for seat_id, seat in list(seats.items()):
        offer = seat_calls.get(seat_id)
        ends = max(seat.wrap_up_until or 0.0, wrap_ends.get(seat_id, 0.0))
        wrap = ends if ends > at else None
        seat = dataclasses.replace(
            seat,
            call_id=offer[0] if offer else None,
            connected=offer[1] if offer else False,
            wrap_up_until=None if offer else wrap,
        )
        seat = dataclasses.replace(seat, state=derive(seat))
        old = previous.seats.get(seat_id)
        if old is None or old.state is not seat.state or old.pause_reason != seat.pause_reason:
            seat = dataclasses.replace(seat, since=at)
            out.append(SeatStateChanged(seat, old.state if old else seat.state, "resync", at))
        seats[seat_id] = seat
    for seat_id, old in previous.seats.items():
        if seat_id not in seats:
            # Logged out while we were away: keep the seat, now offline.
            gone = dataclasses.replace(
                old,
                skill_groups=frozenset(),
                call_id=None,
                connected=False,
                paused=False,
                pause_reason=None,
                wrap_up_until=None,
            )
            gone = dataclasses.replace(gone, state=derive(gone), since=at)
            seats[seat_id] = gone
            if gone.state is not old.state:
                out.append(SeatStateChanged(gone, old.state, "resync", at))

    abandons, settled = settle_abandons(previous, channel_calls)
    out.extend(settled)  # before the calls' ends, as the caller's Hangup would have
    for call_id, old_call in previous.calls.items():
        if call_id not in calls:
            ended = end_call(old_call, at)
            out.append(
                CallTimelineEntry(
                    call_id,
                    "ended_unseen",
                    at,
                    detail={"reason": "ended while AMI was disconnected"},
                )
            )
            out.append(CallEnded(ended, at))
    for call_id, call in calls.items():
        if previous.calls.get(call_id) != call:
            out.append(CallUpdated(call, at))

    mirror = NodeMirror(
        name=snap.node,
        seats=seats,
        skill_groups=groups,
        calls=calls,
        channel_calls=channel_calls,
        channel_names=_channel_names(snap),
        devices=devices,
        abandons=abandons,
        synced=True,
    )
    out.append(MirrorRebuilt(snap.node, at))
    return mirror, out
