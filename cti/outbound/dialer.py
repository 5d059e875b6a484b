"""The dialer: one :class:`~cti.outbound.runner.CampaignRunner` per running campaign.

It reads the running campaigns from PostgreSQL every ``SUPERVISE_EVERY`` seconds (a
campaign started over REST, or found running after a restart), starts a runner for each
(with a skill group of its own for a campaign given seats), tells a runner to stop
dialing when its campaign is paused or stopped, and routes the AMI facts it taps on the
live consumer, and the seat changes of the domain, to the runner whose call they concern.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.events import AmiEvent
from cti.config import DialerSettings
from cti.db import dialer_repository as repo
from cti.db.campaign_records import CampaignRecord
from cti.domain.events import DomainEvent, NodeConnectionChanged, SeatStateChanged
from cti.outbound.dials import hangup_cause
from cti.outbound.reread import reread_due
from cti.outbound.runner import CallbackDial, CampaignRunner, LiveDialer, RunnerStatus
from cti.tracker.tracker import stamp, text

log = logging.getLogger(__name__)

SUPERVISE_EVERY = 2.0
#: How often the channel event log's old rows are swept.
SWEEP_LOG_EVERY = 3600.0
#: How often click-to-dial's attempts nobody follows are looked for (``settle_clicks``).
SETTLE_CLICKS_EVERY = 30.0

#: Give a seat-list campaign its own skill group: (campaign id, seats) -> the group's name.
SeatGroup = Callable[[int, Sequence[str]], Coroutine[Any, Any, str]]


class Dialer:
    """Runs a :class:`CampaignRunner` per running campaign and routes AMI facts to them."""

    def __init__(
        self,
        live: LiveDialer,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        node: str,
        spawn: Callable[[Coroutine[Any, Any, None]], None],
        clock: Callable[[], float] = time.time,
        callback: CallbackDial | None = None,
        seat_group: SeatGroup | None = None,
        sounds_dir: str = "",
        settle_clicks: Callable[[], Coroutine[Any, Any, int | None]] | None = None,
    ) -> None:
        self._live = live
        self._sounds_dir = sounds_dir  # uploaded prompts, as Asterisk sees the directory
        self._sessions = sessionmaker
        self._sync_lock = asyncio.Lock()
        self._settings = settings
        self._node = node
        self._spawn = spawn
        self._clock = clock
        self._callback = callback
        self._seat_group = seat_group
        self.runners: dict[int, CampaignRunner] = {}
        self._by_channel: dict[str, CampaignRunner] = {}
        self._task: asyncio.Task[None] | None = None
        self._log_swept_at: float | None = None
        self._settle_clicks = settle_clicks  # click-to-dial's settle_left_open
        self._clicks_settled_at: float | None = None
        self._left_open_seen = False  # campaigns not running checked for calls left open

    def attach(self, subscribe: Callable[[str, Callable[[Sequence[DomainEvent]], None]], None],
               ) -> None:
        tap = self._live.tap
        tap("Newstate", self._on_newstate)
        tap("AgentConnect", self._on_agent_connect)
        tap("AgentComplete", self._on_agent_complete)
        tap("UserEvent", self._on_user_event)
        tap("Hangup", self._on_hangup)
        subscribe("dialer", self._on_events)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="dialer")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for runner in self.runners.values():
            await runner.close()

    def status(self, campaign_id: int) -> RunnerStatus | None:
        runner = self.runners.get(campaign_id)
        return runner.status() if runner is not None else None

    def statuses(self) -> dict[int, RunnerStatus]:
        """Every running campaign's status, by campaign id."""
        return {cid: runner.status() for cid, runner in self.runners.items()}

    async def _supervise(self) -> None:
        while True:
            for step, what in ((self.sync, "read running campaigns"),
                               (self.sweep_log, "sweep the channel event log"),
                               (self.settle_clicks, "settle click-to-dial's calls")):
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("dialer: could not %s: %s", what, exc)
            await asyncio.sleep(SUPERVISE_EVERY)

    async def settle_clicks(self) -> int:
        """Click-to-dial's attempts no request follows, settled from the log, at most
        once every SETTLE_CLICKS_EVERY seconds (asked again next round while Asterisk is
        not connected); how many."""
        now = self._clock()
        if self._settle_clicks is None or not reread_due(self._clicks_settled_at,
                                                        SETTLE_CLICKS_EVERY, now):
            return 0
        settled = await self._settle_clicks()
        if settled is None:
            return 0
        self._clicks_settled_at = now
        if settled:
            log.info("dialer: %d click-to-dial call(s) nobody followed settled from the "
                     "channel event log", settled)
        return settled

    async def sweep_log(self) -> int:
        """Delete the channel event log's rows past ``channel_log_days`` (and the keys of
        voided click-to-dial requests as old), at most once every SWEEP_LOG_EVERY
        seconds; how many log rows went."""
        now = self._clock()
        if not reread_due(self._log_swept_at, SWEEP_LOG_EVERY, now):
            return 0
        self._log_swept_at = now
        before = datetime.fromtimestamp(now, UTC) - timedelta(
            days=self._settings.channel_log_days)
        async with self._sessions() as session:
            gone = await repo.sweep_channel_events(session, before)
            await repo.sweep_voided_requests(session, before)
        if gone:
            log.info("dialer: %d channel event log row(s) before %s swept", gone,
                     before.isoformat(timespec="seconds"))
        return gone

    async def sync(self) -> None:
        """Start runners for running campaigns and hand their runners what a PATCH
        changed; stop dialing for the others (and for one switched to preview).

        Every SUPERVISE_EVERY seconds, and at once after a change over REST (start, pause,
        stop, PATCH): one at a time, so a campaign never gets two runners."""
        async with self._sync_lock:
            await self._sync()

    async def _sync(self) -> None:
        async with self._sessions() as session:
            fresh = {c.id: c for c in await repo.running_campaigns(session)}
        running = set(fresh)
        for cid, runner in list(self.runners.items()):
            if runner.finished:
                del self.runners[cid]
            elif cid not in running:
                runner.stop_dialing()
        for cid, found in fresh.items():
            current = self.runners.get(cid)
            if found.mode == "preview":  # agents dial its leads themselves
                if current is not None:
                    current.stop_dialing()  # switched to preview while running
                continue
            if current is not None:
                if current.dialing:  # settings may have changed (PATCH)
                    staffed = await self._restaffed(found, current.campaign)
                    if staffed is not None:
                        current.update(staffed)
                continue  # else still draining the calls of its previous run
            campaign = await self._staffed(found)
            if campaign is None:
                continue  # its seats' group could not be made yet: next round
            runner = self._runner(campaign)
            runner.start()
            log.info("campaign %d (%s) runner started: %s mode, skill group %s", cid,
                     campaign.name, campaign.mode, campaign.skill_group)
        if not self._left_open_seen:
            await self._settle_left_open()
            self._left_open_seen = True

    def _runner(self, campaign: CampaignRecord) -> CampaignRunner:
        runner = CampaignRunner(campaign, self._live, self._sessions, self._settings,
                                self._node, self._spawn, self._route, self._clock,
                                self._callback, self._sounds_dir)
        self.runners[campaign.id] = runner
        return runner

    async def _settle_left_open(self) -> None:
        """Once, at start: a campaign no longer running (paused, stopped) whose last run
        left calls without an outcome (the process went away while it drained them) gets
        a runner that only settles and follows those (``settle.py``); a running one's own
        runner does that before its first decision."""
        async with self._sessions() as session:
            left = await repo.campaigns_left_open(session, f"{self._node}:cti-dial-")
        for campaign in left:
            if campaign.id in self.runners:
                continue
            runner = self._runner(campaign)
            runner.stop_dialing()
            runner.start()
            log.info("campaign %d (%s, %s): a runner settles the calls its last run left",
                     campaign.id, campaign.name, campaign.state)

    async def _staffed(self, campaign: CampaignRecord) -> CampaignRecord | None:
        """The campaign with the skill group its calls go to (its own, for a seat list);
        None when that group could not be made (tried again on the next round)."""
        if campaign.skill_group is not None or not campaign.seats or self._seat_group is None:
            return campaign
        try:
            name = await self._seat_group(campaign.id, campaign.seats)
        except Exception as exc:
            log.warning("campaign %d: no skill group for its seats yet: %s", campaign.id, exc)
            return None
        return dataclasses.replace(campaign, skill_group=name)

    async def _restaffed(self, found: CampaignRecord, running: CampaignRecord
                         ) -> CampaignRecord | None:
        """`found` for a running campaign: a seat list that changed is applied to its group
        (None while that fails: tried again next round); else it keeps its group."""
        if found.skill_group is None and set(found.seats) != set(running.seats):
            staffed = await self._staffed(found)
            if staffed is None:
                return None
            found = staffed
        return dataclasses.replace(found, skill_group=found.skill_group or running.skill_group)

    def _route(self, channel_id: str, runner: CampaignRunner | None) -> None:
        if runner is None:
            self._by_channel.pop(channel_id, None)
        else:
            self._by_channel[channel_id] = runner

    # --- taps ------------------------------------------------------------------------

    def _runner_for(self, event: AmiEvent) -> tuple[str, CampaignRunner | None]:
        channel_id = text(event, "Uniqueid")
        return channel_id, self._by_channel.get(channel_id)

    def _on_newstate(self, node: str, event: AmiEvent, at: float) -> None:
        channel_id, runner = self._runner_for(event)
        if runner is None:
            return
        state = text(event, "ChannelState")
        if state == "5":  # Ringing: the customer's phone rings (180)
            runner.on_ringing(channel_id, stamp(event, at))
        elif state == "6":  # Up
            runner.on_answer(channel_id, stamp(event, at))

    def _on_agent_connect(self, node: str, event: AmiEvent, at: float) -> None:
        channel_id, runner = self._runner_for(event)
        if runner is not None:
            interface = text(event, "Interface")
            seat = interface.partition("/")[2] or None
            runner.on_connect(channel_id, seat, stamp(event, at))

    def _on_agent_complete(self, node: str, event: AmiEvent, at: float) -> None:
        runner = self._by_channel.get(text(event, "Uniqueid")) or self._by_channel.get(
            text(event, "Linkedid"))
        if runner is None:
            # The customer's Hangup can come first (bench/inbound_load): match on the
            # campaign's channel id prefix instead of the (already forgotten) channel.
            linked = text(event, "Linkedid")
            for candidate in self.runners.values():
                if linked.startswith(f"cti-dial-{candidate.campaign.id}-"):
                    runner = candidate
                    break
        if runner is not None:
            with contextlib.suppress(ValueError):
                runner.on_complete(float(text(event, "TalkTime")))

    def _on_user_event(self, node: str, event: AmiEvent, at: float) -> None:
        if text(event, "UserEvent") != "CtiDialerAbandoned":
            return
        channel_id, runner = self._runner_for(event)
        if runner is not None:
            runner.on_abandon(channel_id)

    def _on_hangup(self, node: str, event: AmiEvent, at: float) -> None:
        channel_id, runner = self._runner_for(event)
        if runner is not None:
            runner.on_hangup(channel_id, hangup_cause(text(event, "Cause")), stamp(event, at))

    def _on_events(self, events: Sequence[DomainEvent]) -> None:
        if not self.runners:
            return
        for event in events:
            if isinstance(event, NodeConnectionChanged):
                if not event.connected and event.node == self._node:
                    for runner in self.runners.values():
                        runner.on_link_lost()
            elif isinstance(event, SeatStateChanged):
                groups = self._live.skill_groups()
                for runner in self.runners.values():
                    group = groups.get(runner.campaign.skill_group or "")
                    if group is not None:
                        runner.on_seat(event, list(group.members))
