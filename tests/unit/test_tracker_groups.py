"""The live skill groups follow app_queue's counters and the configuration just applied.

app_queue reports its completed/abandoned counters only in QueueParams (at a resync) and
sends nothing when a reload adds, changes or drops a queue: the tracker keeps them."""

from __future__ import annotations

from cti.ami.events import AmiEvent
from cti.domain.events import DomainEvent, SeatStateChanged, SkillGroupChanged
from cti.domain.model import SeatState
from cti.tracker.tracker import Tracker, TrackerConfig


def ev(name: str, **fields: str) -> AmiEvent:
    return {"Event": name, "Timestamp": "100", **fields}


def member(queue: str, seat: str = "1001") -> AmiEvent:
    return ev("QueueMemberAdded", Queue=queue, Interface=f"PJSIP/{seat}", MemberName=seat,
              Status="1", Paused="0")


def tracker_with(*events: AmiEvent) -> Tracker:
    tracker = Tracker("node1", TrackerConfig())
    tracker.mirror.synced = True
    for event in events:
        tracker.apply(event, 0.0)
    return tracker


def test_completed_and_abandoned_count_up_as_app_queue_counts_them() -> None:
    tracker = tracker_with(member("sales"))
    out: list[DomainEvent] = []
    for event in (ev("AgentComplete", Queue="sales", Interface="PJSIP/1001",
                     Linkedid="1.1", TalkTime="30", Reason="caller"),
                  ev("QueueCallerAbandon", Queue="sales", Uniqueid="1.2", HoldTime="9"),
                  ev("QueueCallerAbandon", Queue="sales", Uniqueid="1.3", HoldTime="20")):
        out.extend(tracker.apply(event, 0.0))
    group = tracker.mirror.skill_groups["sales"]
    assert (group.completed, group.abandoned) == (1, 2)
    assert [e.name for e in out if isinstance(e, SkillGroupChanged)].count("sales") == 3


def test_applied_configuration_adds_changes_and_drops_groups_with_their_logins() -> None:
    tracker = tracker_with(member("sales"), member("temp"), member("temp", "1002"))
    out = tracker.configure_groups({"sales": "ringall", "billing": "leastrecent"}, 200.0)
    groups = tracker.mirror.skill_groups
    assert {n: g.strategy for n, g in groups.items()} == {"sales": "ringall",
                                                          "billing": "leastrecent"}
    # temp is gone from Asterisk, and with it 1001's login there and 1002's only one
    assert tracker.mirror.seats["1001"].skill_groups == frozenset({"sales"})
    assert tracker.mirror.seats["1002"].state is SeatState.OFFLINE
    assert any(isinstance(e, SeatStateChanged) and e.seat.id == "1002" for e in out)
    assert {e.name for e in out if isinstance(e, SkillGroupChanged)} == {"sales", "billing"}


def test_a_mirror_not_synced_yet_is_left_to_the_rebuild() -> None:
    tracker = Tracker("node1", TrackerConfig())
    assert tracker.configure_groups({"sales": "ringall"}, 0.0) == []
    assert tracker.mirror.skill_groups == {}


def test_a_membership_asterisk_denies_leaves_the_mirror_at_once() -> None:
    # QueueRemove answered "Not there": an event was missed; the seat was still shown in
    # the group (and logged in) until the next resync.
    tracker = tracker_with(member("sales"), member("support"))
    out = tracker.forget_member("1001", "support", 300.0)
    assert tracker.mirror.seats["1001"].skill_groups == frozenset({"sales"})
    assert "1001" not in tracker.mirror.skill_groups["support"].members
    assert [e.name for e in out if isinstance(e, SkillGroupChanged)] == ["support"]
    assert tracker.forget_member("1001", "support", 301.0) == []  # nothing left to forget
