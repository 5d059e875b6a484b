"""A campaign's own abandon (information) message, recorded by the call centre.

``PUT /v1/campaigns/{id}/abandon-message`` takes a WAV, checks it (:mod:`cti.telephony.
prompt_wav`: what Asterisk plays, and nothing else), stores it where Asterisk reads it
(:class:`cti.telephony.sounds.SoundLibrary`, replaced atomically) as the uploaded prompt
``cti/campaigns/abandon-<id>``, and points the campaign at it; ``DELETE`` points the
campaign back at the service's default. Runners read the campaign every couple of
seconds, so calls placed from then on carry the new message.

The file stays when the campaign goes back to the default: a call placed just before
may still reach Playback with its name, and must not find it gone. The next upload
replaces it in place. A refused upload changes nothing.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.campaign_schemas import CampaignOut
from cti.api.campaign_service import campaign_out
from cti.api.errors import ApiError, InvalidInput, NotFound, Unavailable
from cti.api.sessions import db_session
from cti.db import campaign_repository as repo
from cti.telephony.prompt_wav import PromptRejected, check_prompt
from cti.telephony.sounds import UPLOADED, SoundLibrary

log = logging.getLogger(__name__)


def uploaded_name(campaign_id: int) -> str:
    """The sound name of a campaign's uploaded message (one per campaign)."""
    return f"{UPLOADED}campaigns/abandon-{campaign_id}"


def audio_rejected(exc: PromptRejected) -> ApiError:
    """A 422 naming the body and why (``details.reason``: a stable code)."""
    error = InvalidInput("body", exc.message, location="body")
    error.details["reason"] = exc.reason
    return error


class AbandonMessageService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], sounds: SoundLibrary,
                 *, max_seconds: int) -> None:
        self._sessions = sessionmaker
        self._sounds = sounds
        self.max_seconds = max_seconds
        # One writer at a time: an upload at 8 kHz and one at 16 kHz each remove the
        # other rate's file, and interleaved they could remove both.
        self._lock = asyncio.Lock()

    async def upload(self, campaign_id: int, data: bytes) -> CampaignOut:
        try:
            prompt = check_prompt(data, max_seconds=self.max_seconds)
        except PromptRejected as exc:
            raise audio_rejected(exc) from exc
        name = uploaded_name(campaign_id)
        async with self._lock, db_session(self._sessions) as session:
            if await repo.get_campaign(session, campaign_id) is None:
                raise NotFound("campaign", str(campaign_id))
            await session.commit()  # end the read; the update below commits on its own
            try:
                path = await asyncio.to_thread(self._sounds.store, name, prompt)
            except OSError as exc:
                log.error("campaign %d: abandon message not stored: %s", campaign_id, exc)
                raise Unavailable("the Asterisk node's sound directory") from exc
            record = await repo.update_campaign(session, campaign_id,
                                                {"abandon_message": name})
        if record is None:
            raise NotFound("campaign", str(campaign_id))
        log.info("campaign %d: abandon message uploaded (%.1f s at %d Hz) to %s",
                 campaign_id, prompt.seconds, prompt.rate, path)
        return campaign_out(record)

    async def reset(self, campaign_id: int) -> CampaignOut:
        async with db_session(self._sessions) as session:
            record = await repo.update_campaign(session, campaign_id, {"abandon_message": None})
        if record is None:
            raise NotFound("campaign", str(campaign_id))
        log.info("campaign %d: abandon message back to the service's default", campaign_id)
        return campaign_out(record)
