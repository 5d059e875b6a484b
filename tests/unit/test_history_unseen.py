"""A call's end nobody saw, from its channel event log: what is corrected, what stands."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cti.history.unseen import Recorded, ending
from cti.outbound.settle import ChannelEvent

TRUNKS = {"trunk"}
T0 = 1_765_000_000.0


def inbound_log(*, connect: float | None, end: float) -> list[ChannelEvent]:
    """A caller queued at T0+1, a seat bridged at ``connect`` (or nobody), both gone."""
    log = [ChannelEvent("c1", "ANSWER", T0 + 1, "PJSIP/trunk-00000001")]
    if connect is not None:
        log += [ChannelEvent("a1", "ANSWER", connect, "PJSIP/1001-00000002"),
                ChannelEvent("c1", "BRIDGE_ENTER", connect, "PJSIP/trunk-00000001"),
                ChannelEvent("a1", "BRIDGE_ENTER", connect, "PJSIP/1001-00000002"),
                ChannelEvent("a1", "HANGUP", end - 0.1, "PJSIP/1001-00000002"),
                ChannelEvent("a1", "CHAN_END", end - 0.1, "PJSIP/1001-00000002")]
    return [*log, ChannelEvent("c1", "HANGUP", end, "PJSIP/trunk-00000001"),
            ChannelEvent("c1", "CHAN_END", end, "PJSIP/trunk-00000001")]


def call(**changes: object) -> Recorded:
    base = dict(id="node1-c1", linkedid="c1", seat_id=None, queued_at=T0 + 1,
                answered_at=None, ended_at=None, wait_seconds=None, talk_seconds=None,
                abandoned=False)
    return Recorded(**{**base, **changes})  # type: ignore[arg-type]


def test_a_call_history_still_holds_as_up_gets_its_end_and_talk_from_the_log() -> None:
    up = call(seat_id="1001", answered_at=T0 + 4, wait_seconds=3)
    got = ending(up, inbound_log(connect=T0 + 4, end=T0 + 34), TRUNKS)
    assert got is not None
    assert (got.ended_at, got.talk_seconds, got.wait_seconds) == (T0 + 34, 30, 3)
    assert not got.abandoned and set(got.changed) == {"ended_at", "talk_seconds"}


def test_a_caller_taken_in_the_gap_is_answered_by_that_seat_not_abandoned() -> None:
    # Closed at a reconnect at T0+60 as an abandon that waited 59 s.
    closed = call(ended_at=T0 + 60, wait_seconds=59, abandoned=True)
    got = ending(closed, inbound_log(connect=T0 + 5, end=T0 + 20), TRUNKS)
    assert got is not None
    assert (got.answered_at, got.seat_id, got.abandoned) == (T0 + 5, "1001", False)
    assert (got.wait_seconds, got.talk_seconds, got.ended_at) == (4, 15, T0 + 20)


def test_figures_asterisk_gave_stand_and_only_what_ran_on_to_the_reconnect_is_redone() -> None:
    # app_queue's own talk time (12 s) was heard; the caller stayed on (a survey) and the
    # call was closed at the reconnect: only the end moves.
    heard = call(seat_id="1001", answered_at=T0 + 4, wait_seconds=3, talk_seconds=12,
                 ended_at=T0 + 90)
    got = ending(heard, inbound_log(connect=T0 + 4, end=T0 + 30), TRUNKS)
    assert got is not None and got.talk_seconds == 12 and got.changed == ("ended_at",)
    # The talk time history counted to the reconnect (86 s) is the log's 26 s.
    ran_on = call(seat_id="1001", answered_at=T0 + 4, wait_seconds=3, talk_seconds=86,
                  ended_at=T0 + 90)
    got = ending(ran_on, inbound_log(connect=T0 + 4, end=T0 + 30), TRUNKS)
    assert got is not None and got.talk_seconds == 26


def test_an_abandon_waits_until_the_caller_hung_up_and_a_voicemail_exit_stays_judged() -> None:
    stale = call()
    got = ending(stale, inbound_log(connect=None, end=T0 + 25), TRUNKS)
    assert got is not None and got.abandoned and got.wait_seconds == 24
    # Closed at a reconnect as not abandoned (it left the queue for voicemail): stands.
    left = call(ended_at=T0 + 70, wait_seconds=30, abandoned=False)
    got = ending(left, inbound_log(connect=None, end=T0 + 50), TRUNKS)
    assert got is not None and not got.abandoned and got.wait_seconds == 30


def test_a_log_without_every_channels_end_is_not_taken_yet() -> None:
    unfinished = inbound_log(connect=T0 + 4, end=T0 + 30)[:-3]  # the caller's end unwritten
    assert ending(call(), unfinished, TRUNKS) is None
    assert ending(call(), [], TRUNKS) is None


def test_the_trunk_bridging_is_no_seat() -> None:
    log = [ChannelEvent("c1", "BRIDGE_ENTER", T0 + 2, "PJSIP/trunk-00000001"),
           ChannelEvent("c1", "CHAN_END", T0 + 9, "PJSIP/trunk-00000001")]
    got = ending(call(), log, TRUNKS)
    assert got is not None and got.seat_id is None and got.answered_at is None


@given(st.floats(1, 100), st.floats(0, 500), st.booleans())
def test_nothing_ever_ends_before_it_began_or_counts_negative(
        connect_after: float, talk: float, taken: bool) -> None:
    connect = T0 + 1 + connect_after if taken else None
    end = (connect or T0 + 1) + talk
    got = ending(call(), inbound_log(connect=connect, end=end), TRUNKS)
    assert got is not None and got.ended_at == end
    assert (got.talk_seconds or 0) >= 0 and (got.wait_seconds or 0) >= 0
    assert got.abandoned is (not taken)


def test_an_outbound_calls_seat_bridging_is_not_the_customers_answer() -> None:
    # Click-to-dial: the agent's channel is bridged before the customer answers (or never
    # does); history heard no answer, and the log's bridge of a seat says nothing of one.
    dialing = call(queued_at=None, seat_id="1001", inbound=False)
    got = ending(dialing, inbound_log(connect=T0 + 3, end=T0 + 20), TRUNKS)
    assert got is not None and got.answered_at is None and got.talk_seconds is None
    assert not got.abandoned and got.changed == ("ended_at",)


def test_a_caller_history_heard_leave_the_queue_for_voicemail_is_no_abandon() -> None:
    left = call(left_queue=True)
    got = ending(left, inbound_log(connect=None, end=T0 + 90), TRUNKS)
    assert got is not None and not got.abandoned
