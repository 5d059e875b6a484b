"""The sweep on a schedule inside the service, and the start-up sync of stereo markers."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.tasks import Background
from recordings import repository as repo
from recordings.storage import RecordingDirs
from recordings.sweep import Sweeper

log = logging.getLogger(__name__)


class SweepSchedule:
    """Runs the sweep ``first_delay`` seconds after start, then every ``interval``.
    A failed sweep (the database down) is logged and tried again at the next tick; a
    half-done batch is finished by that next sweep."""

    def __init__(self, sweeper: Sweeper, *, interval: float, first_delay: float) -> None:
        self._sweeper = sweeper
        self._interval = interval
        self._first_delay = first_delay
        self._task = Background("recordings-sweep", self._loop)
        self.runs = 0

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._sweeper.run(trigger="schedule")
                self.runs += 1
            except Exception:
                log.exception("scheduled recording sweep failed; next try in %.0f s",
                              self._interval)
            await asyncio.sleep(self._interval)


async def sync_stereo_markers(
    sessionmaker: async_sessionmaker[AsyncSession], dirs: RecordingDirs
) -> None:
    """Make the dialplan's stereo markers say what the database says (after a restart,
    or an edit that committed while the marker write failed)."""
    async with sessionmaker() as s:
        wanted = {p.key for p in await repo.policies(s) if p.stereo}
    present = await asyncio.to_thread(dirs.stereo_keys)
    for key in wanted - present:
        await asyncio.to_thread(dirs.set_stereo, key, True)
    for key in present - wanted:
        await asyncio.to_thread(dirs.set_stereo, key, False)
    if wanted != present:
        log.info("stereo recording markers synced: %s", sorted(wanted))
