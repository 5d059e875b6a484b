"""The live event stream's hub: numbering, snapshot seam, resume, cut-off, role filtering.

Domain events come from the real tracker replaying a trace recorded from Asterisk 22
(tests/fixtures/ami), or are built by hand where a property needs arbitrary sequences.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.ami.events import Snapshot
from cti.api.auth import Caller, Role
from cti.api.errors import InvalidInput
from cti.api.routes.events import (
    RedactQueryTokens,
    coalesced,
    parse_flag,
    parse_since,
    viewer_of,
)
from cti.domain.events import (
    DomainEvent,
    NodeConnectionChanged,
    RecordingCatalogued,
    RecordingsDeleted,
    SeatStateChanged,
    SkillGroupChanged,
)
from cti.domain.model import Call, Seat, SeatState, SkillGroup, SkillGroupMember
from cti.stream.audience import Audience, Viewer
from cti.stream.deltas import group_summary
from cti.stream.hub import EventHub, Resume, Subscription, resume_plan
from cti.tracker.rebuild import rebuild
from cti.tracker.tracker import Tracker, text
from tests.contract.test_traces import CONFIG, read_trace
from tests.unit._api_fakes import FakeLiveView

SUPERVISOR = Viewer(sees_all=True)
T0 = 1_717_200_000.0


class MirrorView:
    """The tracker's own mirror as a LiveView (what LiveCore does for several nodes)."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker

    def seats(self) -> Mapping[str, Seat]:
        return self.tracker.mirror.seats

    def skill_groups(self) -> Mapping[str, SkillGroup]:
        return self.tracker.mirror.skill_groups

    def active_calls(self) -> Mapping[str, Call]:
        return self.tracker.mirror.calls


def drain(sub: Subscription) -> list[dict[str, Any]]:
    """What the route would send ``sub`` now, decoded: queued messages, then the resync
    if the client was cut off."""
    out: list[dict[str, Any]] = []
    while sub.pending:
        out.extend(json.loads(t) for t in asyncio.run(sub.take()))
    if sub.resync_text is not None:
        out.append(json.loads(sub.resync_text))
    return out


def replay_into(hub: EventHub, tracker: Tracker, trace: str) -> None:
    """Feed a recorded trace through the tracker, publishing on the hub as the bus would."""
    tracker.mirror.synced = True
    last = 0.0
    for ev in read_trace(trace):
        out = tracker.apply(ev, last)
        if out:
            hub.publish(out)
        if "Timestamp" in ev:
            last = float(text(ev, "Timestamp"))


def seat_event(seat_id: str, state: SeatState, at: float) -> SeatStateChanged:
    seat = Seat(id=seat_id, node="node1", interface=f"PJSIP/{seat_id}", state=state, since=at)
    return SeatStateChanged(seat, SeatState.OFFLINE, "login", at)


def node_event(i: int) -> NodeConnectionChanged:
    return NodeConnectionChanged("node1", i % 2 == 0, T0 + i, reason=f"r{i}")


