"""Which seats and skill groups exist, for what refers to them by name.

A seat exists when Asterisk reports it (the live mirror) or PostgreSQL has it registered
(`PUT /v1/seats/{id}`, or seen on an earlier connect); a skill group when Asterisk has
its queue or PostgreSQL configures it. Campaigns are checked against this when they are
stored and when they start: a mistyped seat or group used to give a campaign that said
"running" and never dialed.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.sessions import db_session
from cti.db import inbound_repository, repositories
from cti.domain.view import LiveView


class Directory:
    def __init__(self, live: LiveView, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._live = live
        self._sessions = sessionmaker

    async def unknown_seats(self, seat_ids: Sequence[str]) -> list[str]:
        """`seat_ids` that no one knows, in the order given."""
        live = self._live.seats()
        asked = [s for s in dict.fromkeys(seat_ids) if s not in live]
        if not asked:
            return []
        async with db_session(self._sessions) as session:
            registered = await repositories.registered_seats(session, asked)
        return [s for s in asked if s not in registered]

    async def has_group(self, name: str) -> bool:
        if name in self._live.skill_groups():
            return True
        async with db_session(self._sessions) as session:
            return await inbound_repository.get_group(session, name) is not None
