"""Contract tests: AMI traces recorded from the bench's real Asterisk 22, replayed through
our protocol (cut into arbitrary TCP-sized reads) and the tracker.

They pin what the tracker concludes from what Asterisk really sends; when Asterisk's
behaviour changes, re-record with ``scripts/record_ami_trace.py`` and these tell what moved.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from cti.ami.events import AmiEvent, Snapshot
from cti.ami.protocol import CtiProtocol
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    DomainEvent,
    SeatStateChanged,
)
from cti.domain.model import CallDirection, CallState, SeatState
from cti.tracker.rebuild import rebuild
from cti.tracker.tracker import Tracker, TrackerConfig, text

TRACES = Path(__file__).resolve().parents[1] / "fixtures" / "ami"
CONFIG = TrackerConfig(default_wrapup_seconds=2)  # the bench's queues.conf wrap-up


class _Transport:
    def close(self) -> None:
        pass

    def write(self, data: bytes) -> None:
        pass


def read_trace(name: str, chunk: int = 1371) -> list[AmiEvent]:
    """Every message with an Event header, in order, as our protocol parses it."""
    data = (TRACES / name).read_bytes()
    got: list[AmiEvent] = []
    proto = CtiProtocol(lambda first, events: got.extend(events), lambda exc: None)
    proto.connection_made(_Transport())  # type: ignore[arg-type]
    for i in range(0, len(data), chunk):
        proto.data_received(data[i : i + chunk])
    return got


def replay(events: Sequence[AmiEvent], tracker: Tracker | None = None) -> tuple[
    Tracker, list[DomainEvent]
]:
    tracker = tracker or Tracker("node1", CONFIG)
    tracker.mirror.synced = True
    out: list[DomainEvent] = []
    last = 0.0
    for ev in events:
        out.extend(tracker.apply(ev, last))
        if "Timestamp" in ev:
            last = float(text(ev, "Timestamp"))
    out.extend(tracker.tick(last + 60))
    return tracker, out


def seat_path(events: list[DomainEvent], seat: str) -> list[tuple[str, str]]:
    return [
        (e.transition, e.seat.state.value)
        for e in events
        if isinstance(e, SeatStateChanged) and e.seat.id == seat
    ]


def timeline(events: list[DomainEvent]) -> list[tuple[str, str | None]]:
    return [(e.kind, e.seat_id) for e in events if isinstance(e, CallTimelineEntry)]


def ended_calls(events: list[DomainEvent]) -> list[CallEnded]:
    return [e for e in events if isinstance(e, CallEnded)]


def first(events: list[AmiEvent], name: str) -> AmiEvent:
    return next(e for e in events if e.get("Event") == name)


@pytest.mark.parametrize("chunk", [1, 97, 1371, 65536])
def test_parsing_does_not_depend_on_how_reads_are_cut(chunk: int) -> None:
    whole = read_trace("answered_inbound.ami", 1 << 20)
    assert read_trace("answered_inbound.ami", chunk) == whole
    assert len(whole) == 40


def test_answered_inbound_call() -> None:
    events = read_trace("answered_inbound.ami")
    tracker, out = replay(events)

    assert seat_path(out, "1001") == [
        ("login", "available"),
        ("offer", "ringing"),
        ("answer", "on_call"),
        ("complete", "wrap_up"),
        ("wrap_up_end", "available"),
    ]
    [ended] = ended_calls(out)
    call = ended.call
    connect, complete = first(events, "AgentConnect"), first(events, "AgentComplete")
    assert call.direction is CallDirection.INBOUND
    assert (call.customer_number, call.skill_group, call.seat_id) == ("0612345678", "sales", "1001")
    assert call.wait_seconds == int(text(connect, "HoldTime"))
    assert call.talk_seconds == int(text(complete, "TalkTime"))
    assert call.state is CallState.ENDED and not call.abandoned
    assert call.answered_at is not None and call.ended_at is not None
    assert call.id == f"node1:{text(first(events, 'Newchannel'), 'Linkedid')}"
    assert [k for k, _ in timeline(out)] == [
        "started", "queued", "offered", "answered", "completed", "ended",
    ]
    assert tracker.mirror.calls == {} and tracker.mirror.channel_calls == {}
    assert tracker.mirror.skill_groups["sales"].members["1001"].penalty == 0


def test_the_wrap_up_ends_on_the_whole_second_app_queue_frees_the_seat() -> None:
    """app_queue keeps the last call in whole seconds: a 2 s wrap-up after a call that
    ended at 12.7 s frees the seat at 14 s, not 14.7 s."""
    events = read_trace("answered_inbound.ami")
    _, out = replay(events)
    completed = float(text(first(events, "AgentComplete"), "Timestamp"))
    changes = [e for e in out if isinstance(e, SeatStateChanged) and e.seat.id == "1001"]
    wrap_up = next(e for e in changes if e.transition == "complete")
    freed = next(e for e in changes if e.transition == "wrap_up_end")
    assert wrap_up.at == completed
    assert freed.at == math.floor(completed) + 2
    assert 1.0 < freed.at - wrap_up.at <= 2.0
    assert CONFIG.wrap_up_end("sales", 12.7) == 14.0
    assert CONFIG.wrap_up_end("sales", 12.0) == 14.0
    assert TrackerConfig().wrap_up_end("sales", 12.7) is None  # no wrap-up configured


def test_rollover_to_the_next_seat_when_the_first_never_answers() -> None:
    events = read_trace("agent_no_answer_rollover.ami")
    tracker, out = replay(events)

    assert timeline(out)[:6] == [
        ("started", None),
        ("queued", None),
        ("offered", "1001"),
        ("no_answer", "1001"),
        ("offered", "1002"),
        ("answered", "1002"),
    ]
    no_answer = next(e for e in out if isinstance(e, CallTimelineEntry) and e.kind == "no_answer")
    assert no_answer.detail == {"ring_ms": 15000, "reason": "ring_timeout"}
    assert ("no_answer", "available") in seat_path(out, "1001")
    assert seat_path(out, "1002")[-1] == ("wrap_up_end", "available")
    [ended] = ended_calls(out)
    assert (ended.call.seat_id, ended.call.wait_seconds) == ("1002", 18)
    assert tracker.mirror.seats["1001"].state is SeatState.AVAILABLE


def test_caller_abandons_while_a_seat_rings() -> None:
    events = read_trace("abandoned.ami")
    _, out = replay(events)

    [ended] = ended_calls(out)
    assert ended.call.abandoned and ended.call.wait_seconds == 6
    assert ended.call.seat_id is None and ended.call.answered_at is None
    # app_queue says nothing to the seat; the tracker must still free it.
    assert seat_path(out, "1001")[-1] == ("no_answer", "available")
    assert [k for k, _ in timeline(out)] == ["started", "queued", "offered", "abandoned", "ended"]


def test_pause_with_reason_and_logout() -> None:
    tracker, out = replay(read_trace("pause_unpause.ami"))
    changes = [
        (e.transition, e.seat.state.value, e.seat.pause_reason)
        for e in out
        if isinstance(e, SeatStateChanged)
    ]
    assert changes == [
        ("login", "available", None),
        ("pause", "paused", "lunch"),
        ("unpause", "available", None),
        ("logout", "offline", None),
    ]
    assert tracker.mirror.skill_groups["sales"].members == {}


def _snapshot(events: list[AmiEvent]) -> tuple[Snapshot, int]:
    """The resync lists answered in the trace, and the index of the first later event."""
    def of(action: str) -> list[AmiEvent]:
        return [e for e in events if e.get("ActionID") == f"resync-{action}"]

    lists = of("QueueStatus") + of("CoreShowChannels") + of("DeviceStateList")
    last = max(i for i, e in enumerate(events) if e.get("ActionID", "").startswith("resync-"))
    before = [e for e in events[:last] if "Timestamp" in e]
    taken_at = float(text(before[-1], "Timestamp"))
    snap = Snapshot(
        node="node1",
        seq=last + 1,
        taken_at=taken_at,
        queue_status=of("QueueStatus"),
        channels=of("CoreShowChannels"),
        device_states=of("DeviceStateList"),
    )
    assert lists
    return snap, last + 1


def test_resync_rebuilds_seats_and_calls_from_asterisks_lists() -> None:
    events = read_trace("resync_snapshot.ami")
    snap, after = _snapshot(events)
    mirror, out = rebuild(snap, Tracker("node1").mirror, CONFIG)

    seats = mirror.seats
    assert (seats["1001"].state, seats["1002"].state) == (SeatState.ON_CALL, SeatState.RINGING)
    calls = {c.customer_number: c for c in mirror.calls.values()}
    assert set(calls) == {"0611111111", "0622222222"}
    talking, waiting = calls["0611111111"], calls["0622222222"]
    assert (talking.state, talking.seat_id, talking.skill_group) == (
        CallState.ON_CALL, "1001", "sales")
    assert (waiting.state, waiting.skill_group) == (CallState.RINGING, "support")
    assert waiting.queued_at is not None and waiting.queued_at <= snap.taken_at
    assert seats["1001"].call_id == talking.id and seats["1002"].call_id == waiting.id
    assert mirror.synced
    assert {e.seat.id for e in out if isinstance(e, SeatStateChanged)} == {"1001", "1002"}

    # The events after the snapshot apply cleanly on the rebuilt mirror.
    tracker = Tracker("node1", CONFIG)
    tracker.mirror = mirror
    tracker, later = replay([e for e in events[after:] if "ActionID" not in e], tracker)
    ended = {e.call.customer_number: e.call for e in ended_calls(later)}
    assert set(ended) == {"0611111111", "0622222222"}
    assert ended["0622222222"].abandoned and not ended["0611111111"].abandoned
    assert tracker.mirror.calls == {}
    assert {s.state for s in tracker.mirror.seats.values()} == {SeatState.AVAILABLE}


def test_resync_with_a_stale_mirror_reports_what_changed_unseen() -> None:
    events = read_trace("answered_inbound.ami")
    cut = next(i for i, e in enumerate(events) if e.get("Event") == "AgentConnect") + 1
    tracker, _ = replay(events[:cut])
    assert tracker.mirror.seats["1001"].state is SeatState.ON_CALL
    # Asterisk restarted meanwhile: no queues members, no channels.
    empty = Snapshot("node1", 0, float(text(events[cut - 1], "Timestamp")) + 30, [], [], [])
    mirror, out = rebuild(empty, tracker.mirror, CONFIG)
    assert mirror.seats["1001"].state is SeatState.OFFLINE
    [ended] = ended_calls(out)
    assert ended.call.talk_seconds == 30 and ended.call.seat_id == "1001"
    assert any(isinstance(e, CallTimelineEntry) and e.kind == "ended_unseen" for e in out)


def test_agent_complete_after_the_callers_hangup_still_frees_the_seat() -> None:
    """Under load app_queue's AgentComplete can come after the caller channel's Hangup
    (seen at 4 calls/s in bench/inbound_load): the seat must still leave on_call."""
    events = read_trace("answered_inbound.ami")
    complete = next(i for i, e in enumerate(events) if text(e, "Event") == "AgentComplete")
    caller = text(events[complete], "Uniqueid")
    hangup = next(i for i, e in enumerate(events)
                  if text(e, "Event") == "Hangup" and text(e, "Uniqueid") == caller)
    assert hangup > complete  # as recorded; now move the caller's Hangup before it
    reordered = list(events)
    moved = reordered.pop(hangup)
    reordered.insert(complete, moved)
    tracker, out = replay(reordered)
    seat = next(e.seat.id for e in out if isinstance(e, SeatStateChanged)
                and e.seat.state.value == "on_call")
    assert ("complete", "wrap_up") in seat_path(out, seat)
    assert tracker.mirror.seats[seat].state.value == "available"  # after the wrap-up tick
    assert ("completed", seat) in timeline(out)


def test_a_seat_on_a_call_that_ended_is_freed_even_without_agent_complete() -> None:
    """bench/inbound_load saw AgentComplete missing for a few calls at 2-16 calls/s: the
    call's end must still take its seat off the call."""
    events = [e for e in read_trace("answered_inbound.ami")
              if text(e, "Event") != "AgentComplete"]
    tracker, out = replay(events)
    seat = next(e.seat.id for e in out if isinstance(e, SeatStateChanged)
                and e.seat.state.value == "on_call")
    assert ("complete", "wrap_up") in seat_path(out, seat)
    assert tracker.mirror.seats[seat].state.value == "available"


