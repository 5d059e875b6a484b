"""Click-to-dial: ring the agent's phone, then the customer through the trunk.

One request, in order, refusing before anything is dialed:

1. the idempotency key: a retried request finds the attempt it made and dials nothing;
2. the campaign (optional): known and not stopped; its caller ID, windows and caps;
3. the number: parsed and normalised to E.164 (``dialer.numbers``);
4. the seat: known, its phone registered, not already on a call (after the request's own
   input, so that a mistyped number is named as such whatever the phone is doing);
5. the compliance gate and the attempt record in one transaction under the number's
   advisory lock: a lead of the campaign goes through ``claim_dial`` (its attempts,
   cadence, the 72-hour rule with an agent reserved), any other number through
   ``claim_manual`` (DNC, the campaign's windows, frequency caps);
6. the mirror is told the call is coming (``LiveCore.expect_outbound``) and Asterisk
   originates it: ``[cti-click-to-dial]`` records it and dials the trunk.

The attempt's outcome comes from the agent leg's ``DialEnd`` (ANSWER, BUSY, NOANSWER...).
If the agent never answered, the customer was never dialed: the attempt is voided so it
counts toward no cap and uses up none of the lead's attempts.

An attempt no request of this process follows (placed before a deploy or a crash, or
its end missed while AMI was lost) is settled from Asterisk's channel event log once
Asterisk no longer has its call (``settle_left_open``, asked by the dialer every
``SETTLE_CLICKS_EVERY`` seconds): the same outcome from the same DIALSTATUS, or voided when no
customer leg was dialed.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiError, AmiReplyLost
from cti.ami.events import AmiEvent
from cti.config import DialerSettings
from cti.db import campaign_repository as campaigns
from cti.db import dialer_repository as repo
from cti.db.campaign_records import CampaignRecord, ClaimResult, LeadRecord
from cti.db.engine import session_or
from cti.domain.events import CallEnded, DomainEvent, NodeConnectionChanged
from cti.domain.model import Seat
from cti.outbound.channel_log import heard_to_end
from cti.outbound.dials import channel_of
from cti.outbound.errors import (
    CampaignNotFound,
    CampaignNotRunnable,
    DialRefused,
    DialUnavailable,
    IdempotencyConflict,
    NumberInvalid,
    SeatNotReady,
)
from cti.outbound.settle import heard
from cti.tracker.tracker import OutboundIntent, text
from dialer.campaign import State
from dialer.compliance import FrequencyCap
from dialer.numbers import InvalidNumber, ParsedNumber, parse_number
from dialer.schedule import Outcome

log = logging.getLogger(__name__)



def _unavailable(exc: BaseException) -> DialUnavailable:
    return DialUnavailable(f"the database cannot be reached: {exc}")

CONTEXT = "cti-click-to-dial"
#: Where the agent's leg is dialed from (asterisk-conf/extensions_outbound.conf): a Local
#: channel, so a pre-dial handler can add the auto-answer headers to the phone's INVITE.
AGENT_CONTEXT = "cti-click-agent"
#: Device states in which a phone cannot take the agent leg.
_UNREACHABLE = frozenset({"UNAVAILABLE", "INVALID", "UNKNOWN"})
_BUSY = frozenset({"INUSE", "BUSY", "RINGING", "RINGINUSE", "ONHOLD"})
#: app_dial's DIALSTATUS -> the attempt's outcome.
DIAL_OUTCOMES: Mapping[str, Outcome] = {
    "ANSWER": Outcome.ANSWERED,
    "BUSY": Outcome.BUSY,
    "NOANSWER": Outcome.NO_ANSWER,
    "CANCEL": Outcome.NO_ANSWER,  # the agent gave up while it rang
    "CONGESTION": Outcome.FAILED,
    "CHANUNAVAIL": Outcome.FAILED,
}


class LiveOutbound(Protocol):
    """What click-to-dial needs from the live core (``cti.live.LiveCore``)."""

    def seats(self) -> Mapping[str, Seat]: ...

    def devices(self) -> dict[str, Mapping[str, str]]: ...

    def connection(self, node: str) -> AmiConnection: ...

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def channel_live(self, node: str, uniqueid: str) -> bool | None: ...


#: An attempt younger than this may still be on its way to being followed (claimed, its
#: channel not yet in the mirror: well under a second): it is not settled from the log.
LEFT_OPEN_AFTER = 10.0


@dataclass(frozen=True, slots=True)
class ClickRequest:
    seat_id: str
    number: str
    campaign_id: int | None = None
    auto_answer: bool = False
    key: str | None = None  # the client's Idempotency-Key


@dataclass(frozen=True, slots=True)
class ClickResult:
    call_id: str
    attempt_id: int
    seat_id: str
    number: str  # E.164
    campaign_id: int | None
    replayed: bool  # True: an earlier request with this key placed the call


@dataclass(slots=True)
class _Placed:
    attempt_id: int
    lead: bool
    outcome: Outcome | None = None  # from the agent leg's DialEnd
    dialed: bool = False  # the customer leg was started
    #: Up when the AMI connection dropped: its DialBegin or DialEnd may be lost, so its
    #: end is completed from Asterisk's channel event log.
    unsure: bool = False
    #: Its Originate was written but no reply came: Asterisk may or may not have placed
    #: it. If its channel never shows, the log tells (settle_left_open).
    unconfirmed: bool = False


class ClickToDial:
    def __init__(
        self,
        live: LiveOutbound,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        node: str,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._live = live
        self._sessions = sessionmaker
        self._settings = settings
        self._node = node
        self._spawn = spawn
        self._clock = clock
        self._placed: dict[str, _Placed] = {}  # by call id, until the call ends
        self._by_channel: dict[str, str] = {}  # agent leg uniqueid -> call id

    # --- the request ---------------------------------------------------------------

    async def dial(self, request: ClickRequest) -> ClickResult:
        if request.key is not None:
            replay = await self._replay(request)
            if replay is not None:
                return replay
        campaign = await self._campaign(request.campaign_id)
        region = (campaign.default_region if campaign else None) or self._settings.default_region
        try:
            parsed = parse_number(request.number, region)
        except InvalidNumber as exc:
            raise NumberInvalid(request.number, exc.reason.value) from exc
        interface = self._ready_seat(request.seat_id)
        channel_id = f"cti-c2d-{uuid.uuid4().hex}"
        call_id = f"{self._node}:{channel_id}"
        claim, lead = await self._claim(request, campaign, parsed, call_id)
        if not claim.decision.allowed or claim.attempt_id is None:
            holder = lead.holder(datetime.fromtimestamp(self._clock(), UTC)) if lead else None
            held = lead is not None and holder not in (None, request.seat_id)
            raise DialRefused(parsed.e164, [r.value for r in claim.decision.reasons],
                              held_by=holder if held else None,
                              held_until=lead.previewed_until if held and lead else None)
        self._placed[call_id] = _Placed(claim.attempt_id, lead is not None)
        self._by_channel[channel_id] = call_id
        self._live.expect_outbound(call_id, OutboundIntent(
            number=parsed.e164, seat_id=request.seat_id,
            campaign_id=campaign.id if campaign else None))
        caller_id = (campaign.caller_id if campaign else "") or self._settings.caller_id
        try:
            await actions.originate_to_dialplan(
                self._live.connection(self._node),
                interface=interface, through=AGENT_CONTEXT, context=CONTEXT,
                exten="s", channel_id=channel_id,
                variables={
                    "CTI_NUMBER": parsed.e164,
                    "CTI_CALLER_ID": caller_id,  # E.164, as the runner sends it
                    "CTI_RECORD_KEY": f"campaign-{campaign.id}" if campaign else "click-to-dial",
                    "CTI_RING_SECONDS": str(self._settings.customer_ring_seconds),
                    "CTI_TRUNK": self._settings.trunk,
                    "CTI_AGENT": interface,
                    "CTI_AGENT_RING": str(self._settings.agent_ring_seconds),
                    "CTI_AUTO_ANSWER": "1" if request.auto_answer else "0",
                },
                caller_id_name="Dialing", caller_id_number=parsed.e164.lstrip("+"),
                timeout_ms=(self._settings.agent_ring_seconds + 5) * 1000,
            )
        except AmiReplyLost as exc:
            # Voiding it would free the number's cap for a second call while the agent's
            # phone may be ringing for this one: followed, and settled from the log if
            # its channel never shows. The agent sees whether the phone rings.
            placed = self._placed[call_id]
            placed.unsure = placed.unconfirmed = True
            log.warning("click-to-dial %s: Asterisk did not confirm the originate (%s): "
                        "followed until its channels or its log tell whether it was placed",
                        call_id, exc)
        except (AmiError, KeyError) as exc:
            self._live.forget_outbound(call_id)
            self._forget(call_id)
            await self._void(claim.attempt_id)
            raise DialUnavailable(f"Asterisk did not place the call: {exc}") from exc
        log.info("click-to-dial %s: seat %s -> %s (attempt %d%s)", call_id, request.seat_id,
                 parsed.e164, claim.attempt_id,
                 f", campaign {campaign.id}" if campaign else "")
        return ClickResult(call_id, claim.attempt_id, request.seat_id, parsed.e164,
                           campaign.id if campaign else None, replayed=False)

    async def _replay(self, request: ClickRequest) -> ClickResult | None:
        assert request.key is not None
        async with self._session() as session:
            found = await repo.request_by_key(session, request.key)
        if found is None:
            return None
        same_number = False
        if found.seat_id == request.seat_id and found.campaign_id == request.campaign_id:
            campaign = await self._campaign(request.campaign_id, running_only=False)
            region = ((campaign.default_region if campaign else None)
                      or self._settings.default_region)
            try:
                same_number = parse_number(request.number, region).e164 == found.phone
            except InvalidNumber:
                same_number = False
        if not same_number:
            raise IdempotencyConflict(request.key)
        assert found.call_id is not None  # click-to-dial attempts always have one
        return ClickResult(found.call_id, found.attempt_id, request.seat_id, found.phone,
                           found.campaign_id, replayed=True)

    def _ready_seat(self, seat_id: str) -> str:
        seat = self._live.seats().get(seat_id)
        interface = seat.interface if seat is not None else f"PJSIP/{seat_id}"
        device = self._live.devices().get(self._node, {}).get(interface)
        if device is None and seat is None:
            raise SeatNotReady(seat_id, "Asterisk has no such seat")
        state = device or (seat.device_state if seat else "UNKNOWN")
        if state in _UNREACHABLE:
            raise SeatNotReady(seat_id, f"its phone is not reachable ({state})")
        if state in _BUSY or (seat is not None and seat.call_id is not None):
            raise SeatNotReady(seat_id, "it is already on a call")
        return interface

    async def _campaign(self, campaign_id: int | None, *,
                        running_only: bool = True) -> CampaignRecord | None:
        if campaign_id is None:
            return None
        async with self._session() as session:
            campaign = await campaigns.get_campaign(session, campaign_id)
        if campaign is None:
            raise CampaignNotFound(campaign_id)
        if running_only and campaign.state == State.STOPPED.value:
            raise CampaignNotRunnable(campaign_id, campaign.state)
        return campaign

    async def _claim(self, request: ClickRequest, campaign: CampaignRecord | None,
                     parsed: ParsedNumber, call_id: str
                     ) -> tuple[ClaimResult, LeadRecord | None]:
        """The claim, and the campaign's lead for the number (as read before it)."""
        now = datetime.fromtimestamp(self._clock(), UTC)
        try:
            # One transaction: the lead lookup and the claim commit together.
            async with self._session() as session, session.begin():
                return await self._claim_in(session, request, campaign, parsed, call_id, now)
        except sa_exc.IntegrityError as exc:
            # Two requests with one key raced: the other one placed the call.
            raise IdempotencyConflict(request.key or "") from exc

    async def _claim_in(self, session: AsyncSession, request: ClickRequest,
                        campaign: CampaignRecord | None, parsed: ParsedNumber, call_id: str,
                        now: datetime) -> tuple[ClaimResult, LeadRecord | None]:
        if campaign is not None:
            lead = await campaigns.lead_by_phone(session, campaign.id, parsed.e164)
            if lead is not None:
                claimed = await campaigns.claim_dial(
                    session, lead.id, now, call_id=call_id, seat_id=request.seat_id,
                    agent_reserved=True, request_key=request.key)
                assert claimed is not None  # the lead was just read, under the same lock
                return claimed, lead
            rules = campaign.rules()
            zones = parsed.timezones or tuple(z for z in (campaign.default_timezone,) if z)
            return await repo.claim_manual(
                session, parsed.e164, now, rules.cap, campaign_id=campaign.id,
                windows=rules.cadence.windows, zones=zones, call_id=call_id,
                seat_id=request.seat_id, request_key=request.key), None
        cap = FrequencyCap(self._settings.manual_cap_per_day, self._settings.manual_cap_per_week)
        return await repo.claim_manual(
            session, parsed.e164, now, cap, campaign_id=None, windows=None, zones=(),
            call_id=call_id, seat_id=request.seat_id, request_key=request.key), None

    # --- following the calls (bus and AMI taps, on the live consumer) --------------

    def on_dial_begin(self, node: str, event: AmiEvent, at: float) -> None:
        call_id = self._by_channel.get(text(event, "Uniqueid"))
        if call_id is not None and call_id in self._placed:
            self._placed[call_id].dialed = True

    def on_dial_end(self, node: str, event: AmiEvent, at: float) -> None:
        call_id = self._by_channel.get(text(event, "Uniqueid"))
        placed = self._placed.get(call_id) if call_id is not None else None
        if placed is not None and placed.outcome is None:
            placed.outcome = DIAL_OUTCOMES.get(text(event, "DialStatus"), Outcome.FAILED)

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallEnded) and event.call.id in self._placed:
                placed = self._placed[event.call.id]
                self._forget(event.call.id)
                ended = datetime.fromtimestamp(event.at, UTC)
                self._spawn(self._close(placed, ended, channel_of(event.call.id)))
            elif (isinstance(event, NodeConnectionChanged) and not event.connected
                  and event.node == self._node):
                for placed in self._placed.values():
                    placed.unsure = True

    def _forget(self, call_id: str) -> None:
        self._placed.pop(call_id, None)
        self._by_channel.pop(channel_of(call_id), None)

    async def _close(self, placed: _Placed, ended: datetime, channel_id: str = "") -> None:
        try:
            if placed.unsure and channel_id:
                try:
                    await self._complete(placed, channel_id)
                except Exception:  # the database is away: what was heard is all there is
                    log.exception("could not read the channel event log of attempt %d",
                                  placed.attempt_id)
            if not placed.dialed:
                await self._void(placed.attempt_id)
                return
            outcome = placed.outcome or Outcome.FAILED
            async with self._session() as session:
                if placed.lead:
                    await campaigns.record_outcome(session, placed.attempt_id, outcome, ended)
                else:
                    await repo.close_attempt(session, placed.attempt_id, outcome, ended)
            log.info("click-to-dial attempt %d: %s", placed.attempt_id, outcome.value)
        except Exception:
            log.exception("could not record the outcome of attempt %d", placed.attempt_id)

    # --- what the channel event log says (settle.py) ---------------------------------

    async def _complete(self, placed: _Placed, channel_id: str) -> None:
        """Add what the log says to what was heard of a call that was up when the AMI
        connection dropped: without it, a customer leg dialed in the gap was voided as
        never dialed, and its answer recorded as failed."""
        said = await heard_to_end(self._session, channel_id, self._settings.trunk,
                                  self._clock)
        if said.dialed and not placed.dialed:
            log.info("click-to-dial attempt %d: its customer was dialed while AMI was away "
                     "(from the channel event log)", placed.attempt_id)
        placed.dialed = placed.dialed or said.dialed
        if placed.outcome is None and said.dial_status is not None:
            placed.outcome = DIAL_OUTCOMES.get(said.dial_status, Outcome.FAILED)

    async def settle_left_open(self) -> int | None:
        """Settle this node's click-to-dial attempts that no request of this process
        follows (or whose originate Asterisk did not confirm) and whose call Asterisk no
        longer has, from the channel event log; how many. None: Asterisk's channels
        cannot be told now (AMI not connected)."""
        if self._live.channel_live(self._node, "") is None:
            return None
        before = datetime.fromtimestamp(self._clock() - LEFT_OPEN_AFTER, UTC)

        def unfollowed(call_id: str) -> bool:
            placed = self._placed.get(call_id)
            return placed is None or placed.unconfirmed

        async with self._session() as session:
            left = [a for a in await repo.open_dials(session, f"{self._node}:cti-c2d-",
                                                     started_before=before)
                    if unfollowed(a.call_id)
                    and self._live.channel_live(self._node, channel_of(a.call_id)) is False]
            logs = await repo.channel_events(session, [channel_of(a.call_id) for a in left])
        for attempt in left:
            channel_id = channel_of(attempt.call_id)
            said = heard(channel_id, logs[channel_id], self._settings.trunk)
            unconfirmed = attempt.call_id in self._placed
            self._forget(attempt.call_id)
            never_placed = unconfirmed and not said.logged
            if never_placed:
                log.warning("click-to-dial attempt %d, whose originate Asterisk did not "
                            "confirm, was never placed: voided", attempt.attempt_id)
            if never_placed or (said.logged and not said.dialed):
                self._live.forget_outbound(attempt.call_id)
                await self._void(attempt.attempt_id)
                continue
            if not said.logged:
                log.warning("click-to-dial attempt %d ended unheard and the channel event "
                            "log has nothing of it: settled as failed", attempt.attempt_id)
            outcome = DIAL_OUTCOMES.get(said.dial_status or "", Outcome.FAILED)
            ended = datetime.fromtimestamp(said.ended_at or self._clock(), UTC)
            await self._close(_Placed(attempt.attempt_id, attempt.lead_id is not None,
                                      outcome, dialed=True), ended)
        return len(left)

    async def _void(self, attempt_id: int) -> None:
        async with self._session() as session:
            await repo.void_attempt(session, attempt_id)
        log.info("click-to-dial attempt %d voided: the customer was never dialed", attempt_id)

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return session_or(self._sessions, _unavailable)
