"""Preview mode: the agent is handed the next lead, reads it, then dials it or skips it.

A campaign in preview mode places no calls by itself (the dialer runs no runner for it).
Each agent of the campaign asks for the next lead; the service picks the next due lead
the compliance gate allows and holds it for that seat (`campaign_repository.preview_lead`)
so that no other agent is handed it. The agent dials it through click-to-dial, which
counts it as the lead's attempt and lets only the holding seat dial it before the hold
ends, or skips it, which puts it back behind the leads already due.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.campaign_schemas import PreviewOut
from cti.api.errors import Conflict, NotFound
from cti.api.outbound_service import lead_out
from cti.api.sessions import db_session
from cti.db import campaign_repository as repo
from cti.db.campaign_records import CampaignRecord
from dialer.campaign import State

log = logging.getLogger(__name__)


class PreviewService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._clock = clock

    async def _campaign(self, session: AsyncSession, campaign_id: int, seat_id: str
                        ) -> CampaignRecord:
        campaign = await repo.get_campaign(session, campaign_id)
        if campaign is None:
            raise NotFound("campaign", str(campaign_id))
        if campaign.mode != "preview":
            raise Conflict(f"the campaign dials by itself ({campaign.mode} mode): its agents "
                           "are connected to answered calls, not handed leads",
                           details={"mode": campaign.mode})
        if campaign.state != State.RUNNING.value:
            raise Conflict(f"the campaign is {campaign.state}: its leads are handed out "
                           "while it runs", details={"state": campaign.state})
        if not await repo.works_campaign(session, campaign, seat_id):
            raise Conflict(f"seat {seat_id} does not work this campaign (its seats, or the "
                           "members of its skill group)", details={"seat": seat_id})
        return campaign

    async def next(self, campaign_id: int, seat_id: str) -> PreviewOut:
        """The lead held for `seat_id`, or the next one, held for it now."""
        now = self._clock()
        async with db_session(self._sessions) as session:
            campaign = await self._campaign(session, campaign_id, seat_id)
            await session.commit()  # end the read: the pick takes its own locks
            lead, put_off = await repo.preview_lead(session, campaign, seat_id, now)
        return PreviewOut(
            campaign_id=campaign.id, campaign_name=campaign.name, script=campaign.script,
            seat=seat_id,
            # Allowed by the gate when it was picked; the dial checks it again.
            lead=None if lead is None else lead_out(lead, [], lead.status(now)),
            held_until=None if lead is None else lead.previewed_until, put_off=put_off,
        )

    async def skip(self, campaign_id: int, lead_id: int, seat_id: str) -> None:
        async with db_session(self._sessions) as session:
            await self._campaign(session, campaign_id, seat_id)
            await session.commit()
            released = await repo.release_preview(session, campaign_id, lead_id, seat_id,
                                                  self._clock())
        if not released:
            raise NotFound("previewed lead", f"{lead_id} of seat {seat_id}")
        log.info("campaign %d: seat %s skipped lead %d", campaign_id, seat_id, lead_id)
