"""Domain events -> stream deltas, and snapshots: pure functions over the live view.

:class:`DeltaEncoder` turns each domain event into zero or more :class:`Delta` (type,
time, data, audience) through an explicit table (:data:`ENCODERS`), reading skill-group
figures from the live view at that moment (the bus calls subscribers synchronously right
after the tracker changed the mirror, so the view matches the event). It keeps the little
state the filtering needs: which seats each active call concerns, and the last skill-group
figures sent (an unchanged group is not sent again). The wire format is documented in
:mod:`cti.stream`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cti.api.schemas import MEMBER_STATUS_NAMES, CallOut, SeatOut
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    MirrorRebuilt,
    NodeConnectionChanged,
    RecordingCatalogued,
    RecordingsDeleted,
    SeatStateChanged,
    SeatUpdated,
    SkillGroupChanged,
    about_supervision_leg,
)
from cti.domain.model import Call, Seat, SkillGroup, SkillGroupMember, is_supervision_leg
from cti.domain.view import LiveView
from cti.stream.audience import EVERYONE, SUPERVISORS, Audience, CallSeats, Viewer

Data = dict[str, Any]

# Timeline kinds after which the named seat no longer concerns the call.
_LEAVES_CALL = frozenset({"no_answer", "dumped"})


@dataclass(frozen=True, slots=True)
class Delta:
    type: str
    at: float
    data: Data
    audience: Audience
    agent_data: Data | None = None  # what agents see instead, when it differs


def iso(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).isoformat().replace("+00:00", "Z")


def render(kind: str, seq: int, at: float, data: Data) -> str:
    """One wire message: ``{"type", "seq", "at", "data"}`` as compact JSON."""
    return json.dumps(
        {"type": kind, "seq": seq, "at": iso(at), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


# --- records as the stream shows them ----------------------------------------------------


def call_data(call: Call, *, active: bool = True) -> Data:
    out = CallOut.from_live(call).model_dump(mode="json")
    out["active"] = active
    return out


def _weight(m: SkillGroupMember | None) -> tuple[int, int, int]:
    """What one member adds to (total, paused, available). app_queue status 1 is "not in
    use": a member that could take a call now."""
    if m is None:
        return (0, 0, 0)
    return (1, int(m.paused), int(not m.paused and m.status == 1))


def _summary(group: SkillGroup, counts: Sequence[int]) -> Data:
    return {
        "name": group.name,
        "node": group.node,
        "strategy": group.strategy,
        "calls_waiting": group.calls_waiting,
        "completed": group.completed,
        "abandoned": group.abandoned,
        "members_total": counts[0],
        "members_paused": counts[1],
        "members_available": counts[2],
    }


def group_summary(group: SkillGroup) -> Data:
    counts = [0, 0, 0]
    for m in group.members.values():
        for i, w in enumerate(_weight(m)):
            counts[i] += w
    return _summary(group, counts)


@dataclass(slots=True)
class _SentGroup:
    """What the stream last said about a group: deltas carry only what changed among the
    members (a 200-seat group would be ~40 kB on every change)."""

    node: str
    summary: Data
    members: dict[str, SkillGroupMember]
    counts: list[int]


def member_data(m: SkillGroupMember) -> Data:
    """A member as ``SkillGroupMemberOut`` shows it (built directly: this is hot)."""
    return {
        "seat_id": m.seat_id,
        "interface": m.interface,
        "penalty": m.penalty,
        "paused": m.paused,
        "pause_reason": m.pause_reason,
        "status": m.status,
        "status_name": MEMBER_STATUS_NAMES.get(m.status, "unknown"),
        "calls_taken": m.calls_taken,
        "wrapup_seconds": m.wrapup_seconds,
    }


def group_full(group: SkillGroup) -> Data:
    members = sorted(group.members.values(), key=lambda m: (m.penalty, m.seat_id))
    return {**group_summary(group), "members": [member_data(m) for m in members]}


# --- the encoder -----------------------------------------------------------------------


