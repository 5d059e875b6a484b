"""Settling dials the runner no longer hears, from Asterisk's channel event log: what the
log says of a call (pure), and the runner's rule for dials whose channel is gone without
a Hangup (the store and the live mirror faked: no database, no sockets)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from cti.config import DialerSettings
from cti.db import dialer_repository
from cti.db.campaign_records import CampaignRecord
from cti.db.dialer_repository import OpenDial
from cti.outbound.dialer import SETTLE_CLICKS_EVERY, SWEEP_LOG_EVERY, Dialer
from cti.outbound.dials import Dial, Resolved, outcome_of
from cti.outbound.runner import VANISHED_AFTER, CampaignRunner
from cti.outbound.settle import ABANDON_MARK, ChannelEvent, Heard, add_heard, heard
from dialer.schedule import Outcome
from tests.unit.test_outbound_callbacks import T0, FakeSession, campaign

CUSTOMER = "cti-dial-7-a"


def ev(kind: str, at: float, uniqueid: str = CUSTOMER, channel: str = "PJSIP/trunk-00000001",
       **more: Any) -> ChannelEvent:
    return ChannelEvent(uniqueid, kind, at, channel, **more)


def hangup(at: float, cause: int, uniqueid: str = CUSTOMER) -> ChannelEvent:
    return ev("HANGUP", at, uniqueid, extra=json.dumps({"hangupcause": cause, "hangupsource": "",
                                              "dialstatus": ""}))


def test_a_call_an_agent_took_is_connected_to_that_seat() -> None:
    said = heard(CUSTOMER, [
        ev("ANSWER", 10.0),
        ev("BRIDGE_ENTER", 12.0),  # the customer into the queue's bridge
        ev("ANSWER", 12.1, "1.7", "PJSIP/2001-00000007"),
        ev("BRIDGE_ENTER", 12.2, "1.7", "PJSIP/2001-00000007"),
        hangup(40.0, 16), ev("CHAN_END", 40.0),
    ], trunk="trunk")
    assert said == Heard(answered_at=10.0, connected_at=12.2, seat_id="2001",
                         ended_at=40.0, cause=16)


def test_an_answer_no_agent_took_carries_the_dialplans_mark() -> None:
    said = heard(CUSTOMER, [
        ev("ANSWER", 10.0), ev("USER_DEFINED", 12.0, mark=ABANDON_MARK),
        hangup(15.0, 16),
    ], trunk="trunk")
    assert said.abandoned and said.answered_at == 10.0 and said.connected_at is None
    assert said.ended_at == 15.0


def test_an_unanswered_call_keeps_its_cause_and_the_trunk_is_no_seat() -> None:
    said = heard(CUSTOMER, [hangup(5.0, 17), ev("CHAN_END", 5.0)], trunk="trunk")
    assert said == Heard(ended_at=5.0, cause=17) and said.logged
    # A trunk channel of the same call entering a bridge is not an agent.
    other = heard(CUSTOMER, [ev("BRIDGE_ENTER", 3.0, "1.9", "PJSIP/trunk-00000002")], trunk="trunk")
    assert other.connected_at is None
    assert not heard(CUSTOMER, [], trunk="trunk").logged


def test_a_damaged_hangup_record_gives_no_cause() -> None:
    assert heard(CUSTOMER, [ev("HANGUP", 5.0, extra="{not json")], "trunk").cause is None
    assert heard(CUSTOMER, [ev("HANGUP", 5.0, extra='{"hangupcause": "17"}')],
                 "trunk").cause is None


class Mirror:
    """The live mirror as far as the runner asks it: which channels Asterisk has."""

    def __init__(self, up: set[str]) -> None:
        self.up = up
        self.synced = True

    def channel_live(self, node: str, uniqueid: str) -> bool | None:
        return uniqueid in self.up if self.synced else None

    def forget_outbound(self, call_id: str) -> None: ...

    def expect_outbound(self, call_id: str, intent: object) -> None: ...

    def connection(self, node: str) -> object:
        return object()


@dataclass
class Recording:
    """A runner whose outcome writes are kept (``recorded``) and whose spawned work waits
    for the test to run it (``drain``); no database, no sockets."""

    runner: CampaignRunner
    recorded: list[Resolved] = field(default_factory=list)
    spawned: list[Any] = field(default_factory=list)

    async def drain(self) -> None:
        while self.spawned:
            await self.spawned.pop(0)


def recording(record: CampaignRecord, mirror: Mirror,
              settings: DialerSettings | None = None) -> Recording:
    runner = CampaignRunner(record, cast(Any, mirror), cast(Any, FakeSession),
                            settings or DialerSettings(), "node1", lambda coro: coro.close(),
                            lambda *_: None, clock=lambda: T0)
    kept = Recording(runner)

    async def write(resolved: Resolved) -> None:
        kept.recorded.append(resolved)

    runner._record = write  # type: ignore[method-assign]
    runner._spawn = kept.spawned.append
    return kept


def dial(channel_id: str, placed_at: float, **state: Any) -> Dial:
    return Dial(attempt_id=int(channel_id[-1]), lead_id=int(channel_id[-1]),
                call_id=f"node1:{channel_id}", channel_id=channel_id,
                number=f"+861380013800{channel_id[-1]}", placed_at=placed_at,
                ring_timeout=15.0, **state)


@pytest.fixture
def log_reads(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    reads: list[list[str]] = []
    events = {
        "cti-dial-7-1": [ev("ANSWER", T0 - 50, "cti-dial-7-1"),
                         ev("BRIDGE_ENTER", T0 - 48, "x.1", "PJSIP/2001-0000000a"),
                         hangup(T0 - 5, 16, "cti-dial-7-1")],
        "cti-dial-7-2": [ev("ANSWER", T0 - 40, "cti-dial-7-2"),
                         ev("USER_DEFINED", T0 - 38, "cti-dial-7-2", mark=ABANDON_MARK),
                         hangup(T0 - 30, 16, "cti-dial-7-2")],
    }

    async def channel_events(session: object, linkedids: Collection[str]
                             ) -> dict[str, list[ChannelEvent]]:
        reads.append(sorted(linkedids))
        return {i: events.get(i, []) for i in linkedids}

    monkeypatch.setattr(dialer_repository, "channel_events", channel_events)
    return reads


async def test_dials_whose_channel_is_gone_unheard_are_settled_from_the_log(
    log_reads: list[list[str]],
) -> None:
    mirror = Mirror(up={"cti-dial-7-4"})
    kept = recording(campaign(), mirror)
    runner, recorded = kept.runner, kept.recorded
    for d in (dial("cti-dial-7-1", T0 - 60, answered_at=T0 - 50, connected_at=T0 - 48,
                   seat_id="2001"),  # its Hangup was lost
              dial("cti-dial-7-2", T0 - 45, answered_at=T0 - 40),  # abandoned, unheard
              dial("cti-dial-7-3", T0 - 60),  # gone, and the log has nothing of it
              dial("cti-dial-7-4", T0 - 60, answered_at=T0 - 50),  # still up
              dial("cti-dial-7-5", T0 - VANISHED_AFTER + 1)):  # just placed
        runner.book.add(d)
    mirror.synced = False
    await runner._settle_vanished(T0)  # the mirror cannot tell while AMI is lost
    assert len(runner.book) == 5 and not log_reads

    mirror.synced = True
    await runner._settle_vanished(T0)
    assert log_reads == [["cti-dial-7-1", "cti-dial-7-2", "cti-dial-7-3"]]
    assert sorted(runner.book.dials) == ["cti-dial-7-4", "cti-dial-7-5"]
    await kept.drain()
    outcomes = {r.dial.channel_id: (r.outcome, r.ended_at) for r in recorded}
    assert outcomes == {
        "cti-dial-7-1": (Outcome.ANSWERED, T0 - 5),
        "cti-dial-7-2": (Outcome.ABANDONED, T0 - 30),
        "cti-dial-7-3": (Outcome.NO_ANSWER, T0),  # as a dial whose end is never heard
    }
    assert runner.abandoned == 1
    # Settled once: the next tick reads nothing.
    await runner._settle_vanished(T0 + 1)
    assert len(log_reads) == 1


def test_the_log_adds_to_what_the_runner_heard_and_never_takes_from_it() -> None:
    # The runner heard the agent connect; cel_pgsql had not yet written the seat's
    # BRIDGE_ENTER row when the call was settled.
    took = dial("cti-dial-7-6", T0 - 60, answered_at=T0 - 50, connected_at=T0 - 48,
                seat_id="2002")
    add_heard(took, heard(took.channel_id, [ev("ANSWER", T0 - 50.2, took.channel_id),
                                            hangup(T0 - 5, 16, took.channel_id)], "trunk"))
    assert (took.answered_at, took.connected_at, took.seat_id) == (T0 - 50, T0 - 48, "2002")
    assert outcome_of(took, 16, T0 - 5) is Outcome.ANSWERED
    # A dial the runner heard nothing of takes everything the log says.
    unheard = dial("cti-dial-7-2", T0 - 45)
    add_heard(unheard, heard(unheard.channel_id, [
        ev("ANSWER", T0 - 40, unheard.channel_id),
        ev("USER_DEFINED", T0 - 38, unheard.channel_id, mark=ABANDON_MARK)], "trunk"))
    assert unheard.answered_at == T0 - 40 and unheard.abandoned
    assert outcome_of(unheard, 16, T0 - 30) is Outcome.ABANDONED
    # The queue's give-up the runner heard stands though the log has no mark yet.
    marked = dial("cti-dial-7-3", T0 - 45, answered_at=T0 - 40, abandoned=True)
    add_heard(marked, heard(marked.channel_id, [], "trunk"))
    assert marked.abandoned and outcome_of(marked, 16, T0 - 30) is Outcome.ABANDONED


async def test_a_call_up_when_ami_dropped_ends_with_what_the_log_adds(
    log_reads: list[list[str]],
) -> None:
    """Its answer and its agent's connect fell in the gap; its Hangup was heard. Taken
    at its word the runner would record an answered customer as "failed"."""
    kept = recording(campaign(), Mirror(up=set()))
    runner, recorded = kept.runner, kept.recorded
    seats: list[tuple[int, str]] = []

    async def set_seat(attempt_id: int, seat_id: str) -> None:
        seats.append((attempt_id, seat_id))

    runner._set_seat = set_seat  # type: ignore[method-assign]
    runner.book.add(dial("cti-dial-7-1", T0 - 60))
    runner.on_link_lost()
    runner.book.add(dial("cti-dial-7-9", T0 - 1))  # placed after the resync: heard whole
    runner.on_hangup("cti-dial-7-1", 16, T0 - 5)
    assert len(runner.book) == 1 and not recorded  # settled with the log first
    await kept.drain()
    assert log_reads == [["cti-dial-7-1"]]
    assert [(r.dial.channel_id, r.outcome, r.ended_at) for r in recorded] == [
        ("cti-dial-7-1", Outcome.ANSWERED, T0 - 5)]
    assert seats == [(1, "2001")]
    assert (runner.answered, runner.connected, runner.abandoned) == (1, 1, 0)
    assert runner.pacer.learned().dials_seen == 1  # the answer, 10 s after the dial

    # A dial heard whole ends without a look at the log.
    runner.on_hangup("cti-dial-7-9", 17, T0)
    await kept.drain()
    assert [r.outcome for r in recorded][1:] == [Outcome.BUSY]
    assert log_reads == [["cti-dial-7-1"]]


async def test_the_dialer_sweeps_the_log_hourly_past_its_retention(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cutoffs: list[datetime] = []

    async def sweep(session: object, before: datetime) -> int:
        cutoffs.append(before)
        return 3

    keys: list[datetime] = []

    async def sweep_keys(session: object, before: datetime) -> int:
        keys.append(before)
        return 1

    monkeypatch.setattr(dialer_repository, "sweep_channel_events", sweep)
    monkeypatch.setattr(dialer_repository, "sweep_voided_requests", sweep_keys)
    clock = [T0]
    dialer = Dialer(cast(Any, Mirror(set())), cast(Any, FakeSession),
                    DialerSettings(channel_log_days=30), "node1", lambda coro: coro.close(),
                    clock=lambda: clock[0])
    assert await dialer.sweep_log() == 3
    clock[0] += SWEEP_LOG_EVERY - 1
    assert await dialer.sweep_log() == 0  # not again within the hour
    clock[0] += 1
    assert await dialer.sweep_log() == 3
    assert cutoffs == [datetime.fromtimestamp(T0, UTC) - timedelta(days=30),
                       datetime.fromtimestamp(T0 + SWEEP_LOG_EVERY, UTC) - timedelta(days=30)]
    assert keys == cutoffs  # voided requests' keys are kept as long as the log


async def test_nothing_is_placed_while_asterisk_is_not_connected() -> None:
    """The mirror frozen at the last picture (AMI lost) shows agents free; deciding on it
    would originate into a dead connection."""
    mirror = Mirror(up=set())
    mirror.synced = False
    live = cast(Any, mirror)
    live.skill_groups = dict
    live.seats = dict
    runner = CampaignRunner(campaign(), live, cast(Any, FakeSession), DialerSettings(),
                            "node1", lambda coro: coro.close(), lambda *_: None,
                            clock=lambda: T0)
    runner.counts.due = lambda now, midnight: False  # type: ignore[method-assign]

    def decide(snapshot: object) -> object:
        raise AssertionError("the pacer was asked while Asterisk is not connected")

    runner.pacer.decide = decide  # type: ignore[method-assign,assignment]
    await runner._tick()
    assert runner.problem == "Asterisk node1 is not connected: nothing is placed"
    assert runner._left_open  # the last run's calls wait until Asterisk can tell


def test_a_click_to_dial_call_shows_whether_the_customer_was_dialed_and_how_it_went() -> None:
    local = "cti-c2d-1"  # the agent's side, which dials the customer
    dialed = heard(local, [
        ev("ANSWER", 1.0, local, "Local/2001@cti-click-agent-00000001;1"),
        ev("ANSWER", 9.0, "x.3", "PJSIP/trunk-00000003"),
        ev("HANGUP", 20.0, local, "Local/2001@cti-click-agent-00000001;1",
           extra='{"hangupcause":16,"hangupsource":"","dialstatus":"ANSWER"}'),
    ], trunk="trunk")
    assert dialed.dialed and dialed.dial_status == "ANSWER" and dialed.ended_at == 20.0
    agent_only = heard(local, [
        ev("HANGUP", 21.0, local, "Local/2001@cti-click-agent-00000001;1",
           extra='{"hangupcause":19,"hangupsource":"","dialstatus":""}'),
    ], trunk="trunk")
    assert agent_only.logged and not agent_only.dialed and agent_only.dial_status is None


async def test_the_dialer_asks_click_to_dial_to_settle_on_its_cadence() -> None:
    answers: list[int | None] = [None, 2, 0]
    asked: list[float] = []
    clock = [T0]

    async def settle() -> int | None:
        asked.append(clock[0])
        return answers.pop(0)

    dialer = Dialer(cast(Any, Mirror(set())), cast(Any, FakeSession), DialerSettings(),
                    "node1", lambda coro: coro.close(), clock=lambda: clock[0],
                    settle_clicks=settle)
    assert await dialer.settle_clicks() == 0  # Asterisk not connected: ask next round
    clock[0] += 2
    assert await dialer.settle_clicks() == 2
    clock[0] += SETTLE_CLICKS_EVERY - 1
    assert await dialer.settle_clicks() == 0  # not yet
    clock[0] += 1
    assert await dialer.settle_clicks() == 0
    assert asked == [T0, T0 + 2, T0 + 2 + SETTLE_CLICKS_EVERY]


async def test_a_predictive_ring_out_left_open_is_judged_on_its_own_ring_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A predictive campaign rings 15 s, its other modes 25 s. A ring-out that ended
    during an outage (cause 0: Originate gave up) is a no-answer after 15 s of ringing;
    judged on the longer time it passed for a failure (retried 4 h later, not 2 h)."""
    started = datetime.fromtimestamp(T0 - 20, UTC)

    async def open_dials(session: object, prefix: str, **_: object) -> list[OpenDial]:
        return [OpenDial(3, 3, "node1:cti-dial-7-3", "+8613800138003", started)]

    async def channel_events(session: object, linkedids: Collection[str]
                             ) -> dict[str, list[ChannelEvent]]:
        return {"cti-dial-7-3": [hangup(T0 - 5, 0, "cti-dial-7-3"),
                                 ev("CHAN_END", T0 - 5, "cti-dial-7-3")]}

    monkeypatch.setattr(dialer_repository, "open_dials", open_dials)
    monkeypatch.setattr(dialer_repository, "channel_events", channel_events)
    predictive = dataclasses.replace(campaign(), mode="predictive")
    kept = recording(predictive, Mirror(set()),
                     DialerSettings(predictive_ring_seconds=15, customer_ring_seconds=25))
    runner, recorded = kept.runner, kept.recorded
    await runner._settle_left_open(T0)
    await kept.drain()
    assert [(r.dial.attempt_id, r.outcome) for r in recorded] == [(3, Outcome.NO_ANSWER)]