def deltas(messages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    control = {"snapshot", "resumed", "resync"}
    return [m for m in messages if m["type"] not in control]


# --- ordering and the snapshot seam ------------------------------------------------------


def test_a_call_arrives_as_a_snapshot_then_consecutive_deltas_in_order() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    sub = hub.subscribe(SUPERVISOR)
    start = hub.seq
    replay_into(hub, tracker, "answered_inbound.ami")

    got = drain(sub)
    assert got[0]["type"] == "snapshot" and got[0]["seq"] == start
    assert got[0]["data"] == {"seats": [], "skill_groups": [], "calls": [], "nodes": []}
    seqs = [m["seq"] for m in got[1:]]
    assert seqs == list(range(start + 1, hub.seq + 1))
    assert {m["type"] for m in got[1:]} >= {"seat", "call", "call_timeline", "skill_group"}
    call_id = next(m["data"]["id"] for m in got if m["type"] == "call")
    kinds = [m["data"]["kind"] for m in got
             if m["type"] == "call_timeline" and m["data"]["call_id"] == call_id]
    assert kinds[0] == "started" and kinds[-1] == "ended"
    assert kinds.index("queued") < kinds.index("offered") < kinds.index("answered")
    assert kinds.index("answered") < kinds.index("completed")
    calls = [m["data"] for m in got if m["type"] == "call" and m["data"]["id"] == call_id]
    assert calls[-1]["active"] is False and calls[-1]["state"] == "ended"
    assert all(c["active"] for c in calls[:-1])


def test_a_snapshot_taken_mid_call_plus_the_deltas_after_it_match_the_mirror() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    events = read_trace("answered_inbound.ami")
    tracker.mirror.synced = True
    half = len(events) // 2
    for ev in events[:half]:
        hub.publish(tracker.apply(ev, T0))
    sub = hub.subscribe(SUPERVISOR)
    for ev in events[half:]:
        hub.publish(tracker.apply(ev, T0))

    got = drain(sub)
    snapshot = got[0]
    assert snapshot["type"] == "snapshot"
    seats = {s["id"]: s for s in snapshot["data"]["seats"]}
    for m in got[1:]:
        assert m["seq"] > snapshot["seq"]
        if m["type"] == "seat":
            seats[m["data"]["id"]] = m["data"]
    for seat_id, seat in tracker.mirror.seats.items():
        assert seats[seat_id]["state"] == seat.state.value


def test_unchanged_skill_group_figures_are_not_sent_twice() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    sub = hub.subscribe(SUPERVISOR)
    replay_into(hub, tracker, "pause_unpause.ami")
    groups = [m["data"] for m in drain(sub) if m["type"] == "skill_group"]
    assert groups
    last: dict[str, dict[str, Any]] = {}
    for group in groups:
        assert last.get(group["name"]) != group
        last[group["name"]] = group
    assert hub.encoder.encode(SkillGroupChanged("node1", groups[-1]["name"], T0)) == []


# --- role filtering ----------------------------------------------------------------------


def test_an_agent_sees_its_seat_the_calls_it_rings_for_and_group_summaries_only() -> None:
    # The recorded call rings seat 1001, which does not answer, then 1002, which does.
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    missed = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    took = hub.subscribe(Viewer(sees_all=False, seat_id="1002"))
    stranger = hub.subscribe(Viewer(sees_all=False, seat_id="9999"))
    everyone = hub.subscribe(SUPERVISOR)
    replay_into(hub, tracker, "agent_no_answer_rollover.ami")

    full = deltas(drain(everyone))
    assert {m["data"]["id"] for m in full if m["type"] == "seat"} == {"1001", "1002"}
    got = deltas(drain(took))
    assert {m["data"]["id"] for m in got if m["type"] == "seat"} == {"1002"}
    kinds = [m["data"]["kind"] for m in got if m["type"] == "call_timeline"]
    # It learns of the call when its seat is offered it, and follows it to the end.
    assert kinds == ["offered", "answered", "completed", "ended"]
    calls = [m["data"] for m in got if m["type"] == "call"]
    assert calls[0]["state"] == "ringing" and calls[-1]["active"] is False
    groups = [m["data"] for m in got if m["type"] == "skill_group"]
    assert groups and all("members" not in g for g in groups)
    assert all("members_total" in g for g in groups)
    assert all("members" in m["data"] for m in full if m["type"] == "skill_group")

    rang = deltas(drain(missed))
    assert {m["data"]["id"] for m in rang if m["type"] == "seat"} == {"1001"}
    kinds = [m["data"]["kind"] for m in rang if m["type"] == "call_timeline"]
    assert kinds == ["offered", "no_answer"]  # and nothing of the call after that

    seen = deltas(drain(stranger))
    assert {m["type"] for m in seen} == {"skill_group"}


def test_an_agent_snapshot_holds_its_own_seat_and_call_only() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    tracker.mirror.synced = True
    for ev in read_trace("agent_no_answer_rollover.ami"):
        hub.publish(tracker.apply(ev, T0))
        if tracker.mirror.seats.get("1002", Seat("", "", "")).connected:
            break
    seat = tracker.mirror.seats["1002"]
    snap = drain(hub.subscribe(Viewer(sees_all=False, seat_id="1002")))[0]["data"]
    assert [s["id"] for s in snap["seats"]] == ["1002"]
    assert [c["id"] for c in snap["calls"]] == [seat.call_id]
    assert all("members" not in g for g in snap["skill_groups"])
    other = drain(hub.subscribe(Viewer(sees_all=False, seat_id="1001")))[0]["data"]
    assert [s["id"] for s in other["seats"]] == ["1001"] and other["calls"] == []
    full = drain(hub.subscribe(SUPERVISOR))[0]["data"]
    assert [s["id"] for s in full["seats"]] == ["1001", "1002"]
    assert [c["id"] for c in full["calls"]] == [seat.call_id]
    assert all("members" in g for g in full["skill_groups"])


def test_an_agent_complete_after_the_last_hangup_leaves_no_call_seats_behind() -> None:
    # Under load app_queue's AgentComplete can come after the caller's last Hangup: the
    # call has ended (and left the encoder's call -> seats map) when it names the seat.
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    desk = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    events = read_trace("answered_inbound.ami")
    complete = next(e for e in events if e.get("Event") == "AgentComplete")
    last_hangup = max(i for i, e in enumerate(events) if e.get("Event") == "Hangup")
    late = [e for e in events[: last_hangup + 1] if e is not complete]
    tracker.mirror.synced = True
    for ev in [*late, complete]:
        hub.publish(tracker.apply(ev, T0))

    assert tracker.mirror.calls == {}
    assert len(hub.encoder.call_seats) == 0
    kinds = [m["data"]["kind"] for m in deltas(drain(desk)) if m["type"] == "call_timeline"]
    assert kinds[-2:] == ["ended", "completed"]  # the seat's agent still hears of it


def test_a_dump_after_the_last_hangup_leaves_no_call_seats_behind() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    events = read_trace("answered_inbound.ami")
    complete = next(e for e in events if e.get("Event") == "AgentComplete")
    tracker.mirror.synced = True
    for ev in [e for e in events if e is not complete]:
        hub.publish(tracker.apply(ev, T0))
    hub.publish(tracker.apply({**complete, "Event": "AgentDump"}, T0))
    assert len(hub.encoder.call_seats) == 0


def test_viewer_rules() -> None:
    agent = viewer_of(Caller(1, "a", Role.AGENT, "1001"))
    assert viewer_of(Caller(2, "s", Role.SUPERVISOR, None)).sees_all
    assert viewer_of(Caller(3, "r", Role.ADMIN, "1002")).sees_all
    assert not agent.sees_all
    assert agent.can_see(Audience(everyone=True))
    assert agent.can_see(Audience(seats=frozenset({"1001", "1002"})))
    assert not agent.can_see(Audience(seats=frozenset({"1002"})))
    assert not Viewer(sees_all=False).can_see(Audience(seats=frozenset({"1001"})))


# --- slow clients -------------------------------------------------------------------------


def test_a_full_queue_cuts_that_client_off_with_resync_and_the_others_get_everything() -> None:
    hub = EventHub(FakeLiveView(), client_queue=3, clock=lambda: T0)
    slow = hub.subscribe(SUPERVISOR)
    fast = hub.subscribe(SUPERVISOR)
    received: list[dict[str, Any]] = []
    for i in range(10):
        hub.publish([node_event(i)])
        received.extend(drain(fast))
    assert [m["seq"] for m in deltas(received)] == list(range(hub.seq - 9, hub.seq + 1))
    assert slow.is_cut_off and slow.cut_reason == "slow_consumer"
    assert slow.pending == 0 and asyncio.run(slow.take()) == []
    assert slow.resync_text is not None
    assert json.loads(slow.resync_text)["data"] == {"reason": "slow_consumer"}
    assert hub.subscribers == 1 and hub.cut_offs == 1


def test_a_cut_off_agent_no_longer_costs_the_publisher_anything() -> None:
    hub = EventHub(FakeLiveView(), client_queue=2, clock=lambda: T0)
    agent = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    for i in range(5):
        hub.publish([seat_event("1001", SeatState.AVAILABLE, T0 + i)])
    assert agent.is_cut_off
    assert hub.subscribers == 0
    hub.publish([seat_event("1001", SeatState.PAUSED, T0 + 9)])
    assert agent.pending == 0


# --- resuming ------------------------------------------------------------------------------


def test_resume_replays_exactly_what_was_missed_as_the_viewer_may_see_it() -> None:
    hub = EventHub(FakeLiveView(), clock=lambda: T0)
    agent_view = Viewer(sees_all=False, seat_id="1001")
    first = hub.subscribe(agent_view)
    hub.publish([seat_event("1001", SeatState.AVAILABLE, T0 + 1)])
    seen = deltas(drain(first))[-1]["seq"]
    hub.unsubscribe(first)
    hub.publish([seat_event("1002", SeatState.AVAILABLE, T0 + 2)])  # not hers
    hub.publish([seat_event("1001", SeatState.PAUSED, T0 + 3), node_event(4)])

    got = drain(hub.subscribe(agent_view, since=seen))
    assert got[0]["type"] == "resumed" and got[0]["seq"] == seen
    assert got[0]["data"] == {"replayed": 2}
    assert [(m["type"], m["seq"]) for m in got[1:]] == [("seat", seen + 2), ("node", seen + 3)]
    assert got[1]["data"]["state"] == "paused"


def test_resume_from_the_last_number_replays_nothing() -> None:
    hub = EventHub(FakeLiveView(), clock=lambda: T0)
    hub.publish([node_event(1)])
    got = drain(hub.subscribe(SUPERVISOR, since=hub.seq))
    assert got == [{"type": "resumed", "seq": hub.seq, "at": got[0]["at"],
                    "data": {"replayed": 0}}]


@pytest.mark.parametrize(
    ("since_offset", "reason"), [(-50, "too_old"), (+1, "unknown_sequence")]
)
def test_resume_from_beyond_the_ring_is_told_to_resync_then_gets_a_snapshot(
    since_offset: int, reason: str
) -> None:
    live = FakeLiveView(seat_map={"1001": seat_event("1001", SeatState.AVAILABLE, T0).seat})
    hub = EventHub(live, ring_size=10, clock=lambda: T0)
    for i in range(30):
        hub.publish([node_event(i)])
    got = drain(hub.subscribe(SUPERVISOR, since=hub.seq + since_offset))
    assert [m["type"] for m in got] == ["resync", "snapshot"]
    assert got[0]["data"] == {"reason": reason}
    assert got[1]["seq"] == hub.seq
    assert [s["id"] for s in got[1]["data"]["seats"]] == ["1001"]


def test_a_restarted_service_tells_clients_of_the_old_one_to_resync() -> None:
    old = EventHub(FakeLiveView(), clock=lambda: T0)
    for i in range(5):
        old.publish([node_event(i)])
    new = EventHub(FakeLiveView(), clock=lambda: T0 + 60)
    new.publish([node_event(9)])
    assert new.seq > old.seq
    got = drain(new.subscribe(SUPERVISOR, since=old.seq))
    assert [m["type"] for m in got] == ["resync", "snapshot"]
    assert got[0]["data"] == {"reason": "too_old"}


def test_a_replay_longer_than_a_client_queue_is_a_resync() -> None:
    hub = EventHub(FakeLiveView(), ring_size=100, client_queue=5, clock=lambda: T0)
    since = hub.seq
    for i in range(20):
        hub.publish([node_event(i)])
    got = drain(hub.subscribe(SUPERVISOR, since=since))
    assert [m["type"] for m in got] == ["resync", "snapshot"]


@given(
    since=st.integers(0, 200),
    current=st.integers(0, 200),
    held=st.integers(0, 50),
)
def test_resume_plan_resumes_exactly_when_every_missed_number_is_held(
    since: int, current: int, held: int
) -> None:
    oldest = current - held + 1 if held else None
    plan = resume_plan(since, current, oldest)
    missed = range(since + 1, current + 1)
    if since > current:
        assert plan is Resume.UNKNOWN_SEQUENCE
    elif all(oldest is not None and n >= oldest for n in missed):
        assert plan is Resume.RESUME
    else:
        assert plan is Resume.TOO_OLD


@settings(max_examples=80, deadline=None)
@given(
    batches=st.lists(st.integers(1, 4), min_size=1, max_size=40),
    join=st.integers(0, 40),
    leave=st.integers(0, 40),
    ring=st.integers(1, 60),
    queue=st.integers(1, 30),
)
def test_snapshot_then_deltas_then_resume_delivers_each_number_once_in_order(
    batches: list[int], join: int, leave: int, ring: int, queue: int
) -> None:
    """However publishing interleaves with connecting, leaving and resuming, a supervisor
    sees every delta after its snapshot exactly once and in order, or is told to resync."""
    if join >= len(batches):
        join = len(batches) - 1
    leave_at = leave if join < leave < len(batches) else None
    hub = EventHub(FakeLiveView(), ring_size=ring, client_queue=queue, clock=lambda: T0)
    published: list[int] = []
    messages: list[dict[str, Any]] = []
    sub: Subscription | None = None
    n = 0
    for i, size in enumerate(batches):
        if i == join:
            sub = hub.subscribe(SUPERVISOR)
        if sub is not None and i == leave_at:
            messages.extend(drain(sub))
            hub.unsubscribe(sub)
            sub = None
        events: list[DomainEvent] = []
        for _ in range(size):
            events.append(node_event(n))
            n += 1
        hub.publish(events)
        published.extend(range(hub.seq - size + 1, hub.seq + 1))
        if sub is not None and i % 3 == 0:
            messages.extend(drain(sub))  # a client that reads now and then
    if sub is not None:
        messages.extend(drain(sub))
    if any(m["type"] == "resync" for m in messages):
        assert messages[-1]["type"] == "resync"  # cut off, and told so last
        return
    assert messages[0]["type"] == "snapshot"
    start = messages[0]["seq"]
    got = [m["seq"] for m in deltas(messages)]
    if leave_at is not None:
        last = got[-1] if got else start
        resumed = drain(hub.subscribe(SUPERVISOR, since=last))
        if resumed[0]["type"] == "resync":
            assert [m["type"] for m in resumed] == ["resync", "snapshot"]
            assert resumed[1]["seq"] == hub.seq
            assert last + 1 < published[-1] - ring + 1 or hub.seq - last > queue
            return
        assert resumed[0]["type"] == "resumed"
        got += [m["seq"] for m in deltas(resumed)]
    assert got == [s for s in published if s > start]


# --- the queue itself ------------------------------------------------------------------------


async def test_take_waits_for_messages_and_wakes_on_cut_off() -> None:
    sub = Subscription(SUPERVISOR, limit=2)
    waiter = asyncio.create_task(sub.take())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert sub.put("a") and sub.put("b")
    assert await asyncio.wait_for(waiter, 5) == ["a", "b"]
    waiter = asyncio.create_task(sub.take())
    await asyncio.sleep(0)
    sub.cut_off("slow_consumer", "resync!")
    assert await asyncio.wait_for(waiter, 5) == []
    await asyncio.wait_for(sub.wait_cut_off(), 5)


def test_since_must_be_a_plain_non_negative_number() -> None:
    assert parse_since(None) is None
    assert parse_since("1717200000000042") == 1717200000000042
    for bad in ("-1", "1.5", "", " 1", "abc", "١٢", "9" * 19):
        with pytest.raises(InvalidInput) as err:
            parse_since(bad)
        assert err.value.details["fields"][0]["field"] == "since"


# --- skill-group deltas ------------------------------------------------------------------

_MEMBER_CHANGES = st.lists(
    st.tuples(st.sampled_from(["1001", "1002", "1003", "1004"]),
              st.sampled_from(["add", "remove", "pause", "status"]),
              st.integers(0, 8), st.booleans()),
    max_size=40,
)


@settings(max_examples=80, deadline=None)
@given(changes=_MEMBER_CHANGES, waiting=st.lists(st.integers(0, 5), max_size=10))
def test_incremental_group_figures_match_a_full_recount(
    changes: list[tuple[str, str, int, bool]], waiting: list[int]
) -> None:
    """Member changes are applied one seat at a time; the figures agents see must always
    equal a recount of the group, and supervisors' member lists must add up to it."""
    group = SkillGroup(name="sales", node="node1")
    live = FakeLiveView(group_map={"sales": group})
    hub = EventHub(live, clock=lambda: T0)
    board = hub.subscribe(SUPERVISOR)
    desk = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    hub.publish([SkillGroupChanged("node1", "sales", T0)])
    members: dict[str, dict[str, Any]] = {}
    for seat, action, status, paused in changes:
        if action == "remove":
            group.members.pop(seat, None)
        else:
            group.members[seat] = SkillGroupMember(seat, f"PJSIP/{seat}", 0, paused, None,
                                                   status, 0, 0)
        hub.publish([SkillGroupChanged("node1", "sales", T0, seat)])
        if waiting:
            live.group_map["sales"] = group = dataclasses.replace(
                group, calls_waiting=waiting.pop())
            hub.publish([SkillGroupChanged("node1", "sales", T0)])
        for m in deltas(drain(board)):
            for member in m["data"]["members"]:
                members[member["seat_id"]] = member
            for gone in m["data"]["removed_members"]:
                members.pop(gone)
        summaries = [m["data"] for m in deltas(drain(desk))]
        expected = group_summary(group)
        if summaries:
            assert summaries[-1] == expected
        assert hub.encoder.snapshot(SUPERVISOR)["skill_groups"][0]["members_total"] == len(
            members)
        assert sorted(members) == sorted(group.members)
        assert all(members[s]["status"] == group.members[s].status for s in members)


@given(st.lists(st.text(alphabet=st.characters(exclude_characters="\n"), max_size=40),
                min_size=1, max_size=30),
       st.integers(1, 200))
def test_coalesced_messages_split_back_into_the_same_messages_in_order(
    texts: list[str], limit: int
) -> None:
    out = coalesced(texts, limit)
    assert [t for message in out for t in message.split("\n")] == texts
    for message in out:
        assert len(message) <= limit or "\n" not in message  # only a lone big one exceeds


def test_coalesce_flag_values() -> None:
    assert parse_flag("coalesce", None) is False
    assert parse_flag("coalesce", "true") is True and parse_flag("coalesce", "1") is True
    assert parse_flag("coalesce", "false") is False
    with pytest.raises(InvalidInput) as err:
        parse_flag("coalesce", "yes please")
    assert err.value.details["fields"][0]["field"] == "coalesce"


def test_the_snapshot_tells_which_nodes_are_up() -> None:
    hub = EventHub(FakeLiveView(), clock=lambda: T0)
    hub.publish([NodeConnectionChanged(n, True, T0) for n in ("node1", "node2")])
    hub.publish([NodeConnectionChanged("node2", False, T0 + 5, "keepalive lost")])
    nodes = drain(hub.subscribe(Viewer(sees_all=False, seat_id="1001")))[0]["data"]["nodes"]
    assert nodes == [
        {"node": "node1", "connected": True, "reason": "", "since": "2024-06-01T00:00:00Z"},
        {"node": "node2", "connected": False, "reason": "keepalive lost",
         "since": "2024-06-01T00:00:05Z"},
    ]


def test_query_tokens_are_masked_in_handshake_logs() -> None:
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/v1/events?since=4&token=s3cr3t&coalesce=1"),
                               None)
    assert RedactQueryTokens().filter(record)
    assert "s3cr3t" not in record.getMessage()
    assert "/v1/events?since=4&token=***&coalesce=1" in record.getMessage()


