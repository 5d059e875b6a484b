"""DNC lists and dispositions in the campaign store.

Writes follow :mod:`cti.db.repositories`: they commit on a session with no transaction in
progress, and only flush inside the caller's transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.campaign_models import CampaignDncEntry, Disposition, DncEntry, LeadRow
from cti.db.campaign_records import (
    DispositionRecord,
    DncRecord,
    lead_record,
)
from cti.db.campaign_repository import call_attempt, get_campaign
from cti.db.repositories import writing
from dialer.dispositions import DispositionCode
from dialer.dispositions import apply as apply_disposition
from dialer.dispositions import validate as validate_disposition
from dialer.schedule import Grade

log = logging.getLogger(__name__)


# -- DNC --------------------------------------------------------------------------------


async def add_dnc(
    session: AsyncSession,
    phone: str,
    *,
    campaign_id: int | None = None,
    reason: str | None = None,
    source: str = "api",
    created_by: int | None = None,
) -> bool:
    """Put ``phone`` on the global list (or the campaign's); False if it already was."""
    async with writing(session):
        if campaign_id is None:
            stmt = pg_insert(DncEntry).values(
                phone=phone, reason=reason, source=source, created_by=created_by
            ).on_conflict_do_nothing(index_elements=["phone"])
        else:
            stmt = pg_insert(CampaignDncEntry).values(
                campaign_id=campaign_id, phone=phone, reason=reason, source=source,
                created_by=created_by,
            ).on_conflict_do_nothing(index_elements=["campaign_id", "phone"])
        result = await session.execute(stmt)
        added = bool(getattr(result, "rowcount", 0))
    return added


async def remove_dnc(session: AsyncSession, phone: str, *, campaign_id: int | None = None) -> bool:
    async with writing(session):
        if campaign_id is None:
            result = await session.execute(delete(DncEntry).where(DncEntry.phone == phone))
        else:
            result = await session.execute(
                delete(CampaignDncEntry).where(
                    CampaignDncEntry.campaign_id == campaign_id, CampaignDncEntry.phone == phone
                )
            )
        removed = bool(getattr(result, "rowcount", 0))
    return removed


async def list_dnc(
    session: AsyncSession,
    *,
    campaign_id: int | None = None,
    phone: str | None = None,
    limit: int,
    offset: int,
) -> tuple[list[DncRecord], int]:
    if campaign_id is None:
        g = select(DncEntry)
        count = select(func.count()).select_from(DncEntry)
        if phone is not None:
            g = g.where(DncEntry.phone == phone)
            count = count.where(DncEntry.phone == phone)
        total = await session.scalar(count) or 0
        rows = await session.scalars(g.order_by(DncEntry.phone).limit(limit).offset(offset))
        return [
            DncRecord(r.phone, None, r.reason, r.source, r.created_by, r.created_at) for r in rows
        ], total
    c = select(CampaignDncEntry).where(CampaignDncEntry.campaign_id == campaign_id)
    ccount = select(func.count()).select_from(CampaignDncEntry).where(
        CampaignDncEntry.campaign_id == campaign_id
    )
    if phone is not None:
        c = c.where(CampaignDncEntry.phone == phone)
        ccount = ccount.where(CampaignDncEntry.phone == phone)
    total = await session.scalar(ccount) or 0
    crows = await session.scalars(c.order_by(CampaignDncEntry.phone).limit(limit).offset(offset))
    return [
        DncRecord(r.phone, r.campaign_id, r.reason, r.source, r.created_by, r.created_at)
        for r in crows
    ], total


# -- dispositions -----------------------------------------------------------------------


async def record_disposition(
    session: AsyncSession,
    call_id: str,
    code: DispositionCode,
    now: datetime,
    *,
    notes: str = "",
    grade: Grade | None = None,
    callback_at: datetime | None = None,
    user_id: int | None = None,
    seat_id: str | None = None,
    only_seat: str | None = None,
) -> DispositionRecord:
    """Record the agent's disposition of a call and apply it to the lead, in one go.

    The call is found through its dial attempt; a ``do_not_call`` adds the number to the
    global DNC; a callback is booked for the agent (user and seat) who took the call.
    Raises :class:`UnknownCall` when no dial attempt has this call id, and
    :class:`NotYourCall` when ``only_seat`` is given and the call went to another seat.
    """
    async with writing(session):
        attempt = await call_attempt(session, call_id, only_seat)
        lead_row = None
        if attempt.lead_id is not None:
            lead_row = await session.get(LeadRow, attempt.lead_id, with_for_update=True)
        added = False
        next_at: datetime | None = None
        if lead_row is not None:
            campaign = await get_campaign(session, lead_row.campaign_id)
            assert campaign is not None
            change = apply_disposition(
                code, lead_record(lead_row).timing(), campaign.rules().cadence, now,
                grade=grade, callback_at=callback_at,
            )
            lead_row.grade = change.grade.value if change.grade else None
            if change.keep_schedule:
                next_at = lead_row.next_eligible_at
            else:
                lead_row.next_eligible_at = next_at = change.next_eligible_at
                lead_row.callback_at = change.callback_at
                lead_row.callback_user_id = user_id if change.callback_at else None
                lead_row.callback_seat_id = seat_id if change.callback_at else None
        else:
            validate_disposition(code, callback_at, now)
        if code is DispositionCode.DO_NOT_CALL:
            added = await add_dnc(session, attempt.phone, reason=f"disposition of {call_id}",
                                  source="disposition", created_by=user_id)
        row = Disposition(
            call_id=call_id, campaign_id=attempt.campaign_id, lead_id=attempt.lead_id,
            phone=attempt.phone, code=code.value, notes=notes,
            grade=grade.value if grade else None, callback_at=callback_at, user_id=user_id,
            seat_id=seat_id,
        )
        session.add(row)
        await session.flush()
        await session.refresh(row)
        record = DispositionRecord(
            id=row.id, call_id=call_id, campaign_id=row.campaign_id, lead_id=row.lead_id,
            phone=row.phone, code=row.code, notes=row.notes, grade=row.grade,
            callback_at=row.callback_at, user_id=user_id, seat_id=seat_id, added_to_dnc=added,
            next_eligible_at=next_at, created_at=row.created_at,
        )
    log.info("call %s disposed as %s by user %s", call_id, code.value, user_id)
    return record


