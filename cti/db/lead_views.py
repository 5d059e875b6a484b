"""Leads as supervisors look at them and change them: where each stands (`LeadStatus`),
lists filtered by it, the whole campaign page by page for its export (each lead with the
last disposition an agent recorded on it), and a supervisor's change to one lead.

`LeadRecord.status` decides a lead's status in Python; `_status_is` says the same in SQL
for the filters, in the same order (the integration tests check that they agree).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Row,
    Text,
    and_,
    cast,
    exists,
    func,
    literal_column,
    not_,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from cti.db.campaign_models import Campaign, DialAttempt, Disposition, LeadRow
from cti.db.campaign_records import (
    DispositionEntry,
    LeadBusy,
    LeadRecord,
    LeadStatus,
    lead_record,
)
from cti.db.campaign_repository import IN_CALL_GUARD, merge_fields
from cti.db.repositories import writing


def _dialing(campaign_id: int, now: datetime) -> ColumnElement[bool]:
    """The lead has a dial on now: an attempt without an outcome, started within the
    guard after which a lost call's lead is due again (read through the campaign's
    attempts index, not a scan per lead)."""
    return LeadRow.id.in_(
        select(DialAttempt.lead_id).where(
            DialAttempt.campaign_id == campaign_id,
            DialAttempt.started_at > now - IN_CALL_GUARD,
            DialAttempt.outcome.is_(None),
            DialAttempt.lead_id.is_not(None),
        )
    )


def _status_is(status: LeadStatus, campaign_id: int, now: datetime) -> ColumnElement[bool]:
    """SQL for `LeadRecord.status(now) == status`: its own test, none of the earlier."""
    tests: dict[LeadStatus, ColumnElement[bool]] = {
        LeadStatus.IN_CALL: _dialing(campaign_id, now),
        LeadStatus.FINISHED: LeadRow.next_eligible_at.is_(None),
        LeadStatus.HELD: LeadRow.previewed_until > now,
        LeadStatus.CALLBACK: LeadRow.callback_at.is_not(None),
        LeadStatus.NEW: LeadRow.attempts == 0,
        LeadStatus.DUE: LeadRow.next_eligible_at <= now,
        LeadStatus.SCHEDULED: LeadRow.next_eligible_at > now,
    }
    order = list(LeadStatus)
    earlier = [
        # previewed_until is null unless held: coalesce so NOT(...) is true, not null.
        func.coalesce(tests[s], False) for s in order[: order.index(status)]
    ]
    return and_(tests[status], *(not_(e) for e in earlier))


def _like(text: str) -> str:
    """`text` as an ILIKE pattern matching it anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def customer_is(text: str) -> list[ColumnElement[bool]]:
    """The lead has `text` in one of its fields' values, any case."""
    pattern = _like(text)
    values = func.jsonb_each_text(LeadRow.fields).table_valued("value").alias("f")
    in_a_value = exists(select(literal_column("1")).select_from(values)
                        .where(values.c.value.ilike(pattern, escape="\\")))
    if any(c in text for c in '"\\') or not text.isprintable():
        return [in_a_value]  # JSON's text escapes these: only the exact test finds them
    # First the whole JSON text (one string per lead, several times cheaper than
    # unnesting it), which holds every value as written; then the exact test, which
    # leaves out a match in a key or across fields.
    return [cast(LeadRow.fields, Text).ilike(pattern, escape="\\"), in_a_value]


async def list_leads(
    session: AsyncSession, campaign_id: int, now: datetime, *,
    status: LeadStatus | None = None, phone: str | None = None, grade: str | None = None,
    customer: str | None = None, limit: int, offset: int,
) -> tuple[list[tuple[LeadRecord, bool]], int]:
    """A campaign's leads in import order, each with whether a dial of it is on now,
    and how many match."""
    where: list[ColumnElement[bool]] = [LeadRow.campaign_id == campaign_id]
    if status is not None:
        where.append(_status_is(status, campaign_id, now))
    if phone is not None:
        where.append(LeadRow.phone == phone)
    if grade is not None:
        where.append(LeadRow.grade == grade)
    if customer is not None:
        where.extend(customer_is(customer))
    total = await session.scalar(select(func.count()).select_from(LeadRow).where(*where)) or 0
    dialing = _dialing(campaign_id, now)
    rows = (await session.execute(
        select(LeadRow, dialing).where(*where).order_by(LeadRow.id).limit(limit).offset(offset)
    )).all()
    return [(lead_record(row), bool(on)) for row, on in rows], total


async def lead_in_call(session: AsyncSession, lead: LeadRecord, now: datetime) -> bool:
    """Whether a dial of `lead` is on now (`LeadStatus.IN_CALL`)."""
    found = await session.scalar(
        select(func.count()).select_from(LeadRow)
        .where(LeadRow.id == lead.id, _dialing(lead.campaign_id, now))
    )
    return bool(found)


@dataclass(frozen=True, slots=True)
class LeadLine:
    """One lead of an export: where it stands, and the last disposition recorded on it."""

    lead: LeadRecord
    status: LeadStatus
    first_attempt_at: datetime | None
    last_disposition: DispositionEntry | None


async def field_names(session: AsyncSession, campaign_id: int) -> list[str]:
    """Every free-field name the campaign's leads carry, sorted (the export's columns)."""
    names = await session.scalars(
        select(func.jsonb_object_keys(LeadRow.fields)).where(LeadRow.campaign_id == campaign_id)
        .distinct())
    return sorted(names)


