"""How a call leaves a skill group without an agent, as the tracker tells it.

app_queue sends QueueCallerAbandon both when the caller hangs up and when the group's
maximum wait sends them on to voicemail (seen on Asterisk 22: tests/integration/
test_voicemail.py); the generated dialplan's UserEvent(CtiQueueExit) tells the two apart.
Field sets are trimmed to what the tracker reads."""

from __future__ import annotations

from cti.ami.events import AmiEvent, Snapshot
from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent, SeatStateChanged
from cti.domain.model import CallState, SeatState
from cti.tracker.rebuild import rebuild
from cti.tracker.tracker import QUEUE_EXIT_EVENT, Tracker, TrackerConfig

CALLER = "1700.1"
CALL = f"node1:{CALLER}"


def ev(name: str, at: float, **fields: str) -> AmiEvent:
    return {"Event": name, "Timestamp": str(at), **fields}


def queued(at: float = 1000.0) -> list[AmiEvent]:
    return [
        ev("QueueMemberAdded", at - 60, Queue="sales", Interface="PJSIP/1001", Status="1",
           Paused="0"),
        ev("Newchannel", at, Channel="PJSIP/trunk-00000001", Uniqueid=CALLER,
           Linkedid=CALLER, Context="from-trunk", CallerIDNum="0612345678", Exten="200"),
        ev("QueueCallerJoin", at, Queue="sales", Uniqueid=CALLER, Linkedid=CALLER,
           Position="1", Count="1"),
    ]


def rung(at: float) -> list[AmiEvent]:
    return [
        ev("Newchannel", at, Channel="PJSIP/1001-00000002", Uniqueid="1700.2",
           Linkedid=CALLER, Context="agents", Exten="1001"),
        ev("AgentCalled", at, Queue="sales", Uniqueid=CALLER, Linkedid=CALLER,
           Interface="PJSIP/1001", MemberName="1001"),
    ]


def abandon(at: float, held: int) -> AmiEvent:
    return ev("QueueCallerAbandon", at, Queue="sales", Uniqueid=CALLER, Linkedid=CALLER,
              HoldTime=str(held))


def hangup(uniqueid: str, at: float, channel: str = "PJSIP/trunk-00000001") -> AmiEvent:
    return ev("Hangup", at, Uniqueid=uniqueid, Linkedid=CALLER, Channel=channel, Cause="16")


def run(events: list[AmiEvent]) -> tuple[Tracker, list[DomainEvent]]:
    tracker = Tracker("node1", TrackerConfig())
    out: list[DomainEvent] = []
    for event in events:
        out.extend(tracker.apply(event, 0.0))
    return tracker, out


def kinds(out: list[DomainEvent]) -> list[str]:
    return [e.kind for e in out if isinstance(e, CallTimelineEntry)]


def ended(out: list[DomainEvent]) -> CallEnded:
    (end,) = [e for e in out if isinstance(e, CallEnded)]
    return end


def test_a_caller_who_hangs_up_in_the_queue_abandoned_when_they_hung_up() -> None:
    tracker, out = run([*queued(), abandon(1030.0, 30)])
    assert "abandoned" not in kinds(out)  # not yet: it may be the maximum wait
    tracker_out = tracker.apply(hangup(CALLER, 1030.0), 0.0)
    entry = next(e for e in tracker_out if isinstance(e, CallTimelineEntry))
    assert (entry.kind, entry.at, entry.detail) == ("abandoned", 1030.0, {"wait_seconds": 30})
    call = ended(list(tracker_out)).call
    assert (call.abandoned, call.wait_seconds) == (True, 30)


def test_the_maximum_wait_to_voicemail_is_no_abandon_and_frees_the_seat_it_rang() -> None:
    exit_event = ev("UserEvent", 1300.0, UserEvent=QUEUE_EXIT_EVENT, Uniqueid=CALLER,
                    Linkedid=CALLER, Queue="sales", Status="TIMEOUT")
    tracker, out = run([*queued(), *rung(1290.0), abandon(1300.0, 300),
                        hangup("1700.2", 1300.0, "PJSIP/1001-00000002"), exit_event])
    assert tracker.mirror.seats["1001"].state is SeatState.AVAILABLE
    call = tracker.mirror.calls[CALL]
    assert (call.state, call.abandoned, call.skill_group) == (CallState.DIALING, False, "sales")
    left = [e for e in out if isinstance(e, CallTimelineEntry) and e.kind == "left_queue"]
    assert left[0].detail == {"status": "TIMEOUT", "wait_seconds": 300}
    # a minute of voicemail later
    after = list(tracker.apply(hangup(CALLER, 1370.0), 0.0))
    assert "abandoned" not in kinds(out + after)
    assert (ended(after).call.abandoned, ended(after).call.wait_seconds) == (False, 300)


