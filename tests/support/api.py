"""The app over the real PostgreSQL, without Asterisk: what a fresh installation has (its
skill groups, seats 1001 and 1002 as Asterisk reported them) and one HTTP client per
caller, each with its own token."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.app import create_app
from cti.config import Settings
from cti.db import inbound_repository as inbound_repo
from cti.db import repositories
from cti.telephony.defaults import default_config
from tests.unit._api_fakes import FakeLiveView

#: A supervisor, an admin, and an agent at seat 1001.
ROLES: Mapping[str, tuple[str, str | None]] = {
    "agent": ("agent", "1001"), "supervisor": ("supervisor", None), "admin": ("admin", None)}


@asynccontextmanager
async def api_clients(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings,
    people: Mapping[str, tuple[str, str | None]] = ROLES,
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """`people`: name -> (role, seat) of each caller; the clients by those names."""
    app = create_app(settings, live=FakeLiveView(), sessionmaker=sessionmaker, health=[])
    clients: dict[str, httpx.AsyncClient] = {}
    async with sessionmaker() as session:
        for group in default_config().groups.values():
            await inbound_repo.insert_group(session, group, "node1")
        for seat in ("1001", "1002"):
            await repositories.upsert_seat(session, seat, node="node1",
                                           interface=f"PJSIP/{seat}")
        await session.commit()
        for who, (role, seat) in people.items():
            token = await repositories.create_token(session, who, role, "test", seat_id=seat)
            clients[who] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test",
                headers={"Authorization": f"Bearer {token}"})
    try:
        yield clients
    finally:
        for c in clients.values():
            await c.aclose()
        await app.state.imports.close()
