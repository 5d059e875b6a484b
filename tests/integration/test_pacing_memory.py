"""A campaign's pacer outlives its runs: kept in PostgreSQL (``campaign_pacing``) and
taken back by every new run, in this process or the next, on the real PostgreSQL with a
fake live core.

Without this a campaign paused for lunch, or a service restarted mid-shift, dialed
progressively again until the predictive rule had relearned its answer and handle times.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any, cast

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.db import dialer_repository as dialer_repo
from cti.db.campaign_models import CampaignPacing
from cti.db.campaign_records import CampaignRecord
from cti.outbound.dialer import Dialer
from cti.outbound.runner import CampaignRunner
from dialer.campaign import State
from dialer.pacing import Outcome, Pacer
from tests.support.dialer_core import FakeLive, spawner, stored_campaign


def _taught(pacer: Pacer, dials: int = 400) -> None:
    """Outcomes a campaign sees over a while: 30% live after 3-15 s, handle ~3 min."""
    rng = random.Random(5)
    for _ in range(dials):
        if rng.random() < 0.3:
            pacer.observe_dial(Outcome.LIVE, 3 + rng.expovariate(1 / 6))
            pacer.observe_talk(rng.lognormvariate(4.7, 0.8))
            pacer.observe_wrap(rng.lognormvariate(3.2, 0.7))
        else:
            pacer.observe_dial(Outcome.NO_ANSWER, 15.0)


def _runner(campaign: CampaignRecord, maker: async_sessionmaker[AsyncSession],
            tasks: set[asyncio.Task[None]]) -> CampaignRunner:
    return CampaignRunner(campaign, cast(Any, FakeLive()), maker, DialerSettings(), "node1",
                          spawner(tasks), lambda *_: None)


async def _saved(maker: async_sessionmaker[AsyncSession], tasks: set[asyncio.Task[None]],
                 ) -> tuple[CampaignRecord, CampaignRunner]:
    """A running campaign whose runner's pacer was taught, then saved."""
    campaign = await stored_campaign(maker)
    runner = _runner(campaign, maker, tasks)
    _taught(runner.pacer)
    await runner.save_pacing()
    return campaign, runner


async def test_a_new_process_takes_back_what_the_pacer_had_learned(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    campaign, before = await _saved(db_sessionmaker, tasks)

    after = _runner(campaign, db_sessionmaker, tasks)  # a new process: a new pacer
    assert after.pacer.estimates.answers.count == 0
    await after.restore_pacing()
    # Exactly what was saved, through JSONB: the rule goes on, it does not relearn.
    assert after.pacer.state() == json.loads(json.dumps(before.pacer.state()))
    assert after.pacer.estimates.answers.count == 400
    assert after.pacer.estimates.handle.count == before.pacer.estimates.handle.count > 30
    # A supervisor sees it on the runner's status (GET /v1/campaigns/{id}/live).
    status = after.status()
    assert status.learned == before.pacer.learned() and status.learned.dials_seen == 400
    assert status.pacing_saved_at is None  # this run has not saved yet

    # Saving again replaces the row (one per campaign).
    _taught(after.pacer, 100)
    await after.save_pacing()
    assert after.status().pacing_saved_at is not None
    async with db_sessionmaker() as s:
        saved = await dialer_repo.load_pacing(s, campaign.id)
    assert saved is not None and saved["estimates"]["answers"]["count"] == 500


async def test_a_runner_closed_before_it_took_back_the_pacing_does_not_overwrite_it(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    campaign, _ = await _saved(db_sessionmaker, tasks)
    runner = _runner(campaign, db_sessionmaker, tasks)
    runner.start()
    await runner.close()  # a shutdown right after start: the restore never ran
    async with db_sessionmaker() as s:
        saved = await dialer_repo.load_pacing(s, campaign.id)
    assert saved is not None and saved["estimates"]["answers"]["count"] == 400


class _DownAtFirst:
    """A sessionmaker whose first `failures` sessions cannot reach the database."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], failures: int) -> None:
        self._maker = maker
        self.failures = failures

    def __call__(self) -> AsyncSession:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionRefusedError("database unreachable")
        return self._maker()


async def test_a_store_down_at_start_is_read_again_before_anything_is_saved_over_it(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    campaign, before = await _saved(db_sessionmaker, tasks)
    flaky = _DownAtFirst(db_sessionmaker, failures=2)
    runner = _runner(campaign, cast(Any, flaky), tasks)

    await runner.restore_pacing()  # unreachable: the runner dials on with a new pacer
    assert runner.pacer.estimates.answers.count == 0
    _taught(runner.pacer, 50)
    await runner.save_pacing()  # still unreachable: neither read nor written
    await runner.save_pacing()  # back: what was kept is taken back, then saved again
    assert runner.pacer.estimates.answers.count == 400
    async with db_sessionmaker() as s:
        saved = await dialer_repo.load_pacing(s, campaign.id)
    assert saved == json.loads(json.dumps(before.pacer.state()))


async def test_a_damaged_or_outdated_saved_state_leaves_the_pacer_to_learn(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    tasks: set[asyncio.Task[None]] = set()
    campaign, before = await _saved(db_sessionmaker, tasks)
    state = before.pacer.state()
    state["version"] = 0  # what an older release saved
    async with db_sessionmaker() as s:
        await s.execute(update(CampaignPacing).where(CampaignPacing.campaign_id == campaign.id)
                        .values(state=state))
        await s.commit()

    after = _runner(campaign, db_sessionmaker, tasks)
    await after.restore_pacing()  # refused, logged; the runner dials on
    assert after.pacer.estimates.answers.count == 0

    fresh = await stored_campaign(db_sessionmaker, "never run", running=False)
    first = _runner(fresh, db_sessionmaker, tasks)
    await first.restore_pacing()  # nothing saved yet
    assert first.pacer.estimates.answers.count == 0


async def test_a_campaign_paused_and_started_again_goes_on_with_what_it_learned(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    campaign = await stored_campaign(db_sessionmaker)
    tasks: set[asyncio.Task[None]] = set()
    dialer = Dialer(cast(Any, FakeLive()), db_sessionmaker, DialerSettings(tick_seconds=0.05),
                    "node1", spawner(tasks))
    try:
        await dialer.sync()
        first = dialer.runners[campaign.id]
        await asyncio.wait_for(first.ready(), 5)  # nothing saved yet: it learns afresh
        assert first.pacer.estimates.answers.count == 0
        _taught(first.pacer)
        taught = json.loads(json.dumps(first.pacer.state()))
        await asyncio.sleep(0.2)  # a few ticks

        async with db_sessionmaker() as s:  # a supervisor pauses it
            await repo.change_state(s, campaign.id, State.RUNNING, State.PAUSED)
        await dialer.sync()
        await asyncio.wait_for(first.ended(), 5)
        async with db_sessionmaker() as s:  # the end of the run saved what it learned
            saved = await dialer_repo.load_pacing(s, campaign.id)
        assert saved is not None and saved["estimates"] == taught["estimates"]

        async with db_sessionmaker() as s:  # and starts it again
            await repo.change_state(s, campaign.id, State.PAUSED, State.RUNNING)
        await dialer.sync()
        second = dialer.runners[campaign.id]
        assert second is not first
        await asyncio.wait_for(second.ready(), 5)
        # What the first run learned, not a new pacer that dials progressively.
        assert second.pacer.state()["estimates"] == taught["estimates"]
        assert second.pacer.estimates.answers.count == 400
    finally:
        await dialer.close()
