"""The tracker on calls the service places: click-to-dial through a Local channel.

The event sequence is the one Asterisk 22 sends for Originate(Local/1001@cti-click-agent/n,
ChannelId=cti-c2d-x) into [cti-click-to-dial] (seen on the bench, fields trimmed to what
the tracker reads)."""

from __future__ import annotations

from cti.ami.events import AmiEvent
from cti.domain.events import CallEnded, CallUpdated, DomainEvent, SeatStateChanged
from cti.domain.model import CallDirection, CallState, SeatState
from cti.tracker.tracker import OutboundIntent, Tracker, TrackerConfig

CALL = "node1:cti-c2d-x"


def ev(name: str, at: float, **fields: str) -> AmiEvent:
    return {"Event": name, "Timestamp": str(at), **fields}


def channel(name: str, uniqueid: str, at: float, context: str = "cti-click-agent") -> AmiEvent:
    return ev("Newchannel", at, Channel=name, Uniqueid=uniqueid, Linkedid="cti-c2d-x",
              Context=context, Exten="1001", CallerIDNum="8613800138000")


TRACE = [
    channel("Local/1001@cti-click-agent-00000001;1", "cti-c2d-x", 1.0),
    channel("Local/1001@cti-click-agent-00000001;2", "cti-c2d-x;2", 1.0),
    channel("PJSIP/1001-00000002", "1.2", 1.1, context="agents"),
    ev("DialEnd", 2.0, Uniqueid="cti-c2d-x;2", DestChannel="PJSIP/1001-00000002",
       DialStatus="ANSWER"),
    ev("DialBegin", 2.1, Uniqueid="cti-c2d-x", DestChannel="PJSIP/trunk-00000003"),
    channel("PJSIP/trunk-00000003", "1.3", 2.1, context="from-trunk"),
    ev("DialEnd", 5.0, Uniqueid="cti-c2d-x", DestChannel="PJSIP/trunk-00000003",
       DialStatus="ANSWER"),
    ev("Hangup", 20.0, Uniqueid="1.3", Cause="16", **{"Cause-txt": "Normal Clearing"}),
    ev("Hangup", 20.0, Uniqueid="cti-c2d-x"),
    ev("Hangup", 20.0, Uniqueid="cti-c2d-x;2"),
    ev("Hangup", 20.1, Uniqueid="1.2"),
]


def run(tracker: Tracker, events: list[AmiEvent]) -> list[DomainEvent]:
    out: list[DomainEvent] = []
    for event in events:
        out.extend(tracker.apply(event, 0.0))
    return out


def test_a_click_to_dial_call_is_outbound_to_the_customer_on_the_agents_seat() -> None:
    tracker = Tracker("node1", TrackerConfig())
    run(tracker, [ev("QueueMemberAdded", 0.5, Queue="sales", Interface="PJSIP/1001",
                     Status="1", Paused="0")])
    tracker.intents[CALL] = OutboundIntent(number="+8613800138000", seat_id="1001",
                                           campaign_id=7)
    out = run(tracker, TRACE[:4])
    assert [e.seat.state for e in out if isinstance(e, SeatStateChanged)] == [SeatState.RINGING]
    call = tracker.mirror.calls[CALL]
    assert call.direction is CallDirection.OUTBOUND
    assert call.customer_number == "+8613800138000" and call.seat_id == "1001"
    assert call.campaign_id == 7
    # The agent answering their own leg is not the customer answering.
    assert call.answered_at is None and call.state is CallState.DIALING
    assert tracker.mirror.seats["1001"].call_id == CALL

    out = run(tracker, TRACE[4:7])
    assert [e.seat.state for e in out if isinstance(e, SeatStateChanged)] == [SeatState.ON_CALL]
    call = tracker.mirror.calls[CALL]
    assert call.answered_at == 5.0 and call.state is CallState.ON_CALL
    assert tracker.mirror.seats["1001"].connected

    out = run(tracker, TRACE[7:])
    # no wrap-up after a call outside the queues: app_queue would not hold the seat back
    assert [e.seat.state for e in out if isinstance(e, SeatStateChanged)] == [
        SeatState.AVAILABLE]
    ended = [e for e in out if isinstance(e, CallEnded)]
    assert len(ended) == 1 and ended[0].call.id == CALL
    assert tracker.mirror.seats["1001"].call_id is None
    assert CALL not in tracker.intents


def test_without_an_intent_the_same_call_is_what_it_always_was() -> None:
    tracker = Tracker("node1", TrackerConfig())
    out = run(tracker, TRACE[:1])
    first = next(e for e in out if isinstance(e, CallUpdated)).call
    assert first.direction is CallDirection.INTERNAL and first.seat_id is None
    assert "1001" not in tracker.mirror.seats
