"""The live campaign runner: the pacing code's decisions turned into calls through Asterisk.

One :class:`CampaignRunner` per running campaign, owned by the ``Dialer``
(``dialer.py``), which starts a runner when a campaign is running in PostgreSQL (started
over REST, or found running after a restart) and tells it to stop dialing when it is
paused or stopped; a stopping runner keeps following its calls in flight until the last
has ended.

Each tick (every ``tick_seconds`` on a fixed cadence, ``cadence.py``) a runner builds the
same ``Snapshot`` the simulator builds (``dialer/sim``): the campaign group's agents from
the live mirror, its calls ringing and answered-waiting from its own book, the abandon
counters and leads left from its :class:`~cti.outbound.counts.CampaignCounts` (fed by its
own outcomes, re-read from ``dial_attempts`` and ``leads`` every ``counts_reread_seconds``
and on start); places the callbacks whose time has come on their agents' free seats
(read every ``callbacks_reread_seconds``, ``callbacks.py``); asks ``Pacer.decide``; and
places that many calls: due
leads, each through ``claim_dial`` (the compliance gate and the attempt record in one
transaction), then Originate through the trunk into ``[cti-dialer]``, where app_queue
connects the answered customer to a free agent of the group or, after
``connect_seconds``, plays the information message (an abandon).

What the pacer learns (answer and handle times, the abandon-rate loop) outlives the run
(``pacing_memory.py``): the runner saves it to PostgreSQL every ``pacing_save_seconds``,
at its end and at shutdown, and the campaign's next runner (after a pause, or in a new
process) takes it back before its first tick, so that neither sends the campaign back to
dialing progressively while it relearns.

Outcomes come from AMI facts tapped on the live consumer (``Newstate`` Up: answered;
``AgentConnect``: connected; the dialplan's ``CtiDialerAbandoned``; ``Hangup``: the
end), and feed both ``record_outcome`` (the lead's retry schedule) and the pacer's
estimators, with talk times from ``AgentComplete`` and wrap-up times from the seat
machine. Preview campaigns are not dialed here: agents dial their leads (click-to-dial).

What the runner no longer hears it settles from Asterisk's channel event log
(``settle.py``): before its first decision, the attempts a previous process left open
(a deploy or a crash while calls were up: those still up go back into the book, the
others get the outcome the log gives); each tick, any dial whose channel Asterisk
no longer has although no Hangup came (events lost with an AMI connection); and, at its
Hangup, a dial that was up when the AMI connection dropped (its answer or its agent's
connect may have fallen in the gap: taken at its word, an answered customer would be
recorded as "failed", or as an abandon).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiError, AmiReplyLost
from cti.ami.events import AmiEvent
from cti.config import DialerSettings
from cti.db import campaign_repository as campaigns
from cti.db import dialer_repository as repo
from cti.db.campaign_records import CampaignRecord, LeadRecord
from cti.db.engine import DATABASE_DOWN
from cti.domain.events import SeatStateChanged
from cti.domain.model import Seat, SeatState, SkillGroup
from cti.outbound.app_queue import connect_window
from cti.outbound.cadence import next_tick
from cti.outbound.callbacks import Callback, DueCallbacks
from cti.outbound.channel_log import heard_to_end
from cti.outbound.counts import CampaignCounts, Reading
from cti.outbound.dials import (
    Dial,
    DialBook,
    Resolved,
    campaign_agents,
    channel_of,
    group_view,
    outcome_of,
    pacing_outcome,
)
from cti.outbound.errors import DialRefused
from cti.outbound.pacing_memory import PacingMemory
from cti.outbound.settle import Heard, add_heard, heard
from cti.telephony.sounds import playback_target
from cti.tracker.tracker import OutboundIntent
from dialer import compliance
from dialer.compliance import Reason
from dialer.dispositions import CALLBACK_GRACE
from dialer.pacing import (
    AbandonCounters,
    Decision,
    Learned,
    Mode,
    Outcome,
    Pacer,
    PacingSettings,
    Snapshot,
)
from dialer.pacing.rules import campaign_ring_timeout
from dialer.pacing.tally import DecisionTally

log = logging.getLogger(__name__)

CONTEXT = "cti-dialer"
#: Leads counted at a re-read: past this many the list is as good as endless to the pacer
#: (at 3% of a 10% answer rate, 10,000 leads earn 30 abandons, its smallest budget).
LEADS_COUNTED = 20_000
#: Due leads a tick may try (claim through the gate) at most, whatever it places.
MAX_TRIED = 200
#: A dial whose channel Asterisk does not have this long after it was placed has ended
#: unheard (an Originate's channel shows in the mirror within milliseconds).
VANISHED_AFTER = 10.0

#: How often outcomes whose write found the database away are written again.
RETRY_WRITE_SECONDS = 5.0
#: Dial a callback: (seat, number, campaign id); click-to-dial's engine in production.
CallbackDial = Callable[[str, str, int], Coroutine[Any, Any, object]]
_MODES = {"progressive": Mode.PROGRESSIVE, "predictive": Mode.PREDICTIVE}


class LiveDialer(Protocol):
    """What the runner needs from the live core (``cti.live.LiveCore``)."""

    def seats(self) -> Mapping[str, Seat]: ...

    def skill_groups(self) -> Mapping[str, SkillGroup]: ...

    def connection(self, node: str) -> AmiConnection: ...

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def tap(self, event_name: str, listener: Callable[[str, AmiEvent, float], None]) -> None: ...

    def channel_live(self, node: str, uniqueid: str) -> bool | None: ...


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """What a supervisor's screen shows of a running campaign."""

    campaign_id: int
    dialing: bool
    mode: str
    skill_group: str | None
    agents_free: int
    agents_talking: int
    agents_wrapping: int
    agents_paused: int
    ringing: int
    waiting: int
    placed: int
    answered: int
    connected: int
    abandoned: int
    abandon_rate_24h: float
    abandon_rate_30d: float
    #: The campaign's target for both (at most 3%).
    abandon_target: float
    last_decision: str
    problem: str | None
    #: Ticks since the runner started, the ticks each pacing rule decided ("predictive",
    #: "learning", "small budget", "guard", "progressive"...), and the calls placed
    #: beyond the free agents (over-dialing) and the ticks that did.
    ticks: int = 0
    rules: dict[str, int] = dataclasses.field(default_factory=dict)
    over_dialed: int = 0
    over_dial_ticks: int = 0
    #: Seconds spent inside ticks (building the snapshot, claiming and originating).
    tick_work_seconds: float = 0.0
    #: What its pacer has learned (taken back from the last run, if it was kept), and
    #: when this run last saved it (epoch seconds; None: not yet).
    learned: Learned = dataclasses.field(default_factory=Learned)
    pacing_saved_at: float | None = None