def test_a_rebuild_after_an_asterisk_restart_streams_what_changed_unseen() -> None:
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    events = read_trace("answered_inbound.ami")
    cut = next(i for i, e in enumerate(events) if e.get("Event") == "AgentConnect") + 1
    tracker.mirror.synced = True
    for ev in events[:cut]:
        hub.publish(tracker.apply(ev, T0))
    desk = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    board = hub.subscribe(SUPERVISOR)
    assert len(drain(desk)[0]["data"]["calls"]) == 1
    # Asterisk restarted while the AMI link was down: no members, no channels.
    empty = Snapshot("node1", 0, float(text(events[cut - 1], "Timestamp")) + 30, [], [], [])
    tracker.mirror, out = rebuild(empty, tracker.mirror, CONFIG)  # as LiveCore does
    hub.publish(out)

    got = deltas(drain(desk))
    assert [m["type"] for m in got][-2:] == ["skill_group", "mirror_rebuilt"]
    assert got[-2]["data"] == {"name": "sales", "node": "node1", "removed": True}
    seat = next(m["data"] for m in got if m["type"] == "seat")
    assert (seat["state"], seat["transition"]) == ("offline", "resync")
    ended = next(m["data"] for m in got if m["type"] == "call")
    assert ended["active"] is False and ended["seat_id"] == "1001"
    assert any(m["type"] == "call_timeline" and m["data"]["kind"] == "ended_unseen"
               for m in got)
    assert [m["seq"] for m in got] == [m["seq"] for m in deltas(drain(board))]
    assert len(hub.encoder.call_seats) == 0
    after = drain(hub.subscribe(Viewer(sees_all=False, seat_id="1001")))[0]["data"]
    assert after["calls"] == [] and after["skill_groups"] == []


