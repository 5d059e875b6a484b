"""Lead import jobs: the job rows, their per-row errors, and the batch bookkeeping.

The leads themselves are written by :func:`cti.db.campaign_repository.import_leads`, which
calls :func:`record_batch` inside each batch's transaction: leads, row errors and the
job's counters commit together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.lead_import_models import LeadImport, LeadImportError
from cti.db.repositories import writing
from dialer.leads import Item, RowError


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    """Items the parser settled since the previous batch, and its totals so far."""

    items: Sequence[Item]
    rows: int
    rejected: int
    duplicates_in_list: int
    errors_by_code: Mapping[str, int] = field(default_factory=dict)
    encoding: str | None = None
    format: str | None = None
    bytes_read: int = 0


@dataclass(frozen=True, slots=True)
class ImportJobRecord:
    id: int
    campaign_id: int
    state: str
    options: dict[str, Any]
    spool_path: str | None
    bytes_total: int
    bytes_read: int
    items_done: int
    rows_read: int
    accepted: int
    rejected: int
    duplicates_in_list: int
    duplicates_in_campaign: int
    errors_by_code: dict[str, int]
    encoding: str | None
    format: str | None
    error: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None


def _record(row: LeadImport) -> ImportJobRecord:
    return ImportJobRecord(
        id=row.id, campaign_id=row.campaign_id, state=row.state, options=dict(row.options),
        spool_path=row.spool_path, bytes_total=row.bytes_total, bytes_read=row.bytes_read,
        items_done=row.items_done, rows_read=row.rows_read, accepted=row.accepted,
        rejected=row.rejected, duplicates_in_list=row.duplicates_in_list,
        duplicates_in_campaign=row.duplicates_in_campaign,
        errors_by_code=dict(row.errors_by_code), encoding=row.encoding, format=row.format,
        error=row.error, attempts=row.attempts, created_at=row.created_at,
        started_at=row.started_at, updated_at=row.updated_at, finished_at=row.finished_at,
    )


async def create_import(
    session: AsyncSession, campaign_id: int, options: Mapping[str, Any], spool_path: str,
    bytes_total: int,
) -> ImportJobRecord:
    async with writing(session):
        row = LeadImport(campaign_id=campaign_id, options=dict(options), spool_path=spool_path,
                         bytes_total=bytes_total)
        session.add(row)
        await session.flush()
        await session.refresh(row)
        record = _record(row)
    return record


async def get_import(
    session: AsyncSession, campaign_id: int, import_id: int
) -> ImportJobRecord | None:
    row = await session.get(LeadImport, import_id, populate_existing=True)
    return None if row is None or row.campaign_id != campaign_id else _record(row)


async def list_imports(
    session: AsyncSession, campaign_id: int, *, limit: int, offset: int
) -> tuple[list[ImportJobRecord], int]:
    """Newest first."""
    where = LeadImport.campaign_id == campaign_id
    total = await session.scalar(select(func.count()).select_from(LeadImport).where(where))
    rows = await session.scalars(
        select(LeadImport).where(where).order_by(LeadImport.id.desc()).limit(limit)
        .offset(offset).execution_options(populate_existing=True)
    )
    return [_record(r) for r in rows], total or 0


async def claim(session: AsyncSession, import_id: int) -> ImportJobRecord | None:
    """Mark a queued (or interrupted) job running; None if it has ended or is gone."""
    async with writing(session):
        row = await session.scalar(
            update(LeadImport)
            .where(LeadImport.id == import_id, LeadImport.state.in_(("queued", "running")))
            .values(state="running", attempts=LeadImport.attempts + 1,
                    started_at=func.coalesce(LeadImport.started_at, func.now()),
                    updated_at=func.now())
            .returning(LeadImport).execution_options(populate_existing=True)
        )
        record = None if row is None else _record(row)
    return record


async def finish(
    session: AsyncSession, import_id: int, state: str, error: str | None = None
) -> None:
    """End a job: ``done`` or ``failed`` (with why). Its spool file is no longer needed."""
    async with writing(session):
        await session.execute(
            update(LeadImport).where(LeadImport.id == import_id)
            .values(state=state, error=error, spool_path=None, finished_at=func.now(),
                    updated_at=func.now())
        )


async def unfinished(session: AsyncSession) -> list[ImportJobRecord]:
    """Jobs queued or running: after a restart, the ones to resume (oldest first)."""
    rows = await session.scalars(
        select(LeadImport).where(LeadImport.state.in_(("queued", "running")))
        .order_by(LeadImport.id)
    )
    return [_record(r) for r in rows]


async def errors_page(
    session: AsyncSession, import_id: int, *, limit: int, offset: int
) -> tuple[list[RowError], int]:
    where = LeadImportError.import_id == import_id
    total = await session.scalar(select(func.count()).select_from(LeadImportError).where(where))
    rows = await session.scalars(
        select(LeadImportError).where(where).order_by(LeadImportError.id)
        .limit(limit).offset(offset)
    )
    return [_error(r) for r in rows], total or 0


async def errors_after(
    session: AsyncSession, import_id: int, after: int, limit: int
) -> list[tuple[int, RowError]]:
    """The next ``limit`` errors after error id ``after`` (keyset paging for downloads)."""
    rows = await session.scalars(
        select(LeadImportError)
        .where(LeadImportError.import_id == import_id, LeadImportError.id > after)
        .order_by(LeadImportError.id).limit(limit)
    )
    return [(r.id, _error(r)) for r in rows]


def _error(r: LeadImportError) -> RowError:
    return RowError(row=r.row, field=r.field, code=r.code, message=r.message, value=r.value)


_ERROR_COLUMNS = ("import_id", "row", "field", "code", "message", "value")


async def record_batch(
    raw: Any, import_id: int, errors: Sequence[RowError], batch: ParsedBatch,
    *, accepted: int, duplicates_in_campaign: int, items_done: int,
) -> None:
    """Inside the batch's transaction: its row errors and the job's counters.

    ``raw`` is the asyncpg connection under the batch's transaction."""
    if errors:
        await raw.copy_records_to_table(
            "lead_import_errors", columns=_ERROR_COLUMNS,
            records=[(import_id, e.row, e.field, e.code, e.message, e.value) for e in errors],
        )
    await raw.execute(
        "UPDATE lead_imports SET bytes_read = $2, items_done = $3, rows_read = $4, "
        "accepted = $5, rejected = $6, duplicates_in_list = $7, duplicates_in_campaign = $8, "
        "errors_by_code = $9::jsonb, encoding = $10, format = $11, updated_at = now() "
        "WHERE id = $1",
        import_id, batch.bytes_read, items_done, batch.rows, accepted, batch.rejected,
        batch.duplicates_in_list, duplicates_in_campaign, _json(batch.errors_by_code),
        batch.encoding, batch.format,
    )


def _json(value: Mapping[str, int]) -> str:
    return json.dumps(dict(value))