class DeltaEncoder:
    """Stateful translation of domain events into deltas (no I/O, no clock)."""

    def __init__(self, view: LiveView) -> None:
        self.view = view
        self.call_seats = CallSeats()
        self._groups: dict[str, _SentGroup] = {}
        self._nodes: dict[str, Data] = {}  # last node delta, by node name

    def encode(self, event: DomainEvent) -> list[Delta]:
        encoder = ENCODERS.get(type(event))
        if encoder is None or about_supervision_leg(event):
            return []  # a supervisor's listening leg is on no wallboard (/monitor has it)
        return encoder(self, event)

    def _audience(self, call_id: str) -> Audience:
        return Audience(seats=self.call_seats.of(call_id))

    def _learn(self, call_id: str | None, seat_id: str | None) -> None:
        """Note that ``seat_id`` is on ``call_id``, if that call is still active.

        app_queue's AgentComplete (or AgentDump) can arrive after the call's last Hangup,
        naming the call that ``call_ended`` already forgot: learning it then would keep an
        entry no CallEnded will ever free (only the next rebuild did). A call already
        known is active (ended calls leave the map), so the live view is asked only the
        first time a call gets a seat."""
        if not call_id or not seat_id:
            return
        if call_id in self.call_seats or call_id in self.view.active_calls():
            self.call_seats.add(call_id, seat_id)

    def seat(self, event: SeatStateChanged) -> list[Delta]:
        return self._seat(event.seat, event.previous.value, event.transition, event.at)

    def seat_updated(self, event: SeatUpdated) -> list[Delta]:
        # the same state, showing something new
        return self._seat(event.seat, event.seat.state.value, event.transition, event.at)

    def _seat(self, seat: Seat, previous: str, transition: str, at: float) -> list[Delta]:
        self._learn(seat.call_id, seat.id)
        data = SeatOut.from_live(seat).model_dump(mode="json")
        data["previous"] = previous
        data["transition"] = transition
        return [Delta("seat", at, data, Audience(seats=frozenset({seat.id})))]

    def call(self, event: CallUpdated) -> list[Delta]:
        call = event.call
        self.call_seats.add(call.id, call.seat_id)
        return [Delta("call", event.at, call_data(call), self._audience(call.id))]

    def call_ended(self, event: CallEnded) -> list[Delta]:
        call = event.call
        self.call_seats.add(call.id, call.seat_id)
        seats = self.call_seats.end(call.id)
        return [Delta("call", event.at, call_data(call, active=False), Audience(seats=seats))]

    def timeline(self, event: CallTimelineEntry) -> list[Delta]:
        self._learn(event.call_id, event.seat_id)
        data = {
            "call_id": event.call_id,
            "kind": event.kind,
            "at": iso(event.at),
            "seat_id": event.seat_id,
            "skill_group": event.skill_group,
            "detail": event.detail,
        }
        seats = self.call_seats.of(event.call_id)
        if event.seat_id:  # the seat an entry names concerns it, even after the call ended
            seats = seats | {event.seat_id}
        audience = Audience(seats=seats)
        if event.kind in _LEAVES_CALL:
            self.call_seats.remove(event.call_id, event.seat_id)
        return [Delta("call_timeline", event.at, data, audience)]

    def skill_group(self, event: SkillGroupChanged) -> list[Delta]:
        group = self.view.skill_groups().get(event.name)
        if group is None:
            return []
        sent = self._groups.get(group.name)
        if sent is None:
            return self._group_delta(group, event.at)
        # Only the named member can have changed (None: only the group's figures).
        changed: list[SkillGroupMember] = []
        removed: list[str] = []
        seat_id = event.seat_id
        if seat_id is not None:
            old = sent.members.get(seat_id)
            new = group.members.get(seat_id)
            if old is not new and old != new:
                for i, (before, after) in enumerate(zip(_weight(old), _weight(new), strict=True)):
                    sent.counts[i] += after - before
                if new is None:
                    del sent.members[seat_id]
                    removed.append(seat_id)
                else:
                    sent.members[seat_id] = new
                    changed.append(new)
        return self._sent_delta(group, sent, changed, removed, event.at)

    def _group_delta(self, group: SkillGroup, at: float) -> list[Delta]:
        """Compare the whole group with what was last sent (first sight, rebuilds)."""
        sent = self._groups.get(group.name)
        old_members = sent.members if sent is not None else {}
        members = group.members
        # The tracker replaces the record of a member that changed, so identity rules out
        # the unchanged ones cheaply; equality then drops rewrites to the same values.
        changed = [
            m
            for seat_id, m in members.items()
            if (old := old_members.get(seat_id)) is not m and old != m
        ]
        removed = sorted(s for s in old_members if s not in members)
        summary = group_summary(group)
        counts = [summary["members_total"], summary["members_paused"],
                  summary["members_available"]]
        if sent is None:
            sent = self._groups[group.name] = _SentGroup(group.node, {}, {}, counts)
        sent.members = dict(members)
        sent.counts = counts
        return self._sent_delta(group, sent, changed, removed, at)

    def _sent_delta(
        self,
        group: SkillGroup,
        sent: _SentGroup,
        changed: list[SkillGroupMember],
        removed: list[str],
        at: float,
    ) -> list[Delta]:
        summary = _summary(group, sent.counts)
        if summary == sent.summary and not changed and not removed:
            return []
        sent.summary = summary
        changed.sort(key=lambda m: (m.penalty, m.seat_id))
        full = {
            **summary,
            "members": [member_data(m) for m in changed],
            "removed_members": removed,
        }
        return [Delta("skill_group", at, full, EVERYONE, agent_data=summary)]

    def rebuilt(self, event: MirrorRebuilt) -> list[Delta]:
        out: list[Delta] = []
        groups = self.view.skill_groups()
        for name in sorted(groups):
            if groups[name].node == event.node:
                out.extend(self._group_delta(groups[name], event.at))
        for name in sorted(self._groups):
            if self._groups[name].node == event.node and name not in groups:
                del self._groups[name]
                gone = {"name": name, "node": event.node, "removed": True}
                out.append(Delta("skill_group", event.at, gone, EVERYONE))
        self.call_seats.keep_only(self.view.active_calls())
        out.append(Delta("mirror_rebuilt", event.at, {"node": event.node}, EVERYONE))
        return out

    def node(self, event: NodeConnectionChanged) -> list[Delta]:
        data = {"node": event.node, "connected": event.connected, "reason": event.reason}
        self._nodes[event.node] = {**data, "since": iso(event.at)}
        return [Delta("node", event.at, data, EVERYONE)]

    def recording(self, event: RecordingCatalogued) -> list[Delta]:
        """For supervisors, and for the agent of the recording's seat (as the REST API)."""
        data = recording_data(event)
        seats = frozenset({event.seat_id}) if event.seat_id else frozenset()
        return [Delta("recording", event.at, data, Audience(seats=seats))]

    def recordings_deleted(self, event: RecordingsDeleted) -> list[Delta]:
        """One delta per sweep batch, for supervisors only (a batch is up to thousands
        of recordings, months old: agents' desks have no use for it)."""
        data = {"batch_id": event.batch_id, "call_ids": list(event.call_ids)}
        return [Delta("recordings_deleted", event.at, data, SUPERVISORS)]

    # --- snapshots ---------------------------------------------------------------------

    def snapshot(self, viewer: Viewer) -> Data:
        """What ``viewer`` may see of the live mirror now, in the deltas' shapes."""
        seats = self.view.seats()
        calls = self.view.active_calls()
        groups = self.view.skill_groups()
        if viewer.sees_all:
            seat_ids = sorted(seats)
            call_ids = sorted(c for c in calls if not is_supervision_leg(c))
        else:
            mine = seats.get(viewer.seat_id) if viewer.seat_id is not None else None
            seat_ids = [mine.id] if mine is not None else []
            call_ids = sorted(c for c in calls if self._concerns(calls[c], viewer, mine))
        return {
            "seats": [_seat_now(seats[s]) for s in seat_ids],
            "skill_groups": [
                group_full(groups[g]) if viewer.sees_all else group_summary(groups[g])
                for g in sorted(groups)
            ],
            "calls": [call_data(calls[c]) for c in call_ids],
            "nodes": [self._nodes[n] for n in sorted(self._nodes)],
        }

    def _concerns(self, call: Call, viewer: Viewer, seat: Seat | None) -> bool:
        seat_id = viewer.seat_id
        if seat_id is None:
            return False
        return (
            call.seat_id == seat_id
            or seat_id in self.call_seats.of(call.id)
            or (seat is not None and seat.call_id == call.id)
        )