# --- recordings ------------------------------------------------------------------------------


def recording_event(seat_id: str | None, *, call_seconds: float | None) -> RecordingCatalogued:
    return RecordingCatalogued(
        recording_id=7, call_id="node1:1.1", direction="inbound", seat_id=seat_id,
        customer_number="0612345678", skill_group="sales", campaign=None, started_at=T0,
        duration_seconds=7.5, call_seconds=call_seconds, channels=1, size_bytes=120_044,
        at=T0 + 12)


def test_a_recording_reaches_supervisors_and_its_seats_agent_only() -> None:
    hub = EventHub(FakeLiveView(), clock=lambda: T0)
    boss = hub.subscribe(SUPERVISOR)
    mine = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    other = hub.subscribe(Viewer(sees_all=False, seat_id="1002"))
    hub.publish([recording_event("1001", call_seconds=12.25), recording_event(None,
                                                                              call_seconds=None)])
    hub.publish([RecordingsDeleted(3, ("node1:0.1", "node1:0.2"), T0 + 20)])

    seen = deltas(drain(boss))
    assert [m["type"] for m in seen] == ["recording", "recording", "recordings_deleted"]
    assert seen[0]["data"] == {
        "id": 7, "call_id": "node1:1.1", "direction": "inbound", "seat_id": "1001",
        "customer_number": "0612345678", "skill_group": "sales", "campaign": None,
        "started_at": "2024-06-01T00:00:00Z", "duration_seconds": 7.5,
        "call_seconds": 12.25, "audio_gap_seconds": 4.75, "channels": 1,
        "size_bytes": 120_044, "audio_url": "/v1/recordings/7/audio"}
    assert seen[1]["data"]["call_seconds"] is None
    assert seen[1]["data"]["audio_gap_seconds"] is None
    assert seen[2]["data"] == {"batch_id": 3, "call_ids": ["node1:0.1", "node1:0.2"]}
    agent = deltas(drain(mine))
    assert [(m["type"], m["seq"]) for m in agent] == [("recording", seen[0]["seq"])]
    assert deltas(drain(other)) == []