def test_resync_keeps_a_seat_in_the_wrap_up_app_queue_still_holds_it_in() -> None:
    """A new process (a restart mid-shift) knows no call's end: Asterisk's LastCall and
    the group's wrap-up say when app_queue offers each seat calls again. Shown available
    sooner, the seats drew calls the queue would not give them."""
    taken_at = 1795600000.4

    def member(seat: str, last_call: int) -> AmiEvent:
        return {"Event": "QueueMember", "Queue": "sales", "Name": f"PJSIP/{seat}",
                "Location": f"PJSIP/{seat}", "StateInterface": f"PJSIP/{seat}",
                "Membership": "dynamic", "Penalty": "0", "CallsTaken": "1",
                "LastCall": str(last_call), "InCall": "0", "Status": "1", "Paused": "0",
                "PausedReason": "", "Wrapuptime": "0"}

    snap = Snapshot("node1", 0, taken_at, [
        {"Event": "QueueParams", "Queue": "sales", "Strategy": "rrmemory", "Calls": "0"},
        member("1003", math.floor(taken_at) - 1),  # ended a second ago: 2 s of wrap-up
        member("1004", math.floor(taken_at) - 10),  # long done
        member("1005", 0),  # no call yet
    ], [], [])
    mirror, _ = rebuild(snap, Tracker("node1").mirror, CONFIG)
    seats = mirror.seats
    assert seats["1003"].state is SeatState.WRAP_UP
    assert seats["1003"].wrap_up_until == math.floor(taken_at) - 1 + 2
    assert seats["1004"].state is SeatState.AVAILABLE
    assert seats["1005"].state is SeatState.AVAILABLE
