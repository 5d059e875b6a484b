"""Helpers for the API unit tests: an in-memory LiveView and an app wired to fakes.

The LiveView is our own read interface, so a dict-backed one is a faithful stand-in.
The database is not faked: unit tests that need no DB get a sessionmaker pointing at a
closed port (any DB use answers 503); tests with data live in tests/integration.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cti.api.app import create_app
from cti.api.auth import Authenticator, Caller, Role
from cti.api.routes.deps import Services
from cti.api.schemas import CallOut, TimelineEntryOut
from cti.api.services import CallService, HealthService, SeatService, SkillGroupService
from cti.api.store import CallFilter, ConfiguredSeat, ConfiguredSkillGroup
from cti.config import Settings
from cti.domain.model import Call, Seat, SkillGroup
from cti.health import ComponentStatus, HealthReporter
from cti.history.pending import PendingCalls

TOKENS = {
    "agent-token": Caller(user_id=1, username="alice", role=Role.AGENT, seat_id="1001"),
    "supervisor-token": Caller(user_id=2, username="bob", role=Role.SUPERVISOR, seat_id=None),
    "admin-token": Caller(user_id=3, username="root", role=Role.ADMIN, seat_id=None),
    "seatless-agent-token": Caller(user_id=4, username="carol", role=Role.AGENT, seat_id=None),
}


def bearer(token: str = "agent-token") -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class FakeLiveView:
    seat_map: dict[str, Seat] = field(default_factory=dict)
    group_map: dict[str, SkillGroup] = field(default_factory=dict)
    call_map: dict[str, Call] = field(default_factory=dict)

    def seats(self) -> Mapping[str, Seat]:
        return self.seat_map

    def skill_groups(self) -> Mapping[str, SkillGroup]:
        return self.group_map

    def active_calls(self) -> Mapping[str, Call]:
        return self.call_map


@dataclass
class StaticHealth:
    status: ComponentStatus

    def health(self) -> ComponentStatus:
        return self.status


def unreachable_sessionmaker() -> async_sessionmaker[AsyncSession]:
    """Sessions whose first query fails at once: nothing listens on port 1."""
    engine = create_async_engine("postgresql+asyncpg://cti@127.0.0.1:1/cti", pool_size=1)
    return async_sessionmaker(engine, expire_on_commit=False)


async def lookup(token: str) -> Caller | None:
    return TOKENS.get(token)


def make_app(
    live: FakeLiveView | None = None,
    health: list[HealthReporter] | None = None,
    sessionmaker: async_sessionmaker[AsyncSession] | None = None,
    *,
    fake_tokens: bool = True,
) -> FastAPI:
    app = create_app(
        Settings(environment="test"),
        live=live or FakeLiveView(),
        sessionmaker=sessionmaker or unreachable_sessionmaker(),
        health=health or [],
    )
    if fake_tokens:
        # The token store is PostgreSQL; here the authenticator asks a dict instead.
        app.state.authenticator = Authenticator(lookup)
    return app


class FakeHistory:
    """Stands in for :class:`cti.api.store.Store` in service-logic tests.

    It answers the same questions over lists (newest first), so the merge and pagination
    rules of the services can be checked without a database; the same rules run against
    PostgreSQL in tests/integration/test_api_db.py.
    """

    def __init__(
        self,
        calls: list[CallOut] | None = None,
        timelines: dict[str, list[TimelineEntryOut]] | None = None,
        seats: list[ConfiguredSeat] | None = None,
        skill_groups: list[ConfiguredSkillGroup] | None = None,
    ) -> None:
        self._calls = calls or []
        self._timelines = timelines or {}
        self._seats = seats or []
        self._groups = skill_groups or []
        self.requests: list[tuple[frozenset[str], int, int]] = []

    def write(self, call: CallOut) -> None:
        """The history writer commits ``call`` (replacing the row it had, if any)."""
        self._calls = [c for c in self._calls if c.id != call.id] + [call]

    def add_timeline(self, call_id: str, entry: TimelineEntryOut) -> None:
        """The history writer commits one timeline entry (history keeps them by time)."""
        timeline = [*self._timelines.get(call_id, []), entry]
        self._timelines[call_id] = sorted(timeline, key=lambda e: e.at)

    async def calls(
        self, where: CallFilter, *, exclude_ids: Collection[str], limit: int, offset: int
    ) -> tuple[list[CallOut], int]:
        self.requests.append((frozenset(exclude_ids), limit, offset))
        rows = [
            c
            for c in sorted(self._calls, key=lambda c: (c.started_at, c.id), reverse=True)
            if c.id not in exclude_ids
            and (where.customer_number is None or c.customer_number == where.customer_number)
            and (where.seat_id is None or c.seat_id == where.seat_id)
            and (where.since is None or c.started_at >= where.since)
            and (where.until is None or c.started_at < where.until)
        ]
        return rows[offset : offset + limit], len(rows)

    async def call(self, call_id: str) -> CallOut | None:
        return next((c for c in self._calls if c.id == call_id), None)

    async def timeline(self, call_id: str) -> list[TimelineEntryOut]:
        return self._timelines.get(call_id, [])

    async def seats(self) -> list[ConfiguredSeat]:
        return self._seats

    async def skill_groups(self) -> list[ConfiguredSkillGroup]:
        return self._groups


def with_history(
    app: FastAPI, live: FakeLiveView, history: FakeHistory, pending: PendingCalls | None = None
) -> FastAPI:
    """Rewire the app's services onto ``history`` instead of PostgreSQL."""
    store: Any = history
    app.state.services = Services(
        seats=SeatService(live, store),
        skill_groups=SkillGroupService(live, store),
        calls=CallService(live, store, pending),
        health=HealthService([]),
    )
    return app