def _last_disposition() -> Any:
    """The last disposition recorded on the lead of the enclosing query, as a lateral
    subquery to outer-join (none: every column null); its columns are named ``d_*``, clear
    of the lead's own."""
    last = aliased(Disposition)
    return (
        select(last.code.label("d_code"), last.notes.label("d_notes"),
               last.grade.label("d_grade"), last.callback_at.label("d_callback_at"),
               last.seat_id.label("d_seat_id"), last.user_id.label("d_user_id"),
               last.created_at.label("d_created_at"))
        .where(last.lead_id == LeadRow.id)
        .order_by(last.created_at.desc(), last.id.desc()).limit(1)
        .lateral("last_disposition")
    )


def _disposition_of(row: Row[Any]) -> DispositionEntry | None:
    """The `_last_disposition` columns of a result row."""
    return None if row.d_code is None else DispositionEntry(
        code=row.d_code, notes=row.d_notes, grade=row.d_grade, callback_at=row.d_callback_at,
        seat_id=row.d_seat_id, user_id=row.d_user_id, created_at=row.d_created_at)


async def leads_after(
    session: AsyncSession, campaign_id: int, now: datetime, after: int, limit: int,
    status: LeadStatus | None = None,
) -> list[LeadLine]:
    """The campaign's next `limit` leads after lead id `after`, in id order (keyset
    paging: each page is its own short query, whatever the campaign's size)."""
    latest = _last_disposition()
    where: list[ColumnElement[bool]] = [LeadRow.campaign_id == campaign_id, LeadRow.id > after]
    if status is not None:
        where.append(_status_is(status, campaign_id, now))
    # Core rows of the table's columns, not ORM objects: an export reads every lead once.
    rows = (await session.execute(
        select(LeadRow.__table__, _dialing(campaign_id, now).label("in_call"), *latest.c)
        .outerjoin(latest, true())
        .where(*where).order_by(LeadRow.id).limit(limit)
    )).all()
    lines = []
    for row in rows:
        lead = lead_record(row)
        lines.append(LeadLine(lead, lead.status(now, in_call=bool(row.in_call)),
                              row.first_attempt_at, _disposition_of(row)))
    return lines


@dataclass(frozen=True, slots=True)
class BookedCallback:
    """A callback an agent promised: the lead, its campaign, and what was noted."""

    lead: LeadRecord
    campaign_name: str
    booked: DispositionEntry | None  # the disposition that booked it (its notes)


async def booked_callbacks(
    session: AsyncSession, *, seat_id: str | None, campaign_id: int | None,
    until: datetime | None, limit: int, offset: int,
) -> tuple[list[BookedCallback], int]:
    """Callbacks still to be made (the lead not finished), soonest first, and how many."""
    where: list[ColumnElement[bool]] = [
        LeadRow.callback_at.is_not(None), LeadRow.next_eligible_at.is_not(None)]
    if seat_id is not None:
        where.append(LeadRow.callback_seat_id == seat_id)
    if campaign_id is not None:
        where.append(LeadRow.campaign_id == campaign_id)
    if until is not None:
        where.append(LeadRow.callback_at < until)
    total = await session.scalar(select(func.count()).select_from(LeadRow).where(*where)) or 0
    latest = _last_disposition()
    rows = (await session.execute(
        select(LeadRow, Campaign.name.label("campaign_name"), *latest.c)
        .join(Campaign, Campaign.id == LeadRow.campaign_id)
        .outerjoin(latest, true())
        .where(*where).order_by(LeadRow.callback_at, LeadRow.id).limit(limit).offset(offset)
    )).all()
    return [BookedCallback(lead_record(row[0]), row.campaign_name, _disposition_of(row))
            for row in rows], total


class Keep(Enum):
    """`update_lead`'s grade when it is not to change (None clears the grade)."""

    KEEP = "keep"


async def update_lead(
    session: AsyncSession, campaign_id: int, lead_id: int, now: datetime, *,
    grade: str | Literal[Keep.KEEP] | None = Keep.KEEP, fields: Mapping[str, Any] | None = None,
    due_at: datetime | None = None, finished: bool | None = None,
    fits: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> LeadRecord | None:
    """A supervisor's change to a lead, all of it or nothing: its grade, free fields
    (merged; None removes one), next due time, or finished (closed; False or a due time
    opens a finished lead again). None: no such lead in the campaign. Raises
    :class:`LeadBusy` while a dial of it is on (the call's outcome would set its next
    time over this one) and for a new due time while a callback is booked (the agent's
    promise; the agent moves it with a disposition), :class:`FieldsTooLarge`."""
    async with writing(session):
        row = await session.get(LeadRow, lead_id, with_for_update=True)
        if row is None or row.campaign_id != campaign_id:
            return None
        lead = lead_record(row)
        if await lead_in_call(session, lead, now):
            raise LeadBusy("the lead is on a call: change it after the call ends")
        if grade is not Keep.KEEP:
            row.grade = grade
        if fields is not None:
            merge_fields(row, fields, fits)
        if finished:
            row.next_eligible_at = None
            row.callback_at = row.callback_user_id = row.callback_seat_id = None
            row.previewed_by = row.previewed_until = None
        elif due_at is not None:
            # Held for its agent's preview or not, a booked callback is the agent's.
            if lead.callback_at is not None and lead.next_eligible_at is not None:
                raise LeadBusy(f"a callback is booked for {lead.callback_at:%Y-%m-%d %H:%M} "
                               "UTC: the agent's disposition moves it")
            row.next_eligible_at = due_at
            row.previewed_by = row.previewed_until = None
        elif finished is False and row.next_eligible_at is None:
            row.next_eligible_at = now
        await session.flush()
        return lead_record(row)