def test_a_seat_whose_ring_is_cancelled_while_the_call_waits_on_is_free_again() -> None:
    tracker, out = run([*queued(), *rung(1010.0),
                        hangup("1700.2", 1012.0, "PJSIP/1001-00000002")])
    changes = [(e.transition, e.seat.state) for e in out if isinstance(e, SeatStateChanged)
               and e.seat.id == "1001"]
    assert changes[-1] == ("offer_withdrawn", SeatState.AVAILABLE)
    assert tracker.mirror.calls[CALL].state is CallState.QUEUED


def test_a_caller_nobody_could_take_is_the_groups_call_all_the_same() -> None:
    # JOINEMPTY: Queue() refuses the caller at once, no QueueCallerJoin, voicemail next
    exit_event = ev("UserEvent", 1001.0, UserEvent=QUEUE_EXIT_EVENT, Uniqueid=CALLER,
                    Linkedid=CALLER, Queue="sales", Status="JOINEMPTY")
    _, out = run([queued()[1], exit_event, hangup(CALLER, 1060.0)])
    call = ended(out).call
    assert (call.skill_group, call.abandoned, call.wait_seconds) == ("sales", False, None)


# --- an abandon whose hangup the AMI link missed --------------------------------------------


def up(uniqueid: str, channel: str) -> AmiEvent:
    """A channel as CoreShowChannels lists it at a resync."""
    return {"Event": "CoreShowChannel", "Channel": channel, "Uniqueid": uniqueid,
            "Linkedid": CALLER, "Context": "from-trunk", "CallerIDNum": "0612345678",
            "Exten": "200", "Duration": "00:01:00", "ChannelState": "6", "Application": "",
            "ApplicationData": "", "BridgeId": ""}


def resync(tracker: Tracker, at: float, channels: list[AmiEvent]) -> list[DomainEvent]:
    """Rebuild the tracker's mirror as LiveCore does after a reconnect."""
    params: AmiEvent = {"Event": "QueueParams", "Queue": "sales", "Strategy": "rrmemory",
                        "Calls": "0", "Completed": "0", "Abandoned": "1"}
    snap = Snapshot("node1", 0, at, [params], channels, [])
    tracker.mirror, out = rebuild(snap, tracker.mirror, tracker.config)
    return out


def test_an_abandon_whose_hangup_was_missed_is_counted_at_the_resync() -> None:
    # app_queue's abandon arrived, then the link dropped before the caller's Hangup: the
    # caller is gone when the mirror is rebuilt, so it was no maximum-wait exit.
    tracker, _ = run([*queued(), *rung(1010.0), abandon(1030.0, 30)])
    out = resync(tracker, 1100.0, [])
    assert kinds(out) == ["abandoned", "ended_unseen"]
    (entry,) = [e for e in out if isinstance(e, CallTimelineEntry) and e.kind == "abandoned"]
    assert (entry.call_id, entry.at, entry.skill_group, entry.detail) == (
        CALL, 1030.0, "sales", {"wait_seconds": 30})
    assert ended(out).call.abandoned
    assert tracker.mirror.abandons == {}
    # a late Hangup of the caller counts nothing twice
    assert kinds(list(tracker.apply(hangup(CALLER, 1101.0), 0.0))) == []


def test_an_abandon_whose_caller_is_gone_while_the_call_goes_on_is_counted_at_the_resync(
) -> None:
    tracker, _ = run([*queued(), *rung(1010.0), abandon(1030.0, 30)])
    out = resync(tracker, 1100.0, [up("1700.2", "PJSIP/1001-00000002")])
    assert kinds(out) == ["abandoned"]
    assert CALL in tracker.mirror.calls and tracker.mirror.abandons == {}
    after = list(tracker.apply(hangup("1700.2", 1101.0, "PJSIP/1001-00000002"), 0.0))
    assert kinds(after) == ["ended"] and ended(after).call.abandoned


def test_an_abandon_whose_caller_is_still_up_at_the_resync_waits_for_its_hangup() -> None:
    tracker, _ = run([*queued(), abandon(1030.0, 30)])
    out = resync(tracker, 1031.0, [up(CALLER, "PJSIP/trunk-00000001")])
    assert "abandoned" not in kinds(out)  # still possibly the maximum wait's exit
    after = list(tracker.apply(hangup(CALLER, 1032.0), 0.0))
    assert kinds(after) == ["abandoned", "ended"]
    assert tracker.mirror.abandons == {}
