"""Supervision's pure decisions and the AMI action builders it uses (no sockets)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.ami import actions
from cti.ami.actions import ChannelInfo
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiUnsafeValue
from cti.domain.model import Call, CallDirection, CallState
from cti.stack.render import AMI_READ, CONF_DIR
from cti.supervision import rules
from cti.supervision.errors import CallNotLive, PhoneInvalid
from cti.supervision.rules import EndReason, Mode
from cti.telephony.phones import phone_state


def chan(name: str, linkedid: str = "1.1", state: int = 6) -> ChannelInfo:
    return ChannelInfo(name, f"u-{name}", linkedid, state, "AppQueue")


def test_agent_channel_is_the_exact_endpoint_not_a_prefix() -> None:
    channels = [chan("PJSIP/1001-0000000a"), chan("PJSIP/100-0000000b"),
                chan("PJSIP/trunk-00000009")]
    found = rules.agent_channel(channels, "1.1", "PJSIP/100")
    assert found is not None and found.name == "PJSIP/100-0000000b"
    found = rules.agent_channel(channels, "1.1", "PJSIP/1001")
    assert found is not None and found.name == "PJSIP/1001-0000000a"


def test_the_call_is_over_for_the_session_once_the_agents_channel_has_left_it() -> None:
    call = Call(id="node1:1.1", node="node1", linkedid="1.1", direction=CallDirection.INBOUND,
                state=CallState.ON_CALL, customer_number="+4930123456", started_at=0.0,
                channels=frozenset({"u-customer", "u-agent"}))
    assert not rules.spied_call_over(call, "u-agent")  # the supervisor hung up
    # The customer hung up: the agent's leg is gone, the customer's not yet.
    leaving = dataclasses.replace(call, channels=frozenset({"u-customer"}))
    assert rules.spied_call_over(leaving, "u-agent")
    assert rules.spied_call_over(None, "u-agent")  # the call left the mirror
    assert rules.spied_call_over(dataclasses.replace(call, state=CallState.ENDED), None)
    # Recovered after a restart, the agent's uniqueid is unknown: the call decides.
    assert not rules.spied_call_over(leaving, None)


def test_agent_channel_must_be_up_and_on_this_call() -> None:
    assert rules.agent_channel([chan("PJSIP/1001-0000000a", linkedid="2.2")], "1.1",
                               "PJSIP/1001") is None
    assert rules.agent_channel([chan("PJSIP/1001-0000000a", state=5)], "1.1",
                               "PJSIP/1001") is None
    # A name Asterisk would not give a PJSIP channel is never spied on.
    assert rules.agent_channel([chan("PJSIP/1001-x,qB")], "1.1", "PJSIP/1001") is None


@given(st.lists(st.tuples(st.sampled_from(["1001", "100", "10011", "1002"]),
                          st.integers(0, 0xFFFFFFFF), st.sampled_from(["1.1", "2.2"]))))
def test_agent_channel_only_ever_returns_the_agents_own_leg(
    legs: list[tuple[str, int, str]]
) -> None:
    channels = [chan(f"PJSIP/{ep}-{seq:08x}", linkedid) for ep, seq, linkedid in legs]
    found = rules.agent_channel(channels, "1.1", "PJSIP/1001")
    expected = [c for c in channels if c.name.startswith("PJSIP/1001-") and c.linkedid == "1.1"]
    if not expected:
        assert found is None
    else:
        assert found in expected


def call(state: CallState, seat: str | None = "1001") -> Call:
    return Call(id="node1:1.1", node="node1", linkedid="1.1", direction=CallDirection.INBOUND,
                state=state, customer_number="0612345678", started_at=0.0, seat_id=seat)


@pytest.mark.parametrize(
    ("live", "ok"),
    [
        (None, False),
        (call(CallState.QUEUED, None), False),
        (call(CallState.RINGING), False),
        (call(CallState.ON_CALL, None), False),
        (call(CallState.ENDED), False),
        (call(CallState.ON_CALL), True),
    ],
)
def test_only_calls_with_a_connected_agent_are_monitorable(live: Call | None, ok: bool) -> None:
    if ok:
        assert rules.monitorable(live, "node1:1.1") is live
    else:
        with pytest.raises(CallNotLive):
            rules.monitorable(live, "node1:1.1")


@pytest.mark.parametrize(
    ("stop", "call_ended", "seen", "reason"),
    [
        (True, True, True, EndReason.STOPPED),
        (False, True, True, EndReason.CALL_ENDED),
        (False, False, True, EndReason.SUPERVISOR_HUNG_UP),
        (False, False, False, EndReason.FAILED),
    ],
)
def test_end_reason(stop: bool, call_ended: bool, seen: bool, reason: EndReason) -> None:
    assert rules.end_reason(stop_requested=stop, call_ended=call_ended, seen=seen) is reason


def test_each_mode_has_its_chanspy_digit_and_dialplan_extension() -> None:
    assert rules.DTMF == {Mode.LISTEN: "4", Mode.WHISPER: "5", Mode.BARGE: "6"}
    dialplan = (CONF_DIR / "extensions_supervision.conf").read_text()
    for mode in Mode:
        assert f"exten => {mode.value},1,ChanSpy(${{CTI_SPY_TARGET}},uqEd" in dialplan


class FakeConnection:
    """Records the actions a builder sends; answers nothing."""

    def __init__(self) -> None:
        self.sent: list[Mapping[str, Any]] = []

    async def send(self, action: Mapping[str, Any], **_: Any) -> None:
        self.sent.append(action)


def conn(fake: FakeConnection) -> AmiConnection:
    return cast(AmiConnection, fake)


async def test_originate_into_dialplan_sends_variables_and_our_channel_id() -> None:
    fake = FakeConnection()
    await actions.originate_to_dialplan(
        conn(fake), interface="PJSIP/1003", context="cti-supervision", exten="listen",
        channel_id="cti-spy-ab12", variables={"CTI_SPY_TARGET": "PJSIP/1001-0000000a"},
        caller_id_name="Supervision 1001", caller_id_number="1001",
    )
    (sent,) = fake.sent
    assert sent["Action"] == "Originate" and sent["Async"] == "true"
    assert sent["ChannelId"] == "cti-spy-ab12"
    assert sent["Variable"] == ["CTI_SPY_TARGET=PJSIP/1001-0000000a"]


@pytest.mark.parametrize(
    "override",
    [
        {"interface": "Local/1003@agents"},  # only PJSIP phones
        {"interface": "PJSIP/1003&PJSIP/1004"},
        {"exten": "listen,1"},
        {"variables": {"CTI_SPY_TARGET": "PJSIP/1001-0000000a,qB"}},  # ChanSpy arg splitting
        {"variables": {"CTI_SPY_TARGET": "x\r\nAction: Command"}},
        {"variables": {"lower": "x"}},
        {"caller_id_name": 'a" <1>'},
    ],
)
async def test_originate_refuses_unsafe_values_before_sending(override: dict[str, Any]) -> None:
    fake = FakeConnection()
    args: dict[str, Any] = {
        "interface": "PJSIP/1003", "context": "cti-supervision", "exten": "listen",
        "channel_id": "cti-spy-1", "variables": {"CTI_SPY_TARGET": "PJSIP/1001-0000000a"},
        "caller_id_name": "Supervision", "caller_id_number": "1001", **override,
    }
    with pytest.raises(AmiUnsafeValue):
        await actions.originate_to_dialplan(conn(fake), **args)
    assert fake.sent == []


@pytest.mark.parametrize("channel", ["/PJSIP/.*/", "PJSIP/1001", "*", "a b", ""])
async def test_hangup_and_dtmf_take_exact_channels_only(channel: str) -> None:
    fake = FakeConnection()
    with pytest.raises(AmiUnsafeValue):
        await actions.hangup(conn(fake), channel)
    with pytest.raises(AmiUnsafeValue):
        await actions.play_dtmf(conn(fake), channel, "5")
    assert fake.sent == []


async def test_play_dtmf_is_received_on_the_channel() -> None:
    fake = FakeConnection()
    await actions.play_dtmf(conn(fake), "cti-spy-ab12", "6")
    await actions.hangup(conn(fake), "PJSIP/1003-0000000c")
    assert fake.sent == [
        {"Action": "PlayDTMF", "Channel": "cti-spy-ab12", "Digit": "6", "Duration": "100",
         "Receive": "true"},
        {"Action": "Hangup", "Channel": "PJSIP/1003-0000000c"},
    ]
    with pytest.raises(AmiUnsafeValue):
        await actions.play_dtmf(conn(fake), "cti-spy-ab12", "56")


def test_each_mode_key_on_the_phone_maps_back_to_its_mode_and_no_other_key_does() -> None:
    assert {rules.mode_of_digit(d) for d in "456"} == set(Mode)
    assert all(rules.mode_of_digit(rules.DTMF[m]) is m for m in Mode)
    assert all(rules.mode_of_digit(d) is None for d in "0123789*#")


def test_the_cti_ami_user_receives_pressed_digits_but_not_sent_ones() -> None:
    conf = (CONF_DIR / "manager.conf").read_text()
    assert "dtmf" in AMI_READ
    assert "eventfilter(action(exclude),name(DTMFEnd),header(Direction),method(exact)) = Sent" \
        in conf
    assert "eventfilter(action(exclude),name(DTMFEnd)) =" not in conf


# --- the supervisor's phone ---------------------------------------------------------------

LIVE = Call(id="node1:1.1", node="node1", linkedid="1.1", direction=CallDirection.INBOUND,
            state=CallState.ON_CALL, customer_number="+4930123456", started_at=0.0,
            seat_id="1001")


@pytest.mark.parametrize(("state", "why"), [("INVALID", "is no endpoint Asterisk has"),
                                            ("UNAVAILABLE", "is not registered")])
def test_a_phone_asterisk_cannot_ring_is_refused_naming_phone(state: str, why: str) -> None:
    """The session was started (201) and stayed "active" 40 s until it failed."""
    with pytest.raises(PhoneInvalid) as caught:
        rules.check_phone("5556", "PJSIP/5556", "node1", LIVE, state)
    assert caught.value.details == {"field": "phone"}
    assert why in caught.value.message


@pytest.mark.parametrize("state", ["NOT_INUSE", "INUSE", "UNKNOWN", None])
def test_a_phone_asterisk_has_may_listen(state: str | None) -> None:
    rules.check_phone("1004", "PJSIP/1004", "node1", LIVE, state)


def test_the_device_state_of_a_phone_asterisk_lacks_is_invalid() -> None:
    devices = {"node1": {"PJSIP/1004": "NOT_INUSE"}, "node2": {}}
    assert phone_state(devices, "node1", "PJSIP/1004") == "NOT_INUSE"
    assert phone_state(devices, "node1", "PJSIP/5556") == "INVALID"
    assert phone_state(devices, "node2", "PJSIP/5556") is None  # nothing known yet
    assert phone_state(devices, "node3", "PJSIP/5556") is None
