"""A campaign's dialer without Asterisk: a fake live core with one free agent that must
never be dialed, campaigns written straight to PostgreSQL, and a task spawner.

For the tests of what the runner and the dialer do around the calls (the pacing they keep
and take back, the settings they follow): tests/integration/test_pacing_memory.py and
test_dialer_sync.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.events import AmiEvent
from cti.db import campaign_repository as repo
from cti.db.campaign_records import CampaignRecord
from cti.domain.model import Seat, SeatState, SkillGroup, SkillGroupMember
from cti.tracker.tracker import OutboundIntent
from dialer.campaign import State, cadences_to_json, delays_to_json, windows_to_json
from dialer.schedule import DEFAULT_CADENCES, DEFAULT_RETRY_DELAYS, DEFAULT_WINDOWS


class FakeLive:
    """One agent, free, in the campaign's group; nothing is ever dialed (no leads)."""

    def __init__(self) -> None:
        member = SkillGroupMember("1001", "PJSIP/1001", 0, False, None, 1, 0, 0)
        self.group = SkillGroup("sales", "node1", members={"1001": member})
        self.seat = Seat("1001", "node1", "PJSIP/1001", SeatState.AVAILABLE,
                         skill_groups=frozenset({"sales"}), since=time.time())

    def seats(self) -> dict[str, Seat]:
        return {"1001": self.seat}

    def skill_groups(self) -> dict[str, SkillGroup]:
        return {"sales": self.group}

    def connection(self, node: str) -> Any:
        raise AssertionError("nothing should be dialed")

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def tap(self, event_name: str, listener: Callable[[str, AmiEvent, float], None]) -> None:
        ...

    def channel_live(self, node: str, uniqueid: str) -> bool | None:
        return False  # synced, and no call up: nothing was dialed


async def stored_campaign(maker: async_sessionmaker[AsyncSession], name: str = "memory",
                          running: bool = True, seats: Sequence[str] = ()) -> CampaignRecord:
    """A predictive campaign of the group ``sales``, or of `seats` when given (running
    unless told otherwise)."""
    values = {
        "name": name, "mode": "predictive", "caller_id": "4008001234",
        "skill_group": None if seats else "sales", "default_region": "CN",
        "default_timezone": "Asia/Shanghai",
        "windows": windows_to_json(DEFAULT_WINDOWS), "max_attempts": 3,
        "retry_delays": delays_to_json(DEFAULT_RETRY_DELAYS),
        "grade_cadences": cadences_to_json(DEFAULT_CADENCES), "cap_per_day": 1,
        "cap_per_week": 3,
    }
    async with maker() as s:
        campaign = await repo.create_campaign(s, values, list(seats))
        if not running:
            return campaign
        started = await repo.change_state(s, campaign.id, State.DRAFT, State.RUNNING)
    assert started is not None
    return started


def spawner(tasks: set[asyncio.Task[None]]) -> Callable[[Coroutine[Any, Any, None]], None]:
    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    return spawn
