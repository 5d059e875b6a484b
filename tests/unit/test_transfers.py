"""Attended transfers (cti.telephony.transfers) against a stand-in live core: the AMI
actions are recorded, the call's channels are a dict the test changes, and Hangup events
reach the transfers through the tap, as the live core delivers them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, cast

import pytest

from cti.ami import actions
from cti.ami.events import AmiEvent
from cti.bus import Bus
from cti.domain.events import CallEnded
from cti.domain.model import Call, CallDirection, CallState, Seat
from cti.telephony.errors import WrongState
from cti.telephony.transfers import (
    DIAL_WITHIN_SECONDS,
    Consultation,
    Transfers,
    ended_by_hangup,
    over,
)

CALL = "n1:1.1"
CUSTOMER = ("1.1", "PJSIP/trunk-00000001")
AGENT = ("1.2", "PJSIP/1001-00000002")
# what Asterisk creates for an Atxfer to 1002, all with the call's linkedid
LOCAL_1 = ("1.3", "Local/1002@cti-consult-00000000;1")
LOCAL_2 = ("1.4", "Local/1002@cti-consult-00000000;2")
TARGET = ("1.5", "PJSIP/1002-00000003")


class FakeLive:
    def __init__(self) -> None:
        self.channels: dict[str, str] = dict([CUSTOMER, AGENT])
        self.taps: dict[str, list[Callable[[str, AmiEvent, float], None]]] = {}

    def active_calls(self) -> dict[str, Call]:
        return {CALL: Call(CALL, "n1", "1.1", CallDirection.INBOUND, CallState.ON_CALL,
                           "0612345678", 0.0, seat_id="1001")}

    def seats(self) -> dict[str, Seat]:
        return {"1001": Seat("1001", "n1", "PJSIP/1001")}

    def channels_of(self, call_id: str) -> dict[str, str]:
        return dict(self.channels) if call_id == CALL else {}

    def node_of(self, call_id: str) -> str:
        return call_id.split(":", 1)[0]

    def connection(self, node: str) -> object:
        return object()

    def tap(self, name: str, listener: Callable[[str, AmiEvent, float], None]) -> None:
        self.taps.setdefault(name, []).append(listener)

    def up(self, *channels: tuple[str, str]) -> None:
        self.channels.update(channels)

    def hang_up(self, *channels: tuple[str, str]) -> None:
        """The channels hang up: the mirror drops them, then the taps hear of it."""
        for uniqueid, name in channels:
            del self.channels[uniqueid]
            event: AmiEvent = {"Event": "Hangup", "Uniqueid": uniqueid, "Linkedid": "1.1",
                               "Channel": name}
            for listener in self.taps.get("Hangup", []):
                listener("n1", event, 0.0)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """The AMI actions sent: (action, channel)."""
    sent: list[tuple[str, str]] = []

    async def atxfer(conn: object, *, channel: str, exten: str, context: str) -> None:
        sent.append(("Atxfer", channel))

    async def hangup(conn: object, channel: str) -> None:
        sent.append(("Hangup", channel))

    async def cancel(conn: object, *, channel: str) -> None:
        sent.append(("CancelAtxfer", channel))

    monkeypatch.setattr(actions, "attended_transfer", atxfer)
    monkeypatch.setattr(actions, "hangup", hangup)
    monkeypatch.setattr(actions, "cancel_attended_transfer", cancel)
    return sent


@pytest.fixture
def live() -> FakeLive:
    return FakeLive()


@pytest.fixture
def bus() -> Bus:
    return Bus()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def transfers(live: FakeLive, bus: Bus, clock: Clock) -> Transfers:
    made = Transfers(cast(Any, live), clock)
    made.attach(bus)
    return made


async def consult_1002(transfers: Transfers) -> None:
    await transfers.start(CALL, "attended", seat="1002", group=None)


async def test_completing_a_consultation_that_is_up_hangs_up_the_seat_channel(
    transfers: Transfers, live: FakeLive, sent: list[tuple[str, str]]
) -> None:
    await consult_1002(transfers)
    live.up(LOCAL_1, LOCAL_2, TARGET)  # 1002 rung and answered

    assert await transfers.finish(CALL, complete=True) == "seat 1002"
    assert sent == [("Atxfer", AGENT[1]), ("Hangup", AGENT[1])]


async def test_a_rejected_consultation_is_forgotten_and_another_can_start(
    transfers: Transfers, live: FakeLive, sent: list[tuple[str, str]]
) -> None:
    # given a consultation that 1002 rejects: Asterisk puts the seat back with the caller
    await consult_1002(transfers)
    live.up(LOCAL_1, LOCAL_2, TARGET)
    live.hang_up(TARGET, LOCAL_2, LOCAL_1)

    # when the agent tries 1003
    await transfers.start(CALL, "attended", seat="1003", group=None)

    # then a new consultation starts
    assert sent == [("Atxfer", AGENT[1]), ("Atxfer", AGENT[1])]


async def test_complete_without_a_consultation_channel_is_refused_and_cuts_nobody_off(
    transfers: Transfers, live: FakeLive, clock: Clock, sent: list[tuple[str, str]]
) -> None:
    # given a consultation whose channels went without our hearing of it
    await consult_1002(transfers)
    live.up(LOCAL_1, LOCAL_2)
    live.channels = dict([CUSTOMER, AGENT])

    # when the agent completes or cancels: refused, and no action reaches Asterisk
    for complete in (True, False):
        with pytest.raises(WrongState, match="has no channel"):
            await transfers.finish(CALL, complete=complete)
    clock.now += DIAL_WITHIN_SECONDS + 1
    with pytest.raises(WrongState, match="no attended transfer in progress"):
        await transfers.finish(CALL, complete=True)
    assert sent == [("Atxfer", AGENT[1])]


async def test_complete_before_the_target_is_dialled_is_refused_and_it_goes_on(
    transfers: Transfers, live: FakeLive, sent: list[tuple[str, str]]
) -> None:
    await consult_1002(transfers)
    with pytest.raises(WrongState, match="no channel yet"):
        await transfers.finish(CALL, complete=True)
    live.up(LOCAL_1, LOCAL_2, TARGET)  # the digit timeout passed: 1002 is dialled
    assert await transfers.finish(CALL, complete=True) == "seat 1002"
    assert sent == [("Atxfer", AGENT[1]), ("Hangup", AGENT[1])]


async def test_the_call_ending_forgets_its_consultation(
    transfers: Transfers, live: FakeLive, bus: Bus, sent: list[tuple[str, str]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    await consult_1002(transfers)
    live.up(LOCAL_1, LOCAL_2, TARGET)
    call = live.active_calls()[CALL]
    live.channels = {}
    with caplog.at_level(logging.INFO, logger="cti.telephony.transfers"):
        bus.publish([CallEnded(call, 1.0)])
    assert "over without the API: the call ended" in caplog.text

    with pytest.raises(WrongState, match="no attended transfer in progress"):
        await transfers.finish(CALL, complete=True)
    assert sent == [("Atxfer", AGENT[1])]


async def test_a_consultation_without_channels_once_the_target_is_due_is_over(
    transfers: Transfers, live: FakeLive, clock: Clock, sent: list[tuple[str, str]]
) -> None:
    # given a consultation whose hangups went unseen (an AMI outage), or that Asterisk
    # never dialled
    await consult_1002(transfers)
    with pytest.raises(WrongState, match="already in a consultation"):
        await transfers.start(CALL, "attended", seat="1003", group=None)

    # when the target is long due
    clock.now += DIAL_WITHIN_SECONDS + 1

    # then a new consultation can start
    await transfers.start(CALL, "attended", seat="1003", group=None)
    assert sent == [("Atxfer", AGENT[1]), ("Atxfer", AGENT[1])]


async def test_a_second_consultation_is_refused_while_the_first_is_being_sent(
    transfers: Transfers, monkeypatch: pytest.MonkeyPatch
) -> None:
    release = asyncio.Event()

    async def slow_atxfer(conn: object, *, channel: str, exten: str, context: str) -> None:
        await release.wait()

    monkeypatch.setattr(actions, "attended_transfer", slow_atxfer)
    first = asyncio.create_task(consult_1002(transfers))
    await asyncio.sleep(0)  # its Atxfer is on its way
    try:
        with pytest.raises(WrongState, match="already in a consultation"):
            await asyncio.wait_for(
                transfers.start(CALL, "attended", seat="1003", group=None), 1)
    finally:
        release.set()
        await asyncio.wait_for(first, 5)


C = Consultation(AGENT[1], AGENT[0], "seat 1002", frozenset({CUSTOMER[0], AGENT[0]}), 100.0)


def test_the_consultation_goes_on_while_one_of_its_channels_is_left() -> None:
    assert ended_by_hangup(C, LOCAL_2[0], dict([CUSTOMER, AGENT, LOCAL_1])) is None


def test_the_consultation_is_over_when_its_last_channel_hangs_up() -> None:
    assert ended_by_hangup(C, LOCAL_1[0], dict([CUSTOMER, AGENT])) == "its channels hung up"


def test_the_consultation_is_over_when_the_seat_hangs_up_its_phone() -> None:
    # completed from the phone: the caller and the target stay together
    reason = ended_by_hangup(C, AGENT[0], dict([CUSTOMER, LOCAL_1, LOCAL_2, TARGET]))
    assert reason == "the seat's channel hung up"


def test_the_caller_hanging_up_does_not_end_the_consultation() -> None:
    assert ended_by_hangup(C, CUSTOMER[0], dict([AGENT, LOCAL_1, LOCAL_2, TARGET])) is None


def test_a_consultation_being_dialled_may_go_on() -> None:
    assert over(C, dict([CUSTOMER, AGENT]), 100.0 + DIAL_WITHIN_SECONDS) is None
    assert over(C, dict([CUSTOMER, AGENT, LOCAL_1, LOCAL_2]), 1000.0) is None


def test_a_consultation_without_its_seat_or_long_without_channels_is_over() -> None:
    assert over(C, dict([CUSTOMER, LOCAL_1]), 101.0) == "the seat's channel is gone"
    assert over(C, dict([CUSTOMER, AGENT]), 100.0 + DIAL_WITHIN_SECONDS + 0.1) is not None
