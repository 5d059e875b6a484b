"""Outbound dials as records to search: every dial attempt (a campaign's or a
click-to-dial), with its campaign, its lead's free fields and what the agent recorded.

REQUIREMENTS (the mobile operator's guideline, item 4): "telemarketing records can be
searched by customer", by number or by what the lead says about them (a name).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.campaign_models import Campaign, DialAttempt, Disposition, LeadRow
from cti.db.campaign_records import AttemptRecord, DispositionEntry
from cti.db.lead_views import customer_is


@dataclass(frozen=True, slots=True)
class DialQuery:
    """Which dials: every given field must match."""

    phone: str | None = None  # E.164
    customer: str | None = None  # in any of the lead's free fields, any case
    campaign_id: int | None = None
    lead_id: int | None = None
    seat_id: str | None = None
    outcome: str | None = None
    disposition: str | None = None  # a disposition code recorded on the call
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before


def _where(query: DialQuery) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if query.phone is not None:
        where.append(DialAttempt.phone == query.phone)
    if query.campaign_id is not None:
        where.append(DialAttempt.campaign_id == query.campaign_id)
    if query.lead_id is not None:
        where.append(DialAttempt.lead_id == query.lead_id)
    if query.seat_id is not None:
        where.append(DialAttempt.seat_id == query.seat_id)
    if query.outcome is not None:
        where.append(DialAttempt.outcome == query.outcome)
    if query.since is not None:
        where.append(DialAttempt.started_at >= query.since)
    if query.until is not None:
        where.append(DialAttempt.started_at < query.until)
    if query.disposition is not None:
        where.append(exists().where(Disposition.call_id == DialAttempt.call_id,
                                    Disposition.code == query.disposition))
    if query.customer is not None:
        where.extend(customer_is(query.customer))
    return where


async def search(
    session: AsyncSession, query: DialQuery, *, limit: int, offset: int,
    newest_first: bool = True,
) -> tuple[list[AttemptRecord], int]:
    """The dials matching `query` (newest first, or oldest first), and how many match."""
    where = _where(query)
    base = (select(DialAttempt, Campaign.name, LeadRow.fields)
            .outerjoin(Campaign, Campaign.id == DialAttempt.campaign_id)
            .outerjoin(LeadRow, LeadRow.id == DialAttempt.lead_id)
            .where(*where))
    counted = select(func.count()).select_from(DialAttempt)
    if query.customer is not None:  # the filter reads the lead's fields
        counted = counted.join(LeadRow, LeadRow.id == DialAttempt.lead_id)
    total = await session.scalar(counted.where(*where)) or 0
    order = ((DialAttempt.started_at.desc(), DialAttempt.id.desc()) if newest_first
             else (DialAttempt.started_at, DialAttempt.id))
    rows = (await session.execute(base.order_by(*order).limit(limit).offset(offset))).all()
    notes = await _dispositions(session, [a.call_id for a, _, _ in rows if a.call_id])
    return [
        AttemptRecord(
            id=a.id, call_id=a.call_id, phone=a.phone, campaign_id=a.campaign_id,
            campaign_name=name, lead_id=a.lead_id, customer=dict(fields or {}),
            seat_id=a.seat_id, started_at=a.started_at, ended_at=a.ended_at,
            outcome=a.outcome, agent_reserved=a.agent_reserved,
            dispositions=tuple(notes.get(a.call_id, ())) if a.call_id else (),
        )
        for a, name, fields in rows
    ], total


async def _dispositions(session: AsyncSession, call_ids: Sequence[str]
                        ) -> dict[str, list[DispositionEntry]]:
    """What agents recorded on these calls, oldest first per call."""
    found: dict[str, list[DispositionEntry]] = {}
    if not call_ids:
        return found
    for d in await session.scalars(
        select(Disposition).where(Disposition.call_id.in_(call_ids))
        .order_by(Disposition.created_at, Disposition.id)
    ):
        found.setdefault(d.call_id, []).append(DispositionEntry(
            code=d.code, notes=d.notes, grade=d.grade, callback_at=d.callback_at,
            seat_id=d.seat_id, user_id=d.user_id, created_at=d.created_at,
        ))
    return found
