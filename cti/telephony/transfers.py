"""Blind and attended transfer of a seat's call, by AMI on the seat's own channel.

Targets are a seat (dialled through ``[cti-transfer]``) or a skill group (its generated
entry context, so hours, maximum wait and voicemail apply to the transferred caller).
Channel names come from the live mirror, never from the request.

An attended transfer is a consultation the seat holds with the target while the caller
waits; the API completes or cancels it, but Asterisk also ends it on its own (the target
rejects, does not answer or hangs up; the seat hangs up its phone; the call ends). So a
consultation is forgotten when its channels or the seat's channel hang up, or the call
ends; it is checked against the live mirror before it is used (a hangup may have gone
unseen, during an AMI outage for one); and "complete" or "cancel" acts only while its
channels are there: hanging up the seat's channel otherwise cuts the caller off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cti.ami import actions
from cti.ami.errors import AmiError
from cti.ami.events import AmiEvent
from cti.bus import Bus
from cti.domain.events import CallEnded, DomainEvent
from cti.live import LiveCore
from cti.telephony.dialplan import group_context
from cti.telephony.errors import AsteriskRefused, UnknownObject, WrongState
from cti.tracker.tracker import text

log = logging.getLogger(__name__)

SEAT_CONTEXT = "cti-transfer"  # blind: the caller dials the seat, back to the queue if not
CONSULT_CONTEXT = "cti-consult"  # attended: the agent's consultation call to the seat
# Asterisk dials the target once the transfer digit timeout has passed (features.conf
# transferdigittimeout, 3 s): a consultation still without a channel after this is over,
# or never began.
DIAL_WITHIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Consultation:
    """An attended transfer the API started and has neither completed nor cancelled."""

    seat_channel: str  # its name: "complete" hangs it up, "cancel" names it
    seat_uniqueid: str
    target: str  # "seat 1002", "group sales"
    before: frozenset[str]  # the call's channels (uniqueids) before it: caller's, seat's
    asked_at: float  # monotonic clock


def consultation_channels(c: Consultation, channels: Mapping[str, str]) -> list[str]:
    """The consultation's channels among its call's (uniqueid -> name): those the call
    did not have before it. Asterisk dials the target from a Local channel that takes the
    seat channel's linkedid, so they are the call's."""
    return sorted(name for uniqueid, name in channels.items() if uniqueid not in c.before)


def over(c: Consultation, channels: Mapping[str, str], now: float) -> str | None:
    """Why the consultation is over, judged from its call's live channels, for when its
    hangups went unseen (None: it may go on)."""
    if c.seat_uniqueid not in channels:
        return "the seat's channel is gone"
    if not consultation_channels(c, channels) and now - c.asked_at > DIAL_WITHIN_SECONDS:
        return f"no channel {DIAL_WITHIN_SECONDS:g} s after it was asked for"
    return None


def ended_by_hangup(c: Consultation, uniqueid: str, channels: Mapping[str, str]
                    ) -> str | None:
    """Why the consultation is over now that its call's channel ``uniqueid`` hung up,
    ``channels`` being those left (None: it goes on)."""
    if uniqueid == c.seat_uniqueid:
        return "the seat's channel hung up"  # completed from the phone, or the seat left
    if uniqueid not in c.before and not consultation_channels(c, channels):
        return "its channels hung up"  # rejected, not answered, or the target hung up
    return None


class Transfers:
    def __init__(self, live: LiveCore, clock: Callable[[], float] = time.monotonic) -> None:
        self._live = live
        self._clock = clock
        self._consulting: dict[str, Consultation] = {}  # by call id

    def attach(self, bus: Bus) -> None:
        """Follow consultations that Asterisk ends by itself (see the module doc)."""
        self._live.tap("Hangup", self.on_hangup)
        bus.subscribe("transfers", self.on_events)

    def seat_of(self, call_id: str) -> str:
        seat_id = self.seat_or_none(call_id)
        if seat_id is None:
            raise WrongState(f"call {call_id} is not with a seat")
        return seat_id

    def _seat_channel(self, call_id: str) -> tuple[str, str]:
        """The seat's channel on the call: (uniqueid, name)."""
        seat_id = self.seat_of(call_id)
        seat = self._live.seats().get(seat_id)
        interface = seat.interface if seat is not None else f"PJSIP/{seat_id}"
        for uniqueid, name in self._live.channels_of(call_id).items():
            if name.startswith(f"{interface}-"):
                return uniqueid, name
        raise WrongState(f"seat {seat_id} has no channel on call {call_id}")

    async def start(self, call_id: str, mode: str, *, seat: str | None,
                    group: str | None) -> str:
        uniqueid, channel = self._seat_channel(call_id)
        if seat is not None:
            context = SEAT_CONTEXT if mode == "blind" else CONSULT_CONTEXT
            exten, target = seat, f"seat {seat}"
        else:
            assert group is not None
            exten, context, target = "s", group_context(group), f"group {group}"
        conn = self._live.connection(self._live.node_of(call_id))
        try:
            if mode == "blind":
                await actions.blind_transfer(conn, channel=channel, exten=exten, context=context)
            else:
                if self._consultation(call_id) is not None:
                    raise WrongState(f"call {call_id} is already in a consultation")
                # known before the action is sent: a second request meanwhile is refused
                self._consulting[call_id] = Consultation(
                    channel, uniqueid, target, frozenset(self._live.channels_of(call_id)),
                    self._clock())
                try:
                    await actions.attended_transfer(conn, channel=channel, exten=exten,
                                                    context=context)
                except BaseException:
                    self._consulting.pop(call_id, None)
                    raise
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
        pending = self._consultation(call_id)
        if pending is None:
            raise WrongState(f"call {call_id} has no attended transfer in progress")
        if not consultation_channels(pending, self._live.channels_of(call_id)):
            # hanging up the seat's channel now would cut the caller off, not transfer it
            raise WrongState(f"the consultation of call {call_id} with {pending.target} has "
                             "no channel yet: Asterisk dials after the transfer digit timeout")
        del self._consulting[call_id]
        channel, target = pending.seat_channel, pending.target
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

    def on_hangup(self, node: str, event: AmiEvent, at: float) -> None:
        """Tap for Hangup, after the mirror applied it: forget a consultation it ends."""
        call_id = f"{node}:{text(event, 'Linkedid')}"
        pending = self._consulting.get(call_id)
        if pending is None:
            return
        reason = ended_by_hangup(pending, text(event, "Uniqueid"),
                                 self._live.channels_of(call_id))
        if reason is not None:
            self._forget(call_id, reason)

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallEnded) and event.call.id in self._consulting:
                self._forget(event.call.id, "the call ended")

    def _consultation(self, call_id: str) -> Consultation | None:
        """The call's consultation, once checked against the live mirror."""
        pending = self._consulting.get(call_id)
        if pending is None:
            return None
        reason = over(pending, self._live.channels_of(call_id), self._clock())
        if reason is not None:
            self._forget(call_id, reason)
            return None
        return pending

    def _forget(self, call_id: str, reason: str) -> None:
        pending = self._consulting.pop(call_id, None)
        if pending is not None:
            log.info("attended transfer of call %s to %s over without the API: %s",
                     call_id, pending.target, reason)
