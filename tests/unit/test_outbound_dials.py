"""The campaign runner's book of calls in flight and its view of agents (pure)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cti.domain.model import Seat, SeatState, SkillGroup, SkillGroupMember
from cti.outbound.dials import (
    Dial,
    DialBook,
    campaign_agents,
    group_view,
    unanswered_outcome,
)
from dialer.schedule import Outcome


def dial(channel: str = "cti-dial-1-a", placed: float = 100.0) -> Dial:
    return Dial(attempt_id=7, lead_id=3, call_id=f"node1:{channel}", channel_id=channel,
                number="+8613800138000", placed_at=placed, ring_timeout=25.0)


def test_answered_then_connected_is_answered_and_leaves_the_book() -> None:
    book = DialBook()
    book.add(dial())
    assert book.ringing(104.0) == (4.0,)
    answered = book.answered("cti-dial-1-a", 106.0)
    assert answered is not None and answered.seconds == 6.0
    assert book.ringing(107.0) == () and book.waiting() == 1
    assert book.connected("cti-dial-1-a", "1001", 106.5) is not None
    assert book.waiting() == 0
    resolved = book.hung_up("cti-dial-1-a", 16, 180.0)
    assert resolved is not None and resolved.outcome is Outcome.ANSWERED
    assert resolved.dial.seat_id == "1001" and len(book) == 0


def test_answered_and_never_connected_is_abandoned_whoever_hung_up() -> None:
    for abandon_event in (True, False):
        book = DialBook()
        book.add(dial())
        book.answered("cti-dial-1-a", 105.0)
        if abandon_event:
            book.abandoned("cti-dial-1-a")
            assert book.waiting() == 0  # hearing the message, no agent wanted
        resolved = book.hung_up("cti-dial-1-a", 16, 112.0)
        assert resolved is not None and resolved.outcome is Outcome.ABANDONED


def test_a_late_abandon_event_does_not_undo_a_connection() -> None:
    book = DialBook()
    book.add(dial())
    book.connected("cti-dial-1-a", "1001", 103.0)  # Newstate lost: connect implies answer
    assert book.abandoned("cti-dial-1-a") is None
    resolved = book.hung_up("cti-dial-1-a", 16, 150.0)
    assert resolved is not None and resolved.outcome is Outcome.ANSWERED


def test_unanswered_outcomes_from_cause_and_ring_time() -> None:
    assert unanswered_outcome(17, 3.0, 25.0) is Outcome.BUSY
    assert unanswered_outcome(19, 10.0, 25.0) is Outcome.NO_ANSWER
    assert unanswered_outcome(0, 24.5, 25.0) is Outcome.NO_ANSWER  # originate timed out
    assert unanswered_outcome(34, 1.0, 25.0) is Outcome.FAILED
    assert unanswered_outcome(None, 2.0, 25.0) is Outcome.FAILED


def test_unknown_channels_are_ignored() -> None:
    book = DialBook()
    assert book.answered("x", 1.0) is None and book.hung_up("x", 16, 2.0) is None


@given(st.lists(st.tuples(st.sampled_from(["answer", "connect", "abandon"]),
                          st.floats(0, 100)), max_size=6))
def test_every_dial_resolves_once_with_one_outcome(steps: list[tuple[str, float]]) -> None:
    book = DialBook()
    book.add(dial())
    for step, t in steps:
        if step == "answer":
            book.answered("cti-dial-1-a", 100.0 + t)
        elif step == "connect":
            book.connected("cti-dial-1-a", "1001", 100.0 + t)
        else:
            book.abandoned("cti-dial-1-a")
    first = book.hung_up("cti-dial-1-a", 16, 300.0)
    assert first is not None and book.hung_up("cti-dial-1-a", 16, 301.0) is None
    connected = any(s == "connect" for s, _ in steps)
    answered = connected or any(s == "answer" for s, _ in steps)
    expected = (Outcome.ANSWERED if connected else Outcome.ABANDONED if answered
                else Outcome.NO_ANSWER)
    assert first.outcome is expected


def test_agents_are_counted_from_the_groups_members() -> None:
    members = {s: SkillGroupMember(s, f"PJSIP/{s}", 0, False, None, 1, 0, 0)
               for s in ("1001", "1002", "1003", "1004", "1005", "1006")}
    group = SkillGroup("sales", "node1", members=members)
    seats = {
        "1001": Seat("1001", "node1", "PJSIP/1001", SeatState.AVAILABLE, since=90.0),
        "1002": Seat("1002", "node1", "PJSIP/1002", SeatState.ON_CALL, since=40.0),
        "1003": Seat("1003", "node1", "PJSIP/1003", SeatState.WRAP_UP, since=95.0),
        "1004": Seat("1004", "node1", "PJSIP/1004", SeatState.PAUSED, since=10.0),
        "1005": Seat("1005", "node1", "PJSIP/1005", SeatState.RINGING, since=99.0),
        "1006": Seat("1006", "node1", "PJSIP/1006", SeatState.OFFLINE),
        "2001": Seat("2001", "node1", "PJSIP/2001", SeatState.AVAILABLE),  # not a member
    }
    agents = campaign_agents(group, seats, 100.0)
    assert agents.free == 1 and agents.paused == 1
    assert sorted(agents.talking) == [0.0, 60.0] and agents.wrapping == (5.0,)
    assert agents.working == 4
    assert campaign_agents(None, seats, 100.0).working == 0
    # The abandon log line: free seats by name and how long free, the rest counted.
    assert group_view(group, seats, 100.0) == (
        "free: 1001 (10.0 s); 1 offline, 1 on_call, 1 paused, 1 ringing, 1 wrap_up")
    assert group_view(None, seats, 100.0) == "no skill group"


def test_a_dial_asterisk_never_reports_on_is_given_up_after_its_ring_time() -> None:
    book = DialBook()
    book.add(dial(placed=100.0))
    book.add(dial("cti-dial-1-b", placed=100.0))
    book.answered("cti-dial-1-b", 103.0)  # answered calls end with their Hangup
    assert book.lost(100.0 + 25.0 + 59.0) == []
    assert book.lost(100.0 + 25.0 + 61.0) == ["cti-dial-1-a"]
    resolved = book.hung_up("cti-dial-1-a", None, 186.0)
    assert resolved is not None and resolved.outcome is Outcome.NO_ANSWER


def test_a_call_rings_its_ring_time_from_the_ringing_not_from_the_invite() -> None:
    book = DialBook()
    late, quick, picked = dial("cti-dial-1-a"), dial("cti-dial-1-b"), dial("cti-dial-1-c")
    for d in (late, quick, picked):
        book.add(d)
    book.rang("cti-dial-1-a", 106.0)  # six seconds of post-dial delay
    book.rang("cti-dial-1-b", 100.5)
    book.rang("cti-dial-1-c", 100.5)
    book.answered("cti-dial-1-c", 110.0)
    book.rang("cti-dial-1-a", 108.0)  # a second 180 does not move the start
    assert book.rung_out(125.0) == []
    assert book.rung_out(125.5) == [quick]
    assert book.rung_out(126.0) == []  # asked already
    assert book.rung_out(129.5) == [quick]  # still here 4 s on: asked again
    book.hung_up("cti-dial-1-b", 16, 130.0)
    assert book.rung_out(130.5) == []
    assert book.rung_out(131.0) == [late]
    assert book.rung_out(200.0) == [late]  # the answered one never
