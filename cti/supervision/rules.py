"""Pure decisions of supervision: no I/O, no clock."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable

from cti.ami.actions import EXACT_CHANNEL, ChannelInfo
from cti.domain.model import Call, CallState
from cti.supervision.errors import CallNotLive, PhoneInvalid
from cti.telephony.phones import NO_ENDPOINT, UNREACHABLE

CONTEXT = "cti-supervision"  # asterisk-conf/extensions_supervision.conf
RING_TIMEOUT_MS = 30_000
SEAT_INTERFACE = re.compile(r"^PJSIP/[A-Za-z0-9_.-]{1,64}$")
CHANNEL_UP = 6


class Mode(enum.StrEnum):
    LISTEN = "listen"  # the supervisor hears both parties; nobody hears the supervisor
    WHISPER = "whisper"  # the agent hears the supervisor, the customer does not
    BARGE = "barge"  # both parties hear the supervisor


# ChanSpy's ``d`` option: these digits switch the running spy to each mode.
DTMF = {Mode.LISTEN: "4", Mode.WHISPER: "5", Mode.BARGE: "6"}
_MODE_OF_DIGIT = {digit: mode for mode, digit in DTMF.items()}


def mode_of_digit(digit: str) -> Mode | None:
    """The mode a key pressed on the supervisor's phone switches ChanSpy to, if any."""
    return _MODE_OF_DIGIT.get(digit)


class EndReason(enum.StrEnum):
    STOPPED = "stopped"  # POST .../stop (DELETE) asked for it
    CALL_ENDED = "call_ended"  # the agent's call ended first
    SUPERVISOR_HUNG_UP = "supervisor_hung_up"  # the supervisor's phone hung up
    FAILED = "failed"  # the supervisor's phone never rang (originate failed)
    LOST = "lost"  # the leg vanished while the service was not watching


def spy_call_id(node: str, channel_id: str) -> str:
    """The live-mirror call id of the supervisor's leg: it is its own Linkedid."""
    return f"{node}:{channel_id}"


def monitorable(call: Call | None, call_id: str) -> Call:
    """The live call if an agent is talking on it now, else ``CallNotLive``."""
    if call is None or call.state is CallState.ENDED:
        raise CallNotLive(f"call {call_id!r} is not live", call_id=call_id)
    if call.state is not CallState.ON_CALL or call.seat_id is None:
        raise CallNotLive(
            f"call {call_id!r} is not connected to an agent", call_id=call_id,
            state=call.state.value,
        )
    return call


def check_phone(seat_id: str, interface: str, node: str, call: Call,
                state: str | None) -> None:
    """``PhoneInvalid`` (naming ``phone``) unless seat ``seat_id``'s phone, ``interface``
    on ``node`` in device state ``state`` (None: not known), can ring to listen to
    ``call``: a PJSIP phone, not the agent's own, on the call's node, that Asterisk
    has and can reach (otherwise the Originate fails and the session looks active until
    its deadline)."""
    if not SEAT_INTERFACE.fullmatch(interface):
        raise PhoneInvalid(f"seat {seat_id!r} has no PJSIP phone", field="phone")
    if seat_id == call.seat_id:
        raise PhoneInvalid(f"seat {seat_id!r} is the agent's own seat", field="phone")
    if node != call.node:
        raise PhoneInvalid(f"seat {seat_id!r} is on node {node!r}, the call on "
                           f"{call.node!r}", field="phone")
    if state in UNREACHABLE:
        why = "is no endpoint Asterisk has" if state == NO_ENDPOINT else "is not registered"
        raise PhoneInvalid(f"seat {seat_id!r} cannot be rung: its phone {interface} {why} "
                           f"({state})", field="phone")


def agent_channel(channels: Iterable[ChannelInfo], linkedid: str,
                  interface: str) -> ChannelInfo | None:
    """The agent's answered channel on this call: named ``<interface>-<seq>`` (exactly
    that endpoint: ``PJSIP/100`` must not match ``PJSIP/1001-...``), sharing the call's
    Linkedid, and up. The newest one if the agent has several (a consultation)."""
    prefix = f"{interface}-"
    found = [
        c for c in channels
        if c.linkedid == linkedid
        and c.state == CHANNEL_UP
        and c.name.startswith(prefix)
        and EXACT_CHANNEL.fullmatch(c.name)
        and "-" not in c.name[len(prefix):]
    ]
    return max(found, key=lambda c: c.name) if found else None


def spied_call_over(call: Call | None, agent_uniqueid: str | None) -> bool:
    """Whether the supervised call is over for the session when the supervisor's leg ends:
    the call has left the live mirror, or the agent's channel has left the call.

    ChanSpy's ``E`` option ends the supervisor's leg *because* the agent's channel hung
    up, and the tracker ends a call only with its last channel: when the customer hangs
    up, the call can still hold a channel for a moment after the agent's is gone, and the
    session ended as "supervisor_hung_up" (seen on the bench). ``agent_uniqueid`` is None
    for sessions recovered after a restart (their agent channel's uniqueid was not kept).
    """
    if call is None or call.state is CallState.ENDED:
        return True
    return agent_uniqueid is not None and agent_uniqueid not in call.channels


def end_reason(*, stop_requested: bool, call_ended: bool, seen: bool) -> EndReason:
    """Why a session ended when the supervisor's leg went away."""
    if stop_requested:
        return EndReason.STOPPED
    if call_ended:
        return EndReason.CALL_ENDED
    if not seen:
        return EndReason.FAILED
    return EndReason.SUPERVISOR_HUNG_UP


def duration_seconds(started_at: float, ended_at: float) -> int:
    return max(0, round(ended_at - started_at))