async def test_an_outcome_written_while_the_database_is_away_is_written_when_it_is_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An abandon whose write fails (PostgreSQL restarting) is kept and written again,
    not given up: the store would otherwise never know of it (the 72-hour rule, the
    abandon rate), and the in-memory counters would drop it at the next re-read."""
    from sqlalchemy import exc as sa_exc

    from cti.db import campaign_repository
    from cti.outbound import runner as runner_module

    calls: list[tuple[int, Outcome]] = []
    down = [True]

    async def record_outcome(session: object, attempt_id: int, outcome: Outcome,
                             ended_at: datetime) -> None:
        calls.append((attempt_id, outcome))
        if down[0]:
            raise sa_exc.OperationalError("INSERT", {}, ConnectionRefusedError("restarting"))

    monkeypatch.setattr(campaign_repository, "record_outcome", record_outcome)
    runner = CampaignRunner(campaign(), cast(Any, Mirror(set())), cast(Any, FakeSession),
                            DialerSettings(), "node1", lambda coro: coro.close(),
                            lambda *_: None, clock=lambda: T0)
    lost = dial("cti-dial-7-3", T0 - 30)
    runner.counts.resolved(lost.attempt_id, lost.lead_id, lost.placed_at, Outcome.ABANDONED)
    await runner._record(Resolved(lost, Outcome.ABANDONED, T0 - 5))
    assert calls == [(3, Outcome.ABANDONED)] and not runner.counts._own[3].written
    await runner._write_again(T0)  # still away
    down[0] = False
    await runner._write_again(T0 + 1)  # not yet time
    assert len(calls) == 2
    await runner._write_again(T0 + runner_module.RETRY_WRITE_SECONDS)
    assert calls[-1] == (3, Outcome.ABANDONED) and len(calls) == 3
    assert runner.counts._own[3].written and not runner._unwritten


@pytest.mark.parametrize("placed", [False, True])
async def test_an_originate_whose_reply_is_lost_is_followed_not_voided(
    log_reads: list[list[str]], monkeypatch: pytest.MonkeyPatch, placed: bool
) -> None:
    """The AMI connection drops (or the reply times out) after the Originate was written:
    Asterisk may be ringing the customer, so the attempt is not voided (that would free
    the lead for a second dial and lose any abandon). Its channel never shows: the log
    tells whether it was placed (then its outcome) or not (then it is voided)."""
    from cti.ami import actions
    from cti.ami.errors import AmiLostWhileWaiting

    voided: list[int] = []

    async def lost(*_: object, **__: object) -> None:
        raise AmiLostWhileWaiting("connection lost")

    async def void_attempt(session: object, attempt_id: int) -> None:
        voided.append(attempt_id)

    monkeypatch.setattr(actions, "originate_through_trunk", lost)
    monkeypatch.setattr(dialer_repository, "void_attempt", void_attempt)
    kept = recording(campaign(), Mirror(up=set()))
    runner = kept.runner
    # cti-dial-7-1 is in the log (answered, connected, ended): Asterisk did place it.
    channel = "cti-dial-7-1" if placed else "cti-dial-7-3"
    sent = dial(channel, T0 - 60)
    assert await runner._originate(sent) is False  # stop placing this tick
    await kept.drain()
    assert voided == [] and runner.book.dials[channel] is sent and sent.unsure
    await runner._settle_vanished(T0)
    await kept.drain()
    assert channel not in runner.book.dials
    if placed:
        assert voided == [] and [(r.outcome, r.ended_at) for r in kept.recorded] == [
            (Outcome.ANSWERED, T0 - 5)]
    else:
        assert voided == [sent.attempt_id] and kept.recorded == []


class ClickLive:
    """The live mirror as click-to-dial asks it: one free seat; no channel of the call."""

    def seats(self) -> dict[str, Any]:
        from cti.domain.model import Seat, SeatState
        return {"1001": Seat("1001", "node1", "PJSIP/1001", SeatState.AVAILABLE)}

    def devices(self) -> dict[str, dict[str, str]]:
        return {"node1": {"PJSIP/1001": "NOT_INUSE"}}

    def expect_outbound(self, call_id: str, intent: object) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def connection(self, node: str) -> object:
        return object()

    def channel_live(self, node: str, uniqueid: str) -> bool:
        return False


async def test_a_click_to_dial_whose_reply_is_lost_is_voided_only_once_the_log_says_so(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The agent clicks; the Originate is written and the AMI connection drops before its
    reply. The attempt stays (voiding it would let a retry ring the customer twice)
    until the channel event log shows Asterisk never placed the call."""
    from cti.ami import actions
    from cti.ami.errors import AmiReplyTimedOut
    from cti.db.campaign_records import ClaimResult
    from cti.outbound import click_to_dial as c2d
    from dialer.compliance import Decision

    voided: list[int] = []
    clock = [T0]

    async def lost(*_: object, **__: object) -> None:
        raise AmiReplyTimedOut("Originate got no reply from node1")

    async def claim(*_: object) -> tuple[ClaimResult, bool]:
        return ClaimResult(Decision(()), 5), False

    async def void_attempt(session: object, attempt_id: int) -> None:
        voided.append(attempt_id)

    click = c2d.ClickToDial(cast(Any, ClickLive()), cast(Any, FakeSession), DialerSettings(),
                            "node1", lambda coro: coro.close(), clock=lambda: clock[0])
    monkeypatch.setattr(actions, "originate_to_dialplan", lost)
    monkeypatch.setattr(click, "_claim", claim)
    monkeypatch.setattr(dialer_repository, "void_attempt", void_attempt)
    result = await click.dial(c2d.ClickRequest("1001", "+8613800138000"))
    assert result.attempt_id == 5 and voided == []

    async def open_dials(session: object, prefix: str, *, started_before: datetime
                         ) -> list[OpenDial]:
        return [OpenDial(5, None, result.call_id, "+8613800138000",
                         datetime.fromtimestamp(T0, UTC))]

    async def channel_events(session: object, ids: Collection[str]
                             ) -> dict[str, list[ChannelEvent]]:
        return {i: [] for i in ids}

    monkeypatch.setattr(dialer_repository, "open_dials", open_dials)
    monkeypatch.setattr(dialer_repository, "channel_events", channel_events)
    clock[0] = T0 + c2d.LEFT_OPEN_AFTER + 1
    assert await click.settle_left_open() == 1
    assert voided == [5] and result.call_id not in click._placed
