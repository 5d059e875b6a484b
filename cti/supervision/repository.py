"""The supervision audit table: sessions as frozen records, written by the service only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import cast, literal, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.supervision_models import SupervisionSession


@dataclass(frozen=True, slots=True)
class SessionRecord:
    id: str
    call_id: str
    node: str
    supervisor: str
    phone_seat_id: str
    agent_seat_id: str
    agent_channel: str
    spy_channel_id: str
    mode: str
    mode_changes: list[dict[str, Any]]
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    duration_seconds: int | None


def _record(row: SupervisionSession) -> SessionRecord:
    return SessionRecord(
        id=row.id, call_id=row.call_id, node=row.node, supervisor=row.supervisor,
        phone_seat_id=row.phone_seat_id, agent_seat_id=row.agent_seat_id,
        agent_channel=row.agent_channel, spy_channel_id=row.spy_channel_id, mode=row.mode,
        mode_changes=list(row.mode_changes), started_at=row.started_at,
        ended_at=row.ended_at, end_reason=row.end_reason,
        duration_seconds=row.duration_seconds,
    )


def at(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


async def insert(session: AsyncSession, record: SessionRecord) -> None:
    session.add(SupervisionSession(
        id=record.id, call_id=record.call_id, node=record.node, supervisor=record.supervisor,
        phone_seat_id=record.phone_seat_id, agent_seat_id=record.agent_seat_id,
        agent_channel=record.agent_channel, spy_channel_id=record.spy_channel_id,
        mode=record.mode, mode_changes=record.mode_changes, started_at=record.started_at,
    ))
    await session.commit()


async def get(session: AsyncSession, session_id: str) -> SessionRecord | None:
    row = await session.get(SupervisionSession, session_id, populate_existing=True)
    return None if row is None else _record(row)


async def for_call(session: AsyncSession, call_id: str) -> list[SessionRecord]:
    rows = await session.scalars(
        select(SupervisionSession)
        .where(SupervisionSession.call_id == call_id)
        .order_by(SupervisionSession.started_at, SupervisionSession.id)
    )
    return [_record(r) for r in rows]


async def open_sessions(session: AsyncSession) -> list[SessionRecord]:
    rows = await session.scalars(
        select(SupervisionSession).where(SupervisionSession.ended_at.is_(None))
    )
    return [_record(r) for r in rows]


async def set_mode(session: AsyncSession, session_id: str, mode: str,
                   change: dict[str, Any]) -> bool:
    """Record a mode change of an open session (False if it had ended meanwhile)."""
    result = await session.execute(
        update(SupervisionSession)
        .where(SupervisionSession.id == session_id, SupervisionSession.ended_at.is_(None))
        .values(mode=mode, mode_changes=SupervisionSession.mode_changes.op("||")(
            _jsonb_list(change)))
    )
    await session.commit()
    return bool(getattr(result, "rowcount", 0))


def _jsonb_list(item: dict[str, Any]) -> Any:
    return cast(literal([item], JSONB), JSONB)


async def end(session: AsyncSession, session_id: str, ended_at: datetime, reason: str,
              duration: int) -> bool:
    """End an open session; the first end recorded wins (False if already ended)."""
    result = await session.execute(
        update(SupervisionSession)
        .where(SupervisionSession.id == session_id, SupervisionSession.ended_at.is_(None))
        .values(ended_at=ended_at, end_reason=reason, duration_seconds=duration)
    )
    await session.commit()
    return bool(getattr(result, "rowcount", 0))
