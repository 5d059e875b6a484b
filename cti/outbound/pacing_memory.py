"""What a campaign's pacer has learned, kept in PostgreSQL between its runs.

A new runner (after a pause, a restart, a deploy) takes back its campaign's pacer before
its first tick instead of dialing progressively while it relearns the answer and handle
times and the abandon-rate loop. Nothing is kept in memory between runs: a pacer holds
megabytes of lookup tables, and a service runs campaign after campaign for months.

One row per campaign (``campaign_pacing``, JSONB), replaced at each save. A state that
is damaged or from another release's ``STATE_VERSION`` is refused whole and the campaign
relearns. A store that could not be read has not said what it kept, so nothing is saved
over it until it has: days of learning outweigh the minutes a new pacer has seen.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db import dialer_repository as repo
from dialer.pacing import Pacer

log = logging.getLogger(__name__)


class PacingMemory:
    """One campaign's saved pacer: taken back at the start of a run, saved on a cadence."""

    def __init__(self, campaign_id: int, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], float], every: float) -> None:
        self._campaign_id = campaign_id
        self._sessions = sessionmaker
        self._clock = clock
        self._every = every
        #: Whether the store has answered what it kept (a state, none, or one refused).
        self.read = False
        #: Clock time of the last save in this run (None: none yet).
        self.saved_at: float | None = None
        self._since = clock()  # of the last save, or of the start: the cadence's origin

    def due(self) -> bool:
        """Whether a cadence save is due: a crash loses at most `every` seconds."""
        return self._clock() - self._since >= self._every

    async def recall(self) -> Pacer | None:
        """The campaign's saved pacer, or None: nothing saved, a state refused, or the
        store unreadable (then `read` stays False and the next `keep` asks again)."""
        cid = self._campaign_id
        try:
            async with self._sessions() as session:
                state = await repo.load_pacing(session, cid)
        except Exception as exc:
            log.warning("campaign %d: could not read its saved pacing, learning afresh "
                        "until it can: %s", cid, exc)
            return None
        self.read = True
        self._since = self._clock()
        if state is None:
            log.info("campaign %d: no saved pacing, learning from its first dials", cid)
            return None
        try:
            pacer = Pacer.restored(state)
        except ValueError as exc:
            log.warning("campaign %d: saved pacing refused (%s), learning afresh", cid, exc)
            return None
        answers = pacer.estimates.answers
        log.info("campaign %d: pacing restored: %d dials seen, live-answer rate %.1f%%",
                 cid, answers.count, 100 * answers.p_live())
        return pacer

    async def keep(self, pacer: Pacer) -> Pacer:
        """Save `pacer` and return the pacer to go on with: `pacer`, unless the store,
        unreadable until now, kept one, which is taken back (and saved) instead."""
        if not self.read:
            kept = await self.recall()
            if not self.read:
                return pacer  # still unreadable: nothing may be saved over it
            if kept is not None:
                log.info("campaign %d: the saved pacing replaces the one learning since "
                         "the start of the run", self._campaign_id)
                pacer = kept
        now = self._clock()
        try:
            async with self._sessions() as session:
                await repo.save_pacing(session, self._campaign_id, pacer.state(),
                                       datetime.fromtimestamp(now, UTC))
            self.saved_at = self._since = now
        except Exception as exc:
            log.warning("campaign %d: could not save its pacing: %s", self._campaign_id, exc)
        return pacer
