"""A running campaign follows its PATCHed settings, on the real PostgreSQL with a fake
live core: the dialer hands them to the campaign's runner, which paces its next tick by
them (an abandon target lowered for a stricter seller, a switch to progressive when the
supervisor wants no over-dialing), and a switch to preview stops it dialing; a seat list
changed while it runs goes to its skill group.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.outbound.dialer import Dialer
from dialer.pacing import Mode
from tests.support.dialer_core import FakeLive, spawner, stored_campaign


async def test_a_running_campaign_paces_by_its_patched_settings(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    campaign = await stored_campaign(db_sessionmaker, "patched")
    tasks: set[asyncio.Task[None]] = set()
    dialer = Dialer(cast(Any, FakeLive()), db_sessionmaker, DialerSettings(tick_seconds=0.05),
                    "node1", spawner(tasks))
    try:
        await dialer.sync()
        runner = dialer.runners[campaign.id]
        await asyncio.wait_for(runner.ready(), 5)
        assert (runner.pacing.mode, runner.pacing.target) == (Mode.PREDICTIVE, 0.03)

        async with db_sessionmaker() as s:
            await repo.update_campaign(s, campaign.id, {"abandon_target": 0.02})
        await dialer.sync()
        assert dialer.runners[campaign.id] is runner  # the same run goes on
        assert runner.pacing.target == 0.02 and runner.campaign.abandon_target == 0.02
        await asyncio.sleep(0.2)  # a few ticks: the pacer is asked with the new target
        assert runner.status().abandon_target == 0.02

        async with db_sessionmaker() as s:
            await repo.update_campaign(s, campaign.id, {"mode": "progressive"})
        await dialer.sync()
        assert runner.pacing.mode is Mode.PROGRESSIVE and runner.status().mode == "progressive"

        async with db_sessionmaker() as s:  # agents dial a preview campaign's leads
            await repo.update_campaign(s, campaign.id, {"mode": "preview"})
        await dialer.sync()
        assert not runner.dialing
        await asyncio.wait_for(runner.ended(), 5)  # nothing in flight: the run ends
        await dialer.sync()
        assert campaign.id not in dialer.runners
    finally:
        await dialer.close()


async def test_a_running_seat_list_campaign_follows_its_patched_seats(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Seats added to a running campaign join its group, seats taken off leave it: both
    waited for a pause and a start before (and a seat taken off never left)."""
    campaign = await stored_campaign(db_sessionmaker, "seats", seats=["1001", "1002"])
    staffed: list[tuple[int, list[str]]] = []

    async def seat_group(campaign_id: int, seats: Sequence[str]) -> str:
        staffed.append((campaign_id, list(seats)))
        return f"campaign-{campaign_id}"

    tasks: set[asyncio.Task[None]] = set()
    dialer = Dialer(cast(Any, FakeLive()), db_sessionmaker, DialerSettings(tick_seconds=0.05),
                    "node1", spawner(tasks), seat_group=seat_group)
    try:
        await dialer.sync()
        runner = dialer.runners[campaign.id]
        assert staffed == [(campaign.id, ["1001", "1002"])]
        assert runner.campaign.skill_group == f"campaign-{campaign.id}"

        await dialer.sync()  # nothing changed: the group is left as it is
        async with db_sessionmaker() as s:
            await repo.update_campaign(s, campaign.id, {"abandon_target": 0.02})
        await dialer.sync()
        assert len(staffed) == 1

        async with db_sessionmaker() as s:
            await repo.update_campaign(s, campaign.id, {}, ["1002", "1003"])
        await dialer.sync()
        assert staffed[-1] == (campaign.id, ["1002", "1003"])
        assert dialer.runners[campaign.id] is runner  # the same run goes on
        assert runner.campaign.seats == ("1002", "1003")
        assert runner.campaign.skill_group == f"campaign-{campaign.id}"
    finally:
        await dialer.close()
