"""Voicemail and hold-music services (issue 3), built from settings and the node's AMI
connection, and the dependency the two routers use to reach them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.connection import AmiConnection
from cti.api.moh_service import MohService
from cti.api.store import Store
from cti.api.voicemail_service import VoicemailService
from cti.config import Settings
from cti.telephony.files import AsteriskFiles
from cti.telephony.voicemail import VoicemailSpool


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
