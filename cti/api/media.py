"""Voicemail and hold-music services (issue 3), built from settings and the node's AMI
connection, and the dependency the two routers use to reach them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.connection import AmiConnection
from cti.api.moh_service import MohService
from cti.api.store import Store
from cti.api.voicemail_service import VoicemailService
from cti.config import Settings
from cti.domain.events import DomainEvent, NodeConnectionChanged
from cti.tasks import Background
from cti.telephony.files import AsteriskFiles
from cti.telephony.voicemail import VoicemailSpool

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MediaServices:
    voicemail: VoicemailService
    moh: MohService


def media_node(settings: Settings) -> str:
    """The node whose files ``settings.asterisk`` describes (default: the first)."""
    return settings.media.node or settings.ami.nodes[0].name


def build_media(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession],
                connections: Mapping[str, AmiConnection]) -> MediaServices:
    """``connections`` is read at each use: the runtime's map of live connections."""
    node = media_node(settings)
    files = AsteriskFiles(settings.asterisk)
    context = settings.media.voicemail_context

    def connection() -> AmiConnection | None:
        return connections.get(node)

    spool = VoicemailSpool(files.voicemail_dir(context), context)
    return MediaServices(
        voicemail=VoicemailService(spool, Store(sessionmaker), connection, node),
        moh=MohService(sessionmaker, files, settings.media, connection, node),
    )


def media(request: Request) -> MediaServices:
    found: MediaServices = request.app.state.media
    return found


class MohResync:
    """Re-applies the hold music each time the media node's AMI connection comes (back)
    up: a change made while it was unreachable, or an Asterisk that restarted, is then
    reloaded. A bus subscriber only wakes the one owned task; the task does the work."""

    def __init__(self, moh: MohService, node: str) -> None:
        self._moh = moh
        self._node = node
        self._wake = asyncio.Event()
        self._task = Background("moh-resync", self._run)
        self.runs = 0

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        if any(isinstance(e, NodeConnectionChanged) and e.connected and e.node == self._node
               for e in events):
            self._wake.set()

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                applied = await self._moh.reapply()
                self.runs += 1
                log.info("music on hold re-applied on %s: %s", self._node, applied)
            except Exception:  # the database may be down: the next reconnect retries
                log.exception("music on hold: re-apply on %s failed", self._node)