# --- a worker's loop ------------------------------------------------------------------------


async def test_a_client_of_another_loop_joins_mid_stream_without_gap_or_duplicate() -> None:
    """Clients served from a worker thread's loop, while this loop keeps publishing: each
    gets its snapshot's number, then every later number exactly once, in order."""
    hub = EventHub(FakeLiveView(), clock=lambda: T0)
    home = asyncio.get_running_loop()
    worker = asyncio.new_event_loop()
    thread = threading.Thread(target=worker.run_forever, daemon=True)
    thread.start()
    hub.serve_from(worker, home)
    total = 400

    last = hub.seq + total  # one delta per node event

    async def client() -> tuple[int, list[int]]:
        sub = await hub.open(SUPERVISOR)
        first: list[str] = await sub.take()
        start = json.loads(first[0])["seq"]
        seqs = [json.loads(t)["seq"] for t in first[1:]]
        while (seqs[-1] if seqs else start) < last:
            seqs.extend(json.loads(t)["seq"] for t in await sub.take())
        hub.unsubscribe(sub)
        return start, seqs

    try:
        joined = []
        for i in range(total):
            hub.publish([node_event(i)])
            if i % 50 == 10:  # clients join while deltas keep coming
                joined.append(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                    client(), worker)))
            await asyncio.sleep(0)
        results = await asyncio.wait_for(asyncio.gather(*joined), 20)
    finally:
        worker.call_soon_threadsafe(worker.stop)
        thread.join(5)
        worker.close()
    assert len(results) == 8
    for start, seqs in results:
        assert seqs == list(range(start + 1, last + 1))
    assert hub.subscribers == 0 and hub.cut_offs == 0


def test_a_seat_that_shows_something_new_in_the_same_state_is_sent() -> None:
    # Logged in to a second group, then paused while on a call: the state stays, but
    # what REST shows of the seat changed, and the stream must say so too.
    tracker = Tracker("node1", CONFIG)
    hub = EventHub(MirrorView(tracker), clock=lambda: T0)
    own = hub.subscribe(Viewer(sees_all=False, seat_id="1001"))
    tracker.mirror.synced = True
    member = {"Interface": "PJSIP/1001", "MemberName": "1001", "Status": "1", "Paused": "0"}
    for ev in ({"Event": "QueueMemberAdded", "Queue": "sales", **member},
               {"Event": "QueueMemberAdded", "Queue": "support", **member}):
        hub.publish(tracker.apply(ev, T0))
    seats = [m["data"] for m in deltas(drain(own)) if m["type"] == "seat"]
    assert [s["skill_groups"] for s in seats] == [["sales"], ["sales", "support"]]
    assert seats[-1]["state"] == seats[-1]["previous"] == "available"
