"""A call transferred from one seat to another is the new seat's, live and in history.

The attended sequence is the one Asterisk 22 sent on the bench for Atxfer from seat 1001
to seat 1002 through [cti-consult] (fields trimmed to what the tracker reads); the
blind one follows BlindTransfer of the caller into [cti-transfer]."""

from __future__ import annotations

from cti.ami.events import AmiEvent
from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent
from cti.domain.model import CallState, SeatState
from cti.tracker.tracker import Tracker, TrackerConfig

LINKED = "1796660683.0"
CALL = f"node1:{LINKED}"


def ev(name: str, at: float, **fields: str) -> AmiEvent:
    return {"Event": name, "Timestamp": str(at), "Linkedid": LINKED, **fields}


def channel(name: str, uniqueid: str, at: float, context: str = "agents") -> AmiEvent:
    return ev("Newchannel", at, Channel=name, Uniqueid=uniqueid, Context=context,
              CallerIDNum="0612345678", Exten="200")


def answered_by_1001() -> list[AmiEvent]:
    agent = {"Interface": "PJSIP/1001", "MemberName": "1001", "Queue": "sales"}
    return [
        ev("QueueMemberAdded", 0.0, Queue="sales", Interface="PJSIP/1001", Status="1",
           Paused="0"),
        channel("PJSIP/trunk-00000000", LINKED, 1.0, context="from-trunk"),
        ev("QueueCallerJoin", 1.0, Queue="sales", Uniqueid=LINKED, Position="1", Count="1"),
        channel("PJSIP/1001-00000001", "1.1", 1.1),
        ev("AgentCalled", 1.1, Uniqueid=LINKED, **agent),
        ev("AgentConnect", 2.0, Uniqueid=LINKED, HoldTime="1", RingTime="1", **agent),
    ]


def completed_by_1001(at: float) -> AmiEvent:
    return ev("AgentComplete", at, Uniqueid=LINKED, Interface="PJSIP/1001", Queue="sales",
              MemberName="1001", TalkTime="4", Reason="transfer")


def dial(name: str, at: float, uniqueid: str, status: str | None = None) -> AmiEvent:
    fields = {"Uniqueid": uniqueid, "DestChannel": "PJSIP/1002-00000002",
              "DestUniqueid": "1.4"}
    if status is not None:
        fields["DialStatus"] = status
    return ev(name, at, **fields)


def hangup(uniqueid: str, at: float, name: str) -> AmiEvent:
    return ev("Hangup", at, Uniqueid=uniqueid, Channel=name, Cause="16")


ATTENDED = [
    *answered_by_1001(),
    channel("Local/1002@cti-consult-00000000;1", "1.2", 5.0, context="cti-consult"),
    channel("Local/1002@cti-consult-00000000;2", "1.3", 5.0, context="cti-consult"),
    channel("PJSIP/1002-00000002", "1.4", 5.1),
    dial("DialBegin", 5.1, "1.3"),
    dial("DialEnd", 6.0, "1.3", "ANSWER"),  # 1002 talks with 1001, the caller on hold
    completed_by_1001(9.0),  # 1001 completes the transfer
    hangup("1.1", 9.0, "PJSIP/1001-00000001"),
    hangup("1.2", 9.1, "Local/1002@cti-consult-00000000;1"),
    hangup("1.3", 9.1, "Local/1002@cti-consult-00000000;2"),
]

BLIND = [
    *answered_by_1001(),
    completed_by_1001(5.0),  # the caller is sent to [cti-transfer] and 1001 leaves
    hangup("1.1", 5.0, "PJSIP/1001-00000001"),
    channel("PJSIP/1002-00000002", "1.4", 5.1),
    dial("DialBegin", 5.1, LINKED),
    dial("DialEnd", 6.0, LINKED, "ANSWER"),
]


def run(events: list[AmiEvent]) -> tuple[Tracker, list[DomainEvent]]:
    tracker = Tracker("node1", TrackerConfig())
    out: list[DomainEvent] = []
    for event in events:
        out.extend(tracker.apply(event, 0.0))
    return tracker, out


def test_an_attended_transfer_gives_the_call_to_the_seat_consulted() -> None:
    tracker, _ = run(ATTENDED[:-3])  # consulting: still 1001's call
    assert tracker.mirror.calls[CALL].seat_id == "1001"
    assert tracker.mirror.seats["1002"].call_id == CALL
    tracker, out = run(ATTENDED)
    call = tracker.mirror.calls[CALL]
    assert (call.seat_id, call.state) == ("1002", CallState.ON_CALL)
    assert tracker.mirror.seats["1001"].call_id is None
    moved = [e for e in out if isinstance(e, CallTimelineEntry) and e.kind == "transferred"]
    assert [(e.seat_id, (e.detail or {})["from"]) for e in moved] == [("1002", "1001")]


def test_a_blind_transfer_is_the_target_seats_once_it_answers_and_talk_is_the_callers() -> None:
    tracker, _ = run(BLIND[:-1])
    assert tracker.mirror.seats["1002"].call_id == CALL  # rung for the call
    assert tracker.mirror.calls[CALL].seat_id == "1001"  # not answered yet
    tracker, out = run([*BLIND, hangup("1.4", 30.0, "PJSIP/1002-00000002"),
                        hangup(LINKED, 30.0, "PJSIP/trunk-00000000")])
    (end,) = [e for e in out if isinstance(e, CallEnded)]
    assert (end.call.seat_id, end.call.talk_seconds) == ("1002", 28)  # from the answer at 2 s
    assert tracker.mirror.seats["1002"].call_id is None


def test_a_transfer_the_target_does_not_answer_frees_it_and_leaves_the_call_as_it_was() -> None:
    tracker, _ = run([*BLIND[:-1], dial("DialEnd", 20.0, LINKED, "NOANSWER")])
    seat = tracker.mirror.seats["1002"]
    assert (seat.call_id, seat.state) == (None, SeatState.OFFLINE)  # not in any group
    assert tracker.mirror.calls[CALL].seat_id == "1001"
