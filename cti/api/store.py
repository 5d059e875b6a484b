"""The API's only door to PostgreSQL: sessions, repository calls, record conversion.

Each method opens its own short session, calls one repository function and converts the
repository's frozen records into API schemas. Failures to reach the database (connection refused,
timeouts, pool exhausted) become :class:`cti.api.errors.Unavailable` (503) here, so that
services and routes never see SQLAlchemy.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller, Role
from cti.api.schemas import CallOut, TimelineEntryOut, as_utc
from cti.api.sessions import db_session
from cti.db import repositories
from cti.db.models import CallRow
from cti.domain.model import CallDirection, CallState

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallFilter:
    customer_number: str | None = None
    seat_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class ConfiguredSeat:
    id: str
    node: str
    interface: str
    display_name: str | None


@dataclass(frozen=True, slots=True)
class ConfiguredSkillGroup:
    name: str
    node: str
    display_name: str | None
    penalties: dict[str, int]  # seat id -> configured penalty (skill level)
    voicemail_box: str | None = None  # None: the group's name

    @property
    def box(self) -> str:
        """The voicemail box the group's callers leave messages in (as
        :attr:`cti.telephony.inbound.GroupSettings.box`, which the dialplan uses)."""
        return self.voicemail_box or self.name


class Store:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        self._sessionmaker = sessionmaker

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return db_session(self._sessionmaker)

    async def authenticate(self, token: str) -> Caller | None:
        async with self._session() as session:
            principal = await repositories.authenticate(session, token)
        if principal is None:
            return None
        return Caller(
            user_id=principal.user_id,
            username=principal.username,
            role=Role(principal.role),
            seat_id=principal.seat_id,
            token_id=principal.token_id,
        )

    async def calls(
        self,
        where: CallFilter,
        *,
        exclude_ids: Collection[str],
        limit: int,
        offset: int,
    ) -> tuple[list[CallOut], int]:
        """One page of history without ``exclude_ids``, and its total.

        Calls started in ``[since, until)``, newest first (``started_at``, then ``id``).
        """
        async with self._session() as session:
            return await _calls_excluding(session, where, exclude_ids, limit, offset)

    async def call(self, call_id: str) -> CallOut | None:
        async with self._session() as session:
            record = await repositories.get_call(session, call_id)
        return None if record is None else _call_out(record)

    async def timeline(self, call_id: str) -> list[TimelineEntryOut]:
        async with self._session() as session:
            events = await repositories.call_timeline(session, call_id)
        return [
            TimelineEntryOut.from_history(e.kind, e.at, e.seat_id, e.skill_group, e.detail)
            for e in events
        ]

    async def seats(self) -> list[ConfiguredSeat]:
        async with self._session() as session:
            records = await repositories.list_seats(session)
        return [
            ConfiguredSeat(id=r.id, node=r.node, interface=r.interface, display_name=r.display_name)
            for r in records
        ]

    async def skill_groups(self) -> list[ConfiguredSkillGroup]:
        async with self._session() as session:
            records = await repositories.list_skill_groups(session)
        return [
            ConfiguredSkillGroup(
                name=r.name,
                node=r.node,
                display_name=r.display_name,
                penalties={m.seat_id: m.penalty for m in r.members},
                voicemail_box=r.voicemail_box,
            )
            for r in records
        ]


def _call_out(r: repositories.CallRecord | CallRow) -> CallOut:
    started = as_utc(r.started_at)
    assert started is not None
    return CallOut(
        id=r.id,
        node=r.node,
        linkedid=r.linkedid,
        direction=CallDirection(r.direction),
        state=CallState(r.state) if r.ended_at is None else CallState.ENDED,
        active=False,
        customer_number=r.customer_number,
        started_at=started,
        skill_group=r.skill_group,
        seat_id=r.seat_id,
        queued_at=as_utc(r.queued_at),
        answered_at=as_utc(r.answered_at),
        ended_at=as_utc(r.ended_at),
        wait_seconds=r.wait_seconds,
        talk_seconds=r.talk_seconds,
        hangup_cause=r.hangup_cause,
        abandoned=r.abandoned,
    )


async def _calls_excluding(
    session: AsyncSession,
    where: CallFilter,
    exclude_ids: Collection[str],
    limit: int,
    offset: int,
) -> tuple[list[CallOut], int]:
    """``repositories.list_calls`` plus ``id NOT IN exclude_ids``, in the database.

    The exclusion has to happen in SQL for ``total`` and the page to be exact when a live
    call is also in history. TODO(db): move into ``repositories.list_calls`` as an
    ``exclude_ids`` parameter and call that instead; same filters, same order.
    """
    conditions: list[ColumnElement[bool]] = []
    if where.customer_number is not None:
        conditions.append(CallRow.customer_number == where.customer_number)
    if where.seat_id is not None:
        conditions.append(CallRow.seat_id == where.seat_id)
    if where.since is not None:
        conditions.append(CallRow.started_at >= where.since)
    if where.until is not None:
        conditions.append(CallRow.started_at < where.until)
    if exclude_ids:
        conditions.append(CallRow.id.not_in(sorted(exclude_ids)))
    total = await session.scalar(select(func.count()).select_from(CallRow).where(*conditions))
    rows = await session.scalars(
        select(CallRow)
        .where(*conditions)
        .order_by(CallRow.started_at.desc(), CallRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_call_out(row) for row in rows], int(total or 0)