class CampaignRunner:
    def __init__(
        self,
        campaign: CampaignRecord,
        live: LiveDialer,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        node: str,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        register: Callable[[str, CampaignRunner | None], None],
        clock: Callable[[], float] = time.time,
        callback: CallbackDial | None = None,
        sounds_dir: str = "",
    ) -> None:
        self.campaign = campaign
        self._callback = callback
        self._sounds_dir = sounds_dir
        self._live = live
        self._sessions = sessionmaker
        self._settings = settings
        self._node = node
        self._spawn = spawn
        self._register = register  # channel id -> runner, for the Dialer's taps
        self._clock = clock
        self.book = DialBook()
        self.pacer = Pacer()  # until `restore_pacing` takes back the campaign's own
        self.memory = PacingMemory(campaign.id, sessionmaker, clock,
                                   settings.pacing_save_seconds)
        self._ready = asyncio.Event()
        self.pacing = self._pacing_for(campaign)
        self.dialing = True
        self._task: asyncio.Task[None] | None = None
        self.counts = CampaignCounts(settings.counts_reread_seconds)
        self.due_callbacks = DueCallbacks(settings.callbacks_reread_seconds)
        self._last: Decision | None = None
        self.tally = DecisionTally()
        self.tick_work_seconds = 0.0  # time spent inside ticks: the runner's own latency
        self._last_snapshot: Snapshot | None = None
        self._wrap_started: dict[str, float] = {}
        self._in_flight_numbers: set[str] = set()
        self._left_open = True  # attempts of an earlier run may still await an outcome
        self._settling: set[str] = set()  # channel ids being settled from the log
        self._unwritten: dict[int, Resolved] = {}  # attempt id -> outcome the store lacks
        self._write_again_at = 0.0
        self.placed = self.answered = self.connected = self.abandoned = self.callbacks = 0
        self.problem: str | None = None

    def _pacing_for(self, campaign: CampaignRecord) -> PacingSettings:
        settings = self._settings
        return PacingSettings(
            mode=_MODES.get(campaign.mode, Mode.PROGRESSIVE),
            target=campaign.abandon_target,
            ring_timeout=float(settings.customer_ring_seconds),
            predictive_ring_timeout=float(settings.predictive_ring_seconds),
            connect_window=connect_window(float(settings.connect_seconds)),
        )

    def update(self, campaign: CampaignRecord) -> None:
        """Take a running campaign's new settings (a PATCH): its next tick paces by them."""
        pacing = self._pacing_for(campaign)
        if pacing != self.pacing:
            log.info("campaign %d: pacing now %s, abandon target %.1f%%", campaign.id,
                     pacing.mode.value, 100 * pacing.target)
        self.campaign, self.pacing = campaign, pacing

    # --- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"campaign-{self.campaign.id}")

    def stop_dialing(self) -> None:
        if self.dialing and self._task is not None:
            log.info("campaign %d: dialing stops, %d call(s) in flight", self.campaign.id,
                     len(self.book))
        self.dialing = False

    @property
    def finished(self) -> bool:
        return self._task is not None and self._task.done()

    async def ready(self) -> None:
        """Until the runner has taken back its campaign's pacing and is about to tick."""
        await self._ready.wait()

    async def ended(self) -> None:
        """Until the run is over: dialing stopped and its last call ended."""
        if self._task is not None:
            await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            # A shutdown or deploy: the next process goes on. Not before the saved pacing
            # was taken back: a new pacer would overwrite what the campaign had learned.
            if self._ready.is_set():
                await self.save_pacing()

    # --- what the pacer has learned, kept between runs ------------------------------

    async def restore_pacing(self) -> None:
        """Take back what the store kept of this campaign's pacer, if it kept one."""
        kept = await self.memory.recall()
        if kept is not None:
            self.pacer = kept

    async def save_pacing(self) -> None:
        """Keep what the pacer has learned (on a cadence, at the run's end, at close)."""
        self.pacer = await self.memory.keep(self.pacer)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        await self.restore_pacing()
        self._ready.set()
        period = self._settings.tick_seconds
        deadline = loop.time() + period
        # A stopped campaign's runner stays until its calls have ended and their outcomes
        # are written.
        while self.dialing or len(self.book) or self._left_open or self._unwritten:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            started = loop.time()
            try:
                await self._tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database or AMI may be down: try next tick
                self.problem = f"{type(exc).__name__}: {exc}"
                log.warning("campaign %d tick failed: %s", self.campaign.id, exc)
            finished = loop.time()
            self.tick_work_seconds += finished - started
            if self.memory.due():
                await self.save_pacing()  # between ticks: a crash loses this much at most
            deadline = next_tick(deadline, loop.time(), period)
        await self.save_pacing()
        log.info("campaign %d runner done: placed %d, connected %d, abandoned %d",
                 self.campaign.id, self.placed, self.connected, self.abandoned)

    # --- one tick ------------------------------------------------------------------

    async def _tick(self) -> None:
        now = self._clock()
        await self._write_again(now)
        self._hang_up_rung_out(now)
        for channel_id in self.book.lost(now):
            if self._live.channel_live(self._node, channel_id) is not None:
                continue  # the mirror can tell: followed, or settled from the log below
            log.warning("campaign %d: no end heard of call %s: given up as not answered",
                        self.campaign.id, channel_id)
            self.on_hangup(channel_id, None, now)
        group = self._live.skill_groups().get(self.campaign.skill_group or "")
        if self.campaign.skill_group is None:
            self.problem = "the campaign has no skill group: its agents log into one"
        midnight = self._midnight(datetime.fromtimestamp(now, UTC)).timestamp()
        if self.counts.due(now, midnight):
            await self._reread(now, midnight)
        if not self._mirror_synced():
            # Asterisk is not connected (yet, or lost): its seats are a frozen picture,
            # every Originate would fail, and what is still up cannot be told.
            self.problem = f"Asterisk {self._node} is not connected: nothing is placed"
            return
        if self._left_open:
            await self._settle_left_open(now)
        await self._settle_vanished(now)
        snapshot = Snapshot(
            now=now, agents=campaign_agents(group, self._live.seats(), now),
            ringing=self.book.ringing(now), waiting=self.book.waiting(),
            settings=self.pacing, counters=self.counts.counters(now, midnight),
            leads_left=self.counts.leads_left(),
        )
        self._last_snapshot = snapshot
        if not self.dialing or self.campaign.skill_group is None:
            return
        await self._callbacks(now)
        decision = self.pacer.decide(snapshot)
        if decision != self._last and decision.place:
            log.debug("campaign %d: place %d (%s)", self.campaign.id, decision.place,
                      decision.reason)
        self._last = decision
        placed = 0
        if decision.place > 0:
            placed = await self._place(decision.place, decision.ring_timeout, now)
        self.tally.add(snapshot, decision, placed)
        self.problem = None

    async def _reread(self, now: float, midnight: float) -> None:
        """Correct the in-memory counts from the store, leaving out the attempts and leads
        whose writes this runner has under way (``cti/outbound/counts.py``)."""
        excluded = self.counts.begin_read(
            (d.attempt_id, d.lead_id) for d in self.book.dials.values())
        now_dt = datetime.fromtimestamp(now, UTC)
        cid = self.campaign.id
        async with self._sessions() as session:
            counters = await repo.abandon_counters(
                session, cid, now_dt, datetime.fromtimestamp(midnight, UTC), excluded.attempts)
            edges = await repo.leaving_soon(
                session, cid, now_dt, timedelta(seconds=self.counts.interval), excluded.attempts)
            left = await repo.leads_left(session, cid, LEADS_COUNTED, excluded.leads)
        self.counts.reset(Reading(
            at=now, midnight=midnight, counters=counters,
            edges=[(at.timestamp(), live, abandoned) for at, live, abandoned in edges],
            leads_left=left if left < LEADS_COUNTED else math.inf,
        ), excluded)

    def _midnight(self, now: datetime) -> datetime:
        zone = ZoneInfo(self.campaign.default_timezone or "UTC")
        local = now.astimezone(zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    async def _due(self, count: int, now: datetime) -> AsyncIterator[LeadRecord]:
        """Due leads to try for `count` calls: more are read while those tried are refused
        (and put off), up to `MAX_TRIED` a tick, so a block of refused leads (numbers
        another campaign called today) does not hold the campaign to a few calls a tick."""
        seen: set[int] = set()
        bound = max(count * 3, MAX_TRIED)
        while len(seen) < bound:
            # Leads tried and put off have left the due list; those skipped (in flight,
            # kept for their agent) have not: read past them.
            async with self._sessions() as session:
                due = await campaigns.due_leads(session, self.campaign.id, now,
                                                limit=len(seen) + count * 3)
            fresh = [lead for lead in due if lead.id not in seen]
            if not fresh:
                return
            for lead in fresh[: bound - len(seen)]:
                seen.add(lead.id)
                yield lead

    async def _place(self, count: int, ring_timeout: float, now: float) -> int:
        """Place up to `count` calls to due leads; how many were placed."""
        now_dt = datetime.fromtimestamp(now, UTC)
        placed = 0
        async for lead in self._due(count, now_dt):
            if placed >= count or not self.dialing:
                break
            if lead.phone in self._in_flight_numbers or self._kept_for_agent(lead, now):
                continue
            channel_id = f"cti-dial-{self.campaign.id}-{uuid.uuid4().hex[:20]}"
            call_id = f"{self._node}:{channel_id}"
            async with self._sessions() as session:
                claim = await campaigns.claim_dial(session, lead.id, now_dt, call_id=call_id)
            if claim is None:
                continue
            if not claim.decision.allowed or claim.attempt_id is None:
                await self._put_off(lead, claim.decision, now_dt)
                continue
            dial = Dial(claim.attempt_id, lead.id, call_id, channel_id, lead.phone, now,
                        ring_timeout)
            if not await self._originate(dial):
                break  # Asterisk refused: the next tick tries again, not every due lead now
            placed += 1
        return placed

    async def _put_off(self, lead: LeadRecord, decision: compliance.Decision,
                       now: datetime) -> None:
        """Keep a lead the gate refused off the due list until the gate may allow it
        (for good after a final refusal), in a transaction of its own; unless the lead
        changed since `lead` was read (then the change stands)."""
        until = self.campaign.due_again(lead, decision, now)
        async with self._sessions() as session:
            deferred = await repo.defer_lead(session, lead.id, until,
                                             seen=lead.next_eligible_at)
        if deferred and until is None:
            self.counts.lead_finished()

    def _kept_for_agent(self, lead: LeadRecord, now: float) -> bool:
        """A callback booked for a seat waits for that seat, up to CALLBACK_GRACE."""
        if lead.callback_seat_id is None or lead.callback_at is None:
            return False
        return now < lead.callback_at.timestamp() + CALLBACK_GRACE.total_seconds()

    async def _callbacks(self, now: float) -> None:
        """Callbacks go back to the agent who booked them: dialed agent first (the agent
        is reserved, so the 72-hour rule allows it) as soon as that seat is free.

        They are read every ``callbacks_reread_seconds``, not every tick: a callback
        booked, moved or cancelled through the API is seen at the next read at the latest
        (:class:`DueCallbacks`)."""
        if self._callback is None:
            return
        if self.due_callbacks.due(now):
            until = datetime.fromtimestamp(self.due_callbacks.horizon(now), UTC)
            async with self._sessions() as session:
                due = await repo.due_callbacks(session, self.campaign.id, until)
            self.due_callbacks.reset(now, (c for c in map(Callback.of, due) if c is not None))
        for callback in self.due_callbacks.ready(now, self._live.seats(),
                                                 self._in_flight_numbers):
            try:
                await self._callback(callback.seat_id, callback.number, self.campaign.id)
            except DialRefused as exc:
                # The gate says no (the number put on DNC since it was booked, say): the
                # lead is put off like any refused one, so the callback is not asked for
                # again at every tick its agent is free.
                reasons = tuple(Reason(r) for r in exc.details.get("reasons", ()))
                async with self._sessions() as session:
                    lead = await campaigns.get_lead(session, callback.lead_id)
                if lead is not None:
                    await self._put_off(lead, compliance.Decision(reasons),
                                        datetime.fromtimestamp(now, UTC))
                self.due_callbacks.placed(callback)
                log.warning("campaign %d: callback of lead %d refused: %s", self.campaign.id,
                            callback.lead_id, exc)
                continue
            except Exception as exc:
                log.warning("campaign %d: callback of lead %d to seat %s not placed: %s",
                            self.campaign.id, callback.lead_id, callback.seat_id, exc)
                continue
            self.due_callbacks.placed(callback)
            self.callbacks += 1
            log.info("campaign %d: callback of lead %d placed for seat %s",
                     self.campaign.id, callback.lead_id, callback.seat_id)

    async def _originate(self, dial: Dial) -> bool:
        self.book.add(dial)
        self._in_flight_numbers.add(dial.number)
        self._register(dial.channel_id, self)
        self._live.expect_outbound(dial.call_id, OutboundIntent(
            number=dial.number, campaign_id=self.campaign.id))
        try:
            await actions.originate_through_trunk(
                self._live.connection(self._node), trunk=self._settings.trunk,
                number=dial.number, context=CONTEXT, channel_id=dial.channel_id,
                variables={
                    "CTI_CAMPAIGN": str(self.campaign.id),
                    "CTI_ATTEMPT": str(dial.attempt_id),
                    "CTI_QUEUE": self.campaign.skill_group or "",
                    "CTI_CONNECT": str(self._settings.connect_seconds),
                    "CTI_ABANDON_MESSAGE": self.abandon_message(),
                },
                caller_id_number=self.campaign.caller_id,
                # The ring time runs from the customer's phone ringing (_hang_up_rung_out);
                # Asterisk's own timeout, from the INVITE, only ends a call that never
                # signals ringing.
                timeout_ms=round((dial.ring_timeout + self._settings.post_dial_seconds)
                                 * 1000),
            )
        except AmiReplyLost as exc:
            # Voiding it would free the lead and its cap for a second dial while Asterisk
            # may be ringing the customer: it stays in the book until the mirror or the
            # channel event log tells (_settle_vanished).
            dial.unsure = dial.unconfirmed = True
            self.problem = f"Asterisk did not confirm a call: {exc}"
            log.warning("campaign %d: originate of attempt %d unconfirmed (%s): followed "
                        "until Asterisk's channels or its log tell whether it was placed",
                        self.campaign.id, dial.attempt_id, exc)
            return False
        except (AmiError, KeyError) as exc:
            await self._void(dial)
            self.problem = f"Asterisk did not place the call: {exc}"
            log.warning("campaign %d: originate of attempt %d failed: %s", self.campaign.id,
                        dial.attempt_id, exc)
            return False
        self.placed += 1
        return True

    def _hang_up_rung_out(self, now: float) -> None:
        """Unanswered calls that have rung their ring time since the customer's phone
        began to ring are hung up (the regulators' 15 s are ringing, not post-dial
        delay)."""
        for dial in self.book.rung_out(now):
            self._spawn(self._hang_up(dial))

    async def _hang_up(self, dial: Dial) -> None:
        try:
            await actions.hangup(self._live.connection(self._node), dial.channel_id)
        except (AmiError, KeyError) as exc:  # gone already, or AMI away: asked again
            log.info("campaign %d: hanging up rung-out call %s: %s", self.campaign.id,
                     dial.channel_id, exc)

    async def _void(self, dial: Dial) -> None:
        """A dial whose customer was never called: as if it had not been claimed."""
        self.book.drop(dial.channel_id)
        self._forget(dial)
        async with self._sessions() as session:
            await repo.void_attempt(session, dial.attempt_id)

    def abandon_message(self) -> str:
        """What Playback is given when no agent takes an answered call in time: the
        campaign's own message (the seller's name and number), else the service's."""
        name = self.campaign.abandon_message or self._settings.abandon_message
        return playback_target(name, self._sounds_dir)

    def _forget(self, dial: Dial) -> None:
        self._in_flight_numbers.discard(dial.number)
        self._register(dial.channel_id, None)
        self._live.forget_outbound(dial.call_id)

    # --- what the channel event log says (settle.py) ---------------------------------

    def _mirror_synced(self) -> bool:
        return self._live.channel_live(self._node, "") is not None

    async def _settle_left_open(self, now: float) -> None:
        """Settle the attempts an earlier run of this campaign left without an outcome
        (on this node): the calls still up go back into the book, the others get theirs."""
        prefix = f"{self._node}:cti-dial-{self.campaign.id}-"
        async with self._sessions() as session:
            left = [d for d in await repo.open_dials(session, prefix,
                                                     campaign_id=self.campaign.id)
                    if channel_of(d.call_id) not in self.book.dials]
            logs = await repo.channel_events(session, [channel_of(d.call_id) for d in left])
        ring = campaign_ring_timeout(self.pacing)  # as its calls were placed
        for row in left:
            assert row.lead_id is not None  # asked for the campaign's: each has its lead
            channel_id = channel_of(row.call_id)
            dial = Dial(row.attempt_id, row.lead_id, row.call_id, channel_id, row.phone,
                        row.started_at.timestamp(), ring)
            said = heard(channel_id, logs[channel_id], self._settings.trunk)
            if said.ended_at is None and self._live.channel_live(self._node, channel_id):
                self._take_back(dial, said)
            else:
                self._settle(dial, said, now)
        self._left_open = False
        if left:
            log.info("campaign %d: %d call(s) of an earlier run settled from Asterisk's "
                     "channel event log, %d still up", self.campaign.id, len(left),
                     len(self.book))

    def _take_back(self, dial: Dial, said: Heard) -> None:
        """A call of an earlier run still up: follow it as if this run had placed it (its
        end settled with the log too: what happened before this run listened is there)."""
        add_heard(dial, said)
        dial.unsure = True
        self.book.add(dial)
        self._in_flight_numbers.add(dial.number)
        self._register(dial.channel_id, self)

    def _settle(self, dial: Dial, said: Heard, now: float) -> None:
        """A call that ended unheard: its outcome from the log (not logged at all: not
        answered, as a dial whose end is never heard; or never placed, if Asterisk did
        not confirm its Originate)."""
        if dial.unconfirmed and not said.logged:
            log.warning("campaign %d: attempt %d (%s), whose originate Asterisk did not "
                        "confirm, was never placed: voided", self.campaign.id,
                        dial.attempt_id, dial.channel_id)
            self.book.drop(dial.channel_id)  # at once: no second settling meanwhile
            self._spawn(self._void(dial))
            return
        if not said.logged:
            log.warning("campaign %d: attempt %d (%s) ended unheard and the channel event "
                        "log has nothing of it: settled as not answered", self.campaign.id,
                        dial.attempt_id, dial.channel_id)
        add_heard(dial, said)
        ended = said.ended_at if said.ended_at is not None else now
        self.book.drop(dial.channel_id)
        self._resolved(Resolved(dial, outcome_of(dial, said.cause, ended), ended))

    async def _settle_ended(self, dial: Dial, cause: int | None, at: float) -> None:
        """An unsure dial ended (its Hangup heard): its outcome from what was heard and
        what the log adds, counted and taught to the pacer as if heard live."""
        answered, connected = dial.answered_at, dial.connected_at
        try:
            add_heard(dial, await heard_to_end(self._sessions, dial.channel_id,
                                               self._settings.trunk, self._clock))
        except Exception:  # the database is away: what was heard is all there is
            log.exception("campaign %d: could not read the channel event log of call %s",
                          self.campaign.id, dial.channel_id)
        outcome = outcome_of(dial, cause, at)
        if dial.answered_at is None:
            self.pacer.observe_dial(pacing_outcome(outcome), at - dial.placed_at)
        elif answered is None:
            self.answered += 1
            self.pacer.observe_dial(Outcome.LIVE, max(dial.answered_at - dial.placed_at, 0.0))
        if connected is None and dial.connected_at is not None:
            log.info("campaign %d: call %s was connected to seat %s while AMI was away "
                     "(from the channel event log)", self.campaign.id, dial.channel_id,
                     dial.seat_id)
            self.connected += 1
            if dial.seat_id is not None:
                self._spawn(self._set_seat(dial.attempt_id, dial.seat_id))
        self._resolved(Resolved(dial, outcome, at))

    async def _settle_vanished(self, now: float) -> None:
        """Dials whose channel Asterisk no longer has though no Hangup was heard (AMI
        events lost): their outcome from the log."""
        gone = [d for d in self.book.dials.values()
                if now - d.placed_at > VANISHED_AFTER and d.channel_id not in self._settling
                and self._live.channel_live(self._node, d.channel_id) is False]
        if not gone:
            return
        self._settling.update(d.channel_id for d in gone)
        try:
            async with self._sessions() as session:
                logs = await repo.channel_events(session, [d.channel_id for d in gone])
        finally:
            self._settling.difference_update(d.channel_id for d in gone)
        for dial in gone:
            if self.book.dials.get(dial.channel_id) is dial:  # no Hangup came meanwhile
                log.warning("campaign %d: no end heard of call %s, which Asterisk no "
                            "longer has: settled from the channel event log",
                            self.campaign.id, dial.channel_id)
                self._settle(dial, heard(dial.channel_id, logs[dial.channel_id],
                                         self._settings.trunk), now)

    # --- what Asterisk says (called by the Dialer's taps, on the live consumer) -----

    def on_ringing(self, channel_id: str, at: float) -> None:
        self.book.rang(channel_id, at)

    def on_answer(self, channel_id: str, at: float) -> None:
        answered = self.book.answered(channel_id, at)
        if answered is not None:
            self.answered += 1
            self.pacer.observe_dial(Outcome.LIVE, answered.seconds)

    def on_connect(self, channel_id: str, seat_id: str | None, at: float) -> None:
        dial = self.book.connected(channel_id, seat_id, at)
        if dial is not None:
            self.connected += 1
            if seat_id is not None:
                self._spawn(self._set_seat(dial.attempt_id, seat_id))

    async def _set_seat(self, attempt_id: int, seat_id: str) -> None:
        try:
            async with self._sessions() as session:
                await repo.set_attempt_seat(session, attempt_id, seat_id)
        except Exception:
            log.exception("campaign %d: could not note attempt %d's seat", self.campaign.id,
                          attempt_id)

    def on_abandon(self, channel_id: str) -> None:
        dial = self.book.abandoned(channel_id)
        if dial is None:
            return
        # Every abandon counts against the regulators' rate; one in a progressive stretch
        # (or with seats free all along) means the mirror and app_queue disagreed, and
        # this line is what tells which.
        now = self._clock()
        group = self._live.skill_groups().get(self.campaign.skill_group or "")
        waited = f"{now - dial.answered_at:.1f} s" if dial.answered_at is not None else "?"
        log.warning("campaign %d: attempt %d (%s) abandoned: no agent took it in %s; "
                    "group %s now: %s; the pacer last decided: %s", self.campaign.id,
                    dial.attempt_id, dial.channel_id, waited, self.campaign.skill_group,
                    group_view(group, self._live.seats(), now),
                    self._last.reason if self._last else "-")

    def on_complete(self, talk_seconds: float) -> None:
        self.pacer.observe_talk(talk_seconds)

    def on_link_lost(self) -> None:
        """The AMI connection to this runner's Asterisk dropped: the calls up may miss
        events (their answer, their agent's connect) until the mirror is rebuilt."""
        self.book.link_lost()

    def on_hangup(self, channel_id: str, cause: int | None, at: float) -> None:
        resolved = self.book.hung_up(channel_id, cause, at)
        if resolved is None:
            return
        if resolved.dial.unsure:
            # An answer or a connect lost with the connection would make an answered call
            # "failed" or an abandon: the log completes what was heard first.
            self._spawn(self._settle_ended(resolved.dial, cause, at))
            return
        if resolved.dial.answered_at is None:
            self.pacer.observe_dial(pacing_outcome(resolved.outcome),
                                    at - resolved.dial.placed_at)
        self._resolved(resolved)

    def _resolved(self, resolved: Resolved) -> None:
        """A dial's outcome is known: forget it, count it, write it."""
        self._forget(resolved.dial)
        if resolved.dial.answered_at is not None and resolved.dial.connected_at is None:
            self.abandoned += 1
            log.info("campaign %d: attempt %d to %s abandoned", self.campaign.id,
                     resolved.dial.attempt_id, resolved.dial.number)
        dial = resolved.dial
        self.counts.resolved(dial.attempt_id, dial.lead_id, dial.placed_at, resolved.outcome)
        self._spawn(self._record(resolved))

    def on_seat(self, event: SeatStateChanged, members: Sequence[str]) -> None:
        seat = event.seat
        if seat.id not in members:
            return
        if seat.state is SeatState.WRAP_UP:
            self._wrap_started[seat.id] = event.at
        elif event.previous is SeatState.WRAP_UP:
            started = self._wrap_started.pop(seat.id, None)
            if started is not None:
                self.pacer.observe_wrap(event.at - started)

    async def _record(self, resolved: Resolved) -> None:
        """Write a dial's outcome. With the database away it is kept and written again
        every ``RETRY_WRITE_SECONDS`` (:meth:`_write_again`): an abandon the store does
        not have would be missing from the 72-hour rule and the abandon rate, and its
        lead left due again after the in-call guard."""
        attempt_id = resolved.dial.attempt_id
        finished = False
        try:
            async with self._sessions() as session:
                lead = await campaigns.record_outcome(
                    session, attempt_id, resolved.outcome,
                    datetime.fromtimestamp(resolved.ended_at, UTC))
            finished = lead is not None and lead.next_eligible_at is None
        except DATABASE_DOWN as exc:
            if attempt_id not in self._unwritten:
                log.warning("campaign %d: attempt %d's outcome (%s) not written, the "
                            "database is away: kept, and written again until it is: %s",
                            self.campaign.id, attempt_id, resolved.outcome.value, exc)
            self._unwritten[attempt_id] = resolved
            return
        except Exception:
            log.exception("campaign %d: could not record attempt %d's outcome",
                          self.campaign.id, attempt_id)
        if self._unwritten.pop(attempt_id, None) is not None:
            log.info("campaign %d: attempt %d's outcome (%s) written after all",
                     self.campaign.id, attempt_id, resolved.outcome.value)
        self.counts.written(attempt_id, lead_finished=finished)

    async def _write_again(self, now: float) -> None:
        """The outcomes whose write found the database away, once more."""
        if not self._unwritten or now < self._write_again_at:
            return
        self._write_again_at = now + RETRY_WRITE_SECONDS
        for resolved in list(self._unwritten.values()):
            await self._record(resolved)

    # --- status --------------------------------------------------------------------

    def status(self) -> RunnerStatus:
        """What the last tick saw and did. The abandon rates are the counters its pacer
        saw: asking ``counts`` now would move them between ticks, and past a failed
        re-read its edge no longer says what left the windows."""
        snapshot = self._last_snapshot
        agents = snapshot.agents if snapshot is not None else None
        counters = snapshot.counters if snapshot is not None else AbandonCounters()
        return RunnerStatus(
            campaign_id=self.campaign.id, dialing=self.dialing, mode=self.pacing.mode.value,
            skill_group=self.campaign.skill_group,
            agents_free=agents.free if agents else 0,
            agents_talking=len(agents.talking) if agents else 0,
            agents_wrapping=len(agents.wrapping) if agents else 0,
            agents_paused=agents.paused if agents else 0,
            ringing=len(snapshot.ringing) if snapshot else 0,
            waiting=snapshot.waiting if snapshot else 0,
            placed=self.placed, answered=self.answered, connected=self.connected,
            abandoned=self.abandoned,
            abandon_rate_24h=counters.day.rate, abandon_rate_30d=counters.month.rate,
            abandon_target=(snapshot.settings if snapshot else self.pacing).target,
            last_decision=self._last.reason if self._last else "",
            problem=self.problem,
            ticks=self.tally.ticks, rules=dict(self.tally.rules),
            over_dialed=self.tally.over_dialed, over_dial_ticks=self.tally.over_dial_ticks,
            tick_work_seconds=round(self.tick_work_seconds, 3),
            learned=self.pacer.learned(), pacing_saved_at=self.memory.saved_at,
        )