def recording_data(event: RecordingCatalogued) -> Data:
    """The recording as ``RecordingOut`` shows it (without tags, hold and hash: a new
    recording has none, and the hash is in the REST record)."""
    gap = (None if event.call_seconds is None
           else round(max(0.0, event.call_seconds - event.duration_seconds), 3))
    return {
        "id": event.recording_id,
        "call_id": event.call_id,
        "direction": event.direction,
        "seat_id": event.seat_id,
        "customer_number": event.customer_number,
        "skill_group": event.skill_group,
        "campaign": event.campaign,
        "started_at": iso(event.started_at),
        "duration_seconds": event.duration_seconds,
        "call_seconds": event.call_seconds,
        "audio_gap_seconds": gap,
        "channels": event.channels,
        "size_bytes": event.size_bytes,
        "audio_url": f"/v1/recordings/{event.recording_id}/audio",
    }


def _seat_now(seat: Seat) -> Data:
    data: Data = SeatOut.from_live(seat).model_dump(mode="json")
    return data


Encoder = Callable[[DeltaEncoder, Any], list[Delta]]

# The subscription table: which domain events become deltas, and how. Domain events not
# listed here are not streamed.
ENCODERS: Mapping[type, Encoder] = {
    SeatStateChanged: DeltaEncoder.seat,
    SeatUpdated: DeltaEncoder.seat_updated,
    CallUpdated: DeltaEncoder.call,
    CallEnded: DeltaEncoder.call_ended,
    CallTimelineEntry: DeltaEncoder.timeline,
    SkillGroupChanged: DeltaEncoder.skill_group,
    MirrorRebuilt: DeltaEncoder.rebuilt,
    NodeConnectionChanged: DeltaEncoder.node,
    RecordingCatalogued: DeltaEncoder.recording,
    RecordingsDeleted: DeltaEncoder.recordings_deleted,
}
