"""Blind and attended transfer of a seat's call, by AMI on the seat's own channel.

Targets are a seat (dialled through ``[cti-transfer]``) or a skill group (its generated
entry context, so hours, maximum wait and voicemail apply to the transferred caller).
Channel names come from the live mirror, never from the request.
"""

from __future__ import annotations

import logging

from cti.ami import actions
from cti.ami.errors import AmiError
from cti.live import LiveCore
from cti.telephony.dialplan import group_context
from cti.telephony.errors import AsteriskRefused, UnknownObject, WrongState

log = logging.getLogger(__name__)

SEAT_CONTEXT = "cti-transfer"


class Transfers:
    def __init__(self, live: LiveCore) -> None:
        self._live = live
        self._consulting: dict[str, tuple[str, str]] = {}  # call id -> (channel, target)

    def seat_of(self, call_id: str) -> str:
        seat_id = self.seat_or_none(call_id)
        if seat_id is None:
            raise WrongState(f"call {call_id} is not with a seat")
        return seat_id

    def _seat_channel(self, call_id: str) -> str:
        seat_id = self.seat_of(call_id)
        seat = self._live.seats().get(seat_id)
        interface = seat.interface if seat is not None else f"PJSIP/{seat_id}"
        for name in self._live.channels_of(call_id).values():
            if name.startswith(f"{interface}-"):
                return name
        raise WrongState(f"seat {seat_id} has no channel on call {call_id}")

    async def start(self, call_id: str, mode: str, *, seat: str | None,
                    group: str | None) -> str:
        channel = self._seat_channel(call_id)
        if seat is not None:
            exten, context, target = seat, SEAT_CONTEXT, f"seat {seat}"
        else:
            assert group is not None
            exten, context, target = "s", group_context(group), f"group {group}"
        conn = self._live.connection(self._live.node_of(call_id))
        try:
            if mode == "blind":
                await actions.blind_transfer(conn, channel=channel, exten=exten, context=context)
            else:
                if call_id in self._consulting:
                    raise WrongState(f"call {call_id} is already in a consultation")
                await actions.attended_transfer(conn, channel=channel, exten=exten,
                                                context=context)
                self._consulting[call_id] = (channel, target)
        except AmiError as exc:
            raise AsteriskRefused(f"{mode} transfer of {call_id} failed: {exc}") from exc
        log.info("%s transfer of call %s (%s) to %s", mode, call_id, channel, target)
        return target

    def seat_or_none(self, call_id: str) -> str | None:
        """The seat a live call is with (None: queued, in the IVR, ringing out)."""
        call = self._live.active_calls().get(call_id)
        if call is None:
            raise UnknownObject("live call", call_id)
        return call.seat_id

    async def hang_up(self, call_id: str) -> int:
        """End a live call: every one of its channels is hung up (the customer's, the
        seat's, a consulted party's); how many were."""
        channels = sorted(set(self._live.channels_of(call_id).values()))
        if not channels:
            raise WrongState(f"call {call_id} has no channel left")
        conn = self._live.connection(self._live.node_of(call_id))
        for channel in channels:
            try:
                await actions.hangup(conn, channel)
            except AmiError as exc:  # a channel that hung up meanwhile: the rest still go
                log.info("hangup of %s on call %s: %s", channel, call_id, exc)
        self._consulting.pop(call_id, None)
        log.info("call %s hung up over the API (%d channels)", call_id, len(channels))
        return len(channels)

    async def finish(self, call_id: str, *, complete: bool) -> str:
        """Complete an attended transfer (the seat leaves, the two others stay) or cancel
        it (the consulted party is hung up, the seat is back with the caller)."""
        pending = self._consulting.pop(call_id, None)
        if pending is None:
            raise WrongState(f"call {call_id} has no attended transfer in progress")
        channel, target = pending
        conn = self._live.connection(self._live.node_of(call_id))
        try:
            if complete:
                await actions.hangup(conn, channel=channel)
            else:
                await actions.cancel_attended_transfer(conn, channel=channel)
        except AmiError as exc:
            raise AsteriskRefused(f"finishing the transfer of {call_id} failed: {exc}") from exc
        log.info("attended transfer of call %s to %s %s", call_id, target,
                 "completed" if complete else "cancelled")
        return target
