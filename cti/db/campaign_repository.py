"""Campaign store: campaigns, streaming lead import, the gate's history, dial outcomes.

Every function takes an :class:`AsyncSession` and returns frozen records, never ORM
objects. Writes follow :mod:`cti.db.repositories`: on a session with no transaction in
progress they commit; inside the caller's transaction they only flush.

Lead import streams: the parser's output (:mod:`cti.imports.pipeline`) goes to PostgreSQL
in batches through ``COPY`` into a temporary table and one ``INSERT .. SELECT .. ON
CONFLICT DO NOTHING`` per batch, which also drops numbers the campaign already has. Each
batch commits with its import job's counters (:mod:`cti.db.lead_import_repository`), so a
job interrupted half-way resumes from its last commit.

:func:`claim_dial` is the one way to start a dial: under a per-number advisory lock it
reads the number's history, runs the compliance gate and, only when allowed, records the
attempt; two dialers can therefore never both pass the caps for the same number.

Records and errors live in :mod:`cti.db.campaign_records`; DNC lists and dispositions in
:mod:`cti.db.dnc_repository`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db import lead_import_repository as import_jobs
from cti.db import repositories
from cti.db.campaign_models import Campaign, CampaignSeat, DialAttempt, Disposition, LeadRow
from cti.db.campaign_records import (
    CampaignNameTaken,
    CampaignRecord,
    CampaignStats,
    ClaimResult,
    FieldsTooLarge,
    ImportProgress,
    ImportReport,
    LeadRecord,
    NotYourCall,
    StateConflict,
    UnknownCall,
    campaign_record,
    lead_record,
)
from cti.db.lead_import_repository import ParsedBatch
from cti.db.repositories import writing
from dialer import compliance
from dialer.campaign import State
from dialer.compliance import Decision, NumberHistory
from dialer.dispositions import CALLBACK_GRACE, DispositionCode
from dialer.leads import Lead, RowError
from dialer.schedule import NEW_LEAD_FOLLOW_UP, Outcome, next_eligible

log = logging.getLogger(__name__)

BATCH_SIZE = 5_000
IN_CALL_GUARD = timedelta(hours=1)
MAX_REPORTED_ERRORS = 1_000


# -- campaigns --------------------------------------------------------------------------


async def seats_of(session: AsyncSession, campaign_ids: Sequence[int]) -> dict[int, list[str]]:
    rows = await session.execute(
        select(CampaignSeat.campaign_id, CampaignSeat.seat_id).where(
            CampaignSeat.campaign_id.in_(campaign_ids)
        )
    )
    out: dict[int, list[str]] = {i: [] for i in campaign_ids}
    for cid, seat in rows:
        out[cid].append(seat)
    return out


async def create_campaign(
    session: AsyncSession, values: Mapping[str, Any], seats: Sequence[str]
) -> CampaignRecord:
    """Insert a campaign (``values``: its columns) with its seats."""
    async with writing(session):
        row = Campaign(**values)
        try:
            # A savepoint: a taken name leaves the caller's transaction usable.
            async with session.begin_nested():
                session.add(row)
        except sa_exc.IntegrityError as exc:
            if "uq_campaigns_name" in str(exc.orig):
                raise CampaignNameTaken(values.get("name", "")) from exc
            raise
        session.add_all(CampaignSeat(campaign_id=row.id, seat_id=s) for s in dict.fromkeys(seats))
        await session.flush()
        await session.refresh(row)
        record = campaign_record(row, seats)
    return record


async def works_campaign(session: AsyncSession, campaign: CampaignRecord, seat_id: str
                         ) -> bool:
    """Whether `seat_id` works `campaign`: one of its seats, or a member of its skill
    group."""
    if campaign.seats:
        return seat_id in campaign.seats
    return campaign.skill_group is not None and await repositories.is_group_member(
        session, campaign.skill_group, seat_id)


async def get_campaign(session: AsyncSession, campaign_id: int) -> CampaignRecord | None:
    row = await session.get(Campaign, campaign_id)
    if row is None:
        return None
    seats = await seats_of(session, [campaign_id])
    return campaign_record(row, seats[campaign_id])


async def list_campaigns(
    session: AsyncSession, *, state: str | None = None, limit: int, offset: int
) -> tuple[list[CampaignRecord], int]:
    where = [] if state is None else [Campaign.state == state]
    total = await session.scalar(select(func.count()).select_from(Campaign).where(*where)) or 0
    rows = list(await session.scalars(
        select(Campaign).where(*where).order_by(Campaign.id).limit(limit).offset(offset)
    ))
    seats = await seats_of(session, [r.id for r in rows])
    return [campaign_record(r, seats[r.id]) for r in rows], total


async def update_campaign(
    session: AsyncSession,
    campaign_id: int,
    values: Mapping[str, Any],
    seats: Sequence[str] | None = None,
) -> CampaignRecord | None:
    """Change columns (and replace the seats when given); None if no such campaign."""
    async with writing(session):
        row = await session.get(Campaign, campaign_id, with_for_update=True)
        if row is None:
            return None
        try:
            async with session.begin_nested():
                for key, value in values.items():
                    setattr(row, key, value)
                row.updated_at = datetime.now(UTC)
        except sa_exc.IntegrityError as exc:
            if "uq_campaigns_name" in str(exc.orig):
                raise CampaignNameTaken(values.get("name", "")) from exc
            raise
        if seats is not None:
            await session.execute(delete(CampaignSeat).where(CampaignSeat.campaign_id == row.id))
            session.add_all(
                CampaignSeat(campaign_id=row.id, seat_id=s) for s in dict.fromkeys(seats)
            )
            await session.flush()
        current = (await seats_of(session, [row.id]))[row.id]
        record = campaign_record(row, current)
    return record


async def change_state(
    session: AsyncSession, campaign_id: int, expected: State, new: State
) -> CampaignRecord | None:
    """Move the campaign from ``expected`` to ``new``; raises :class:`StateConflict` if it
    is no longer in ``expected`` (another request moved it first)."""
    async with writing(session):
        row = await session.get(Campaign, campaign_id, with_for_update=True)
        if row is None:
            return None
        if row.state != expected.value:
            raise StateConflict(row.state)
        row.state = new.value
        row.updated_at = datetime.now(UTC)
        await session.flush()
        seats = (await seats_of(session, [row.id]))[row.id]
        record = campaign_record(row, seats)
    return record


# -- lead import ------------------------------------------------------------------------

_STAGE_COLUMNS = ("phone", "timezones", "grade", "fields", "source_row")


@dataclass(frozen=True, slots=True)
class ImportResume:
    """Where an interrupted job's last commit left it (from its job row)."""

    items_done: int = 0
    accepted: int = 0
    duplicates_in_campaign: int = 0


async def import_leads(
    session: AsyncSession,
    campaign_id: int,
    batches: AsyncIterable[ParsedBatch],
    *,
    now: datetime,
    import_id: int | None = None,
    resume: ImportResume | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[ImportProgress], None] | None = None,  # per commit
    max_errors: int = MAX_REPORTED_ERRORS,
) -> ImportReport:
    """Write the parser's output into the campaign's leads, committing every ``batch_size``
    leads (or row errors).

    Each commit holds a batch's leads (``INSERT .. ON CONFLICT DO NOTHING``: a number the
    campaign has is counted, not added), and with ``import_id`` the batch's row errors and
    the job's counters, so the job row always says what is committed. ``resume`` skips the
    first ``items_done`` items of the (deterministic) parser output: a resumed job adds no
    lead twice and reports no row twice. On a session without a transaction each batch
    commits; inside the caller's transaction each batch is a savepoint.
    """
    resume = resume or ImportResume()
    errors: list[RowError] = []
    leads: list[tuple[Any, ...]] = []
    row_errors: list[RowError] = []
    counted = 0  # items of the parser output seen so far
    imported, in_campaign = resume.accepted, resume.duplicates_in_campaign
    last = ParsedBatch(items=(), rows=0, rejected=0, duplicates_in_list=0)

    async def commit() -> None:
        nonlocal imported, in_campaign
        async with session.begin() if not session.in_transaction() else session.begin_nested():
            # Keeps the campaign from going away under the batch.
            await session.execute(
                select(Campaign.id).where(Campaign.id == campaign_id).with_for_update(read=True)
            )
            conn = await session.connection()
            raw = (await conn.get_raw_connection()).driver_connection
            assert raw is not None
            if leads:
                await raw.execute(
                    "CREATE TEMP TABLE IF NOT EXISTS lead_stage_batch (phone text, "
                    "timezones text[], grade text, fields jsonb, source_row int) "
                    "ON COMMIT DELETE ROWS"
                )
                await raw.copy_records_to_table("lead_stage_batch", records=leads,
                                                columns=_STAGE_COLUMNS)
                status = await raw.execute(
                    "INSERT INTO leads (campaign_id, phone, timezones, grade, fields, "
                    "source_row, next_eligible_at) SELECT $1, phone, timezones, grade, fields, "
                    "source_row, $2 FROM lead_stage_batch ON CONFLICT (campaign_id, phone) "
                    "DO NOTHING", campaign_id, now,
                )
                await raw.execute("TRUNCATE lead_stage_batch")  # a savepoint does not commit
                inserted = int(status.rsplit(" ", 1)[1])
                imported, in_campaign = imported + inserted, in_campaign + len(leads) - inserted
            if import_id is not None:
                await import_jobs.record_batch(
                    raw, import_id, row_errors, last, accepted=imported,
                    duplicates_in_campaign=in_campaign, items_done=counted,
                )
        leads.clear()
        row_errors.clear()
        if progress is not None:
            progress(ImportProgress(rows=last.rows, imported=imported, rejected=last.rejected))

    async for batch in batches:
        last = batch
        for item in batch.items:
            counted += 1
            if counted <= resume.items_done:
                continue  # committed before the interruption
            if isinstance(item, Lead):
                leads.append((item.e164, list(item.zones),
                              item.grade.value if item.grade else None,
                              json.dumps(item.fields, ensure_ascii=False), item.row))
            else:
                row_errors.append(item)
                if len(errors) < max_errors:
                    errors.append(item)
        if len(leads) >= batch_size or len(row_errors) >= batch_size:
            await commit()
    await commit()  # the rest, and the final counters
    report = ImportReport(
        rows=last.rows,
        imported=imported,
        rejected=last.rejected,
        duplicates_in_list=last.duplicates_in_list,
        duplicates_in_campaign=in_campaign,
        encoding=last.encoding,
        format=last.format,
        errors=tuple(errors),
        errors_by_code=dict(last.errors_by_code),
        errors_truncated=last.rejected + last.duplicates_in_list > len(errors),
    )
    log.info(
        "campaign %d: imported %d leads from %d rows (%d rejected, %d duplicates in list, "
        "%d already in campaign)", campaign_id, imported, last.rows, last.rejected,
        last.duplicates_in_list, in_campaign,
    )
    return report


async def get_lead(session: AsyncSession, lead_id: int) -> LeadRecord | None:
    row = await session.get(LeadRow, lead_id)
    return None if row is None else lead_record(row)


async def lead_for_call(session: AsyncSession, call_id: str) -> LeadRecord | None:
    """The lead a dialed call belongs to (the agent's screen pop)."""
    row = await session.scalar(
        select(LeadRow).join(DialAttempt, DialAttempt.lead_id == LeadRow.id)
        .where(DialAttempt.call_id == call_id)
    )
    return None if row is None else lead_record(row)


async def lead_by_phone(session: AsyncSession, campaign_id: int, phone: str) -> LeadRecord | None:
    row = await session.scalar(
        select(LeadRow).where(LeadRow.campaign_id == campaign_id, LeadRow.phone == phone)
    )
    return None if row is None else lead_record(row)


def _fresh(campaign_id: int, now: datetime) -> ColumnElement[bool]:
    """Never dialed and still inside the follow-up deadline: dialed before the rest."""
    return and_(LeadRow.campaign_id == campaign_id, LeadRow.attempts == 0,
                LeadRow.created_at > now - NEW_LEAD_FOLLOW_UP)


async def due_leads(
    session: AsyncSession, campaign_id: int, now: datetime, limit: int
) -> list[LeadRecord]:
    """Leads whose time has come (the gate still decides each dial): first the new ones
    still inside their follow-up deadline, oldest first (the handbooks: new leads within
    24 hours, a rate of at least 90%; fresh leads are the likeliest to buy), then the rest,
    soonest due first. Under a backlog the new leads therefore go before retries; a new
    lead that missed its deadline queues with them."""
    fresh = list(await session.scalars(
        select(LeadRow)
        .where(_fresh(campaign_id, now), LeadRow.next_eligible_at <= now)
        .order_by(LeadRow.created_at, LeadRow.id)
        .limit(limit)
    ))
    rest: list[LeadRow] = []
    if len(fresh) < limit:
        rest = list(await session.scalars(
            select(LeadRow)
            .where(LeadRow.campaign_id == campaign_id, LeadRow.next_eligible_at <= now,
                   LeadRow.id.not_in([r.id for r in fresh]))
            .order_by(LeadRow.next_eligible_at, LeadRow.id)
            .limit(limit - len(fresh))
        ))
    return [lead_record(r) for r in (*fresh, *rest)]


async def call_attempt(session: AsyncSession, call_id: str, only_seat: str | None = None
                       ) -> DialAttempt:
    """The dial attempt of a call. Raises :class:`UnknownCall` when there is none, and
    :class:`NotYourCall` when ``only_seat`` is given and the call went to another seat
    (agents act on their own calls)."""
    attempt = await session.scalar(select(DialAttempt).where(DialAttempt.call_id == call_id))
    if attempt is None:
        raise UnknownCall(call_id)
    if only_seat is not None and attempt.seat_id not in (None, only_seat):
        raise NotYourCall(attempt.seat_id)
    return attempt


def merge_fields(row: LeadRow, changes: Mapping[str, Any],
                 fits: Callable[[dict[str, Any]], bool]) -> None:
    """Merge `changes` into a lead's free fields (None removes one), or raise
    :class:`FieldsTooLarge` changing nothing when the result does not `fit`."""
    merged = {k: v for k, v in {**row.fields, **changes}.items() if v is not None}
    if not fits(merged):
        raise FieldsTooLarge(len(merged))
    row.fields = merged


async def update_lead_fields(
    session: AsyncSession, call_id: str, changes: Mapping[str, Any], *,
    only_seat: str | None = None, fits: Callable[[dict[str, Any]], bool] = lambda _: True,
) -> LeadRecord | None:
    """Merge `changes` into the free fields of the lead a call is about (None removes a
    field): what the agent learns on the call. None when the call has no lead. Raises
    :class:`UnknownCall` when no dial attempt has this call id, :class:`NotYourCall` when
    ``only_seat`` is given and the call went to another seat, :class:`FieldsTooLarge`
    when the merged fields do not `fit` (nothing is changed)."""
    async with writing(session):
        attempt = await call_attempt(session, call_id, only_seat)
        if attempt.lead_id is None:
            return None
        row = await session.get(LeadRow, attempt.lead_id, with_for_update=True)
        if row is None:
            return None
        merge_fields(row, changes, fits)
        await session.flush()
        return lead_record(row)


# -- the gate's history ----------------------------------------------------------------

_HISTORY_SQL = text(
    """
    SELECT p.phone,
           EXISTS (SELECT 1 FROM dnc d WHERE d.phone = p.phone) AS global_dnc,
           EXISTS (SELECT 1 FROM campaign_dnc c
                   WHERE c.campaign_id = :campaign_id AND c.phone = p.phone) AS campaign_dnc,
           ARRAY(SELECT a.started_at FROM dial_attempts a
                 WHERE a.phone = p.phone AND a.started_at > :week_ago
                 ORDER BY a.started_at) AS recent,
           (SELECT max(a.started_at) FROM dial_attempts a
            WHERE a.phone = p.phone AND a.abandoned AND a.started_at > :quiet_from)
               AS last_abandoned
    FROM unnest(CAST(:phones AS text[])) AS p(phone)
    """
)


async def number_histories(
    session: AsyncSession, phones: Sequence[str], campaign_id: int | None, now: datetime
) -> dict[str, NumberHistory]:
    """What the compliance gate needs about each number, read in one query."""
    rows = await session.execute(
        _HISTORY_SQL,
        {
            "phones": list(dict.fromkeys(phones)),
            "campaign_id": campaign_id,
            "week_ago": now - compliance.WEEK,
            "quiet_from": now - compliance.ABANDON_QUIET,
        },
    )
    return {
        r.phone: NumberHistory(
            in_global_dnc=r.global_dnc,
            in_campaign_dnc=r.campaign_dnc,
            recent_dials=tuple(r.recent),
            last_abandoned_at=r.last_abandoned,
        )
        for r in rows
    }


async def check_lead(
    session: AsyncSession, lead_id: int, now: datetime, *, agent_reserved: bool = False
) -> Decision | None:
    """Run the gate for one lead without dialing (preview mode, supervisors' "why")."""
    lead = await get_lead(session, lead_id)
    if lead is None:
        return None
    campaign = await get_campaign(session, lead.campaign_id)
    assert campaign is not None  # the foreign key says so
    history = (await number_histories(session, [lead.phone], campaign.id, now))[lead.phone]
    return compliance.check(lead.state(), campaign.rules(), history, now,
                            agent_reserved=agent_reserved)


async def claim_dial(
    session: AsyncSession,
    lead_id: int,
    now: datetime,
    *,
    call_id: str | None = None,
    seat_id: str | None = None,
    agent_reserved: bool = False,
    request_key: str | None = None,
) -> ClaimResult | None:
    """Gate and record one dial atomically; None if the lead does not exist.

    The attempt is recorded (and the lead's attempts counted) only when allowed.
    """
    async with writing(session):
        row = await session.get(LeadRow, lead_id, with_for_update=True)
        if row is None:
            return None
        # Serialise dials to one number across campaigns and dialer replicas.
        await session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:p, 0))"), {"p": row.phone}
        )
        lead = lead_record(row)
        campaign = await get_campaign(session, lead.campaign_id)
        assert campaign is not None
        history = (await number_histories(session, [lead.phone], campaign.id, now))[lead.phone]
        state = lead.state()
        if lead.held_for(seat_id, now):  # previewed by this seat: due for it, and it only
            state = dataclasses.replace(state, next_eligible_at=now)
        decision = compliance.check(state, campaign.rules(), history, now,
                                    agent_reserved=agent_reserved)
        attempt_id: int | None = None
        if decision.allowed:
            attempt = DialAttempt(
                phone=lead.phone, campaign_id=campaign.id, lead_id=lead.id, call_id=call_id,
                seat_id=seat_id, agent_reserved=agent_reserved, started_at=now,
                request_key=request_key, callback_at=row.callback_at,
                callback_seat_id=row.callback_seat_id, callback_user_id=row.callback_user_id,
            )
            session.add(attempt)
            if row.attempts == 0:
                row.first_attempt_at = now
            row.attempts += 1
            row.last_attempt_at = now
            row.callback_at = None  # a callback is used up by the call it asked for
            row.callback_seat_id = None
            row.callback_user_id = None
            row.previewed_by = row.previewed_until = None
            # Not due again while the call is on: its outcome sets the real next time; a
            # dialer that dies mid-call leaves the lead due after the guard, not never.
            row.next_eligible_at = now + IN_CALL_GUARD
            await session.flush()
            attempt_id = attempt.id
        else:
            log.info("dial of lead %d refused: %s", lead_id,
                     ", ".join(r.value for r in decision.reasons))
    return ClaimResult(decision=decision, attempt_id=attempt_id)


#: How long a previewed lead is held for its agent before it is due for others again.
PREVIEW_HOLD = timedelta(minutes=5)
#: Due leads read (and locked) per round of `preview_lead`.
_PREVIEW_BATCH = 50
#: Due leads the gate may refuse (and put off) in one ask before it answers none: a list
#: whose numbers another campaign called today would otherwise be walked through whole
#: in one request (300,000 leads: minutes). The next ask goes on from there.
PREVIEW_MAX_REFUSED = 500


async def preview_lead(
    session: AsyncSession, campaign: CampaignRecord, seat_id: str, now: datetime,
    hold: timedelta = PREVIEW_HOLD,
) -> tuple[LeadRecord | None, int]:
    """The lead `seat_id` previews now: the one held for it, else the next due lead the
    gate allows, then held for it until `now + hold` (no other agent and no dialer is
    handed it meanwhile: its `next_eligible_at` moves to then, and it is locked while
    chosen, so two agents asking at once get two leads). None: no lead may be dialed now.
    A callback goes to the seat that booked it, first, as the dialer's runner places it.

    Due leads the gate refuses are put off as the dialer puts them off (until their
    window opens again, or for good after a final refusal), so they do not stand in
    front of the rest; how many were is the second of the pair. After
    `PREVIEW_MAX_REFUSED` of them the answer is None, and the next ask goes on."""
    async with writing(session):
        held = await session.scalar(
            select(LeadRow).where(LeadRow.campaign_id == campaign.id,
                                  LeadRow.previewed_by == seat_id,
                                  LeadRow.previewed_until > now)
            .order_by(LeadRow.id).limit(1).with_for_update()
        )
        if held is not None:
            return lead_record(held), 0
        rules = campaign.rules()
        refused = 0
        while refused < PREVIEW_MAX_REFUSED:
            # Read without locks, then lock one lead at a time (skipping those another
            # agent is being handed): locking the whole batch would leave the agents
            # asking at the same moment with nothing.
            # The seat's own callbacks first; another seat's wait for it (CALLBACK_GRACE).
            candidates = (await session.execute(
                select(LeadRow.id, LeadRow.phone)
                .where(LeadRow.campaign_id == campaign.id, LeadRow.next_eligible_at <= now,
                       or_(LeadRow.callback_seat_id.is_(None),
                           LeadRow.callback_seat_id == seat_id,
                           LeadRow.callback_at <= now - CALLBACK_GRACE))
                # Then new leads inside their follow-up deadline, as `due_leads` hands
                # them out; by due time within each tier, so a skipped lead goes behind.
                .order_by(case((LeadRow.callback_seat_id == seat_id, 0),
                               (_fresh(campaign.id, now), 1), else_=2),
                          LeadRow.next_eligible_at, LeadRow.id)
                .limit(_PREVIEW_BATCH)
            )).all()
            if not candidates:
                return None, refused
            histories = await number_histories(session, [c.phone for c in candidates],
                                               campaign.id, now)
            put_off = 0
            for candidate in candidates:
                row = await session.scalar(
                    select(LeadRow)
                    .where(LeadRow.id == candidate.id, LeadRow.next_eligible_at <= now)
                    .with_for_update(skip_locked=True)
                    .execution_options(populate_existing=True)
                )
                if row is None:
                    continue  # being handed to another agent, or no longer due
                lead = lead_record(row)
                decision = compliance.check(lead.state(), rules, histories[row.phone], now)
                if decision.allowed:
                    row.previewed_by, row.previewed_until = seat_id, now + hold
                    row.next_eligible_at = now + hold
                    await session.flush()
                    log.info("campaign %d: lead %d held for seat %s to preview", campaign.id,
                             row.id, seat_id)
                    return lead_record(row), refused + put_off
                until = campaign.due_again(lead, decision, now)
                # Strictly later, so that the next round reads the next leads.
                row.next_eligible_at = None if until is None else max(
                    until, now + timedelta(minutes=1))
                put_off += 1
            await session.flush()
            if not put_off:
                return None, refused  # every lead due now is being handed to another agent
            refused += put_off
        log.info("campaign %d: %d due leads refused by the gate for seat %s's preview; none "
                 "handed this time", campaign.id, refused, seat_id)
        return None, refused


async def release_preview(
    session: AsyncSession, campaign_id: int, lead_id: int, seat_id: str, now: datetime
) -> bool:
    """`seat_id` skips the lead it previews: due again at once, behind the leads already
    due. False if the lead is not held for that seat."""
    async with writing(session):
        row = await session.get(LeadRow, lead_id, with_for_update=True)
        if row is None or row.campaign_id != campaign_id or not lead_record(row).held_for(
                seat_id, now):
            return False
        row.previewed_by = row.previewed_until = None
        row.next_eligible_at = now
    return True


async def record_outcome(
    session: AsyncSession, attempt_id: int, outcome: Outcome, ended_at: datetime
) -> LeadRecord | None:
    """Close an attempt and reschedule its lead; returns the lead (None without one, or
    when the attempt was closed already: the first outcome written stands, so a
    settlement from the channel event log racing the write it stood in for changes
    nothing)."""
    async with writing(session):
        attempt = await session.get(DialAttempt, attempt_id, with_for_update=True)
        if attempt is None:
            raise UnknownCall(str(attempt_id))
        if attempt.outcome is not None:
            log.info("attempt %d already closed (%s): %s not recorded", attempt_id,
                     attempt.outcome, outcome.value)
            return None
        attempt.outcome = outcome.value
        attempt.ended_at = ended_at
        attempt.abandoned = outcome is Outcome.ABANDONED
        lead_row = None
        if attempt.lead_id is not None:
            lead_row = await session.get(LeadRow, attempt.lead_id, with_for_update=True)
        record = None
        if lead_row is not None:
            campaign = await get_campaign(session, lead_row.campaign_id)
            assert campaign is not None
            lead_row.last_outcome = outcome.value
            lead_row.last_attempt_at = attempt.started_at
            # An agent who disposed of the call before it ended (a sale, a refusal, a
            # callback) has decided the lead's next time: the outcome does not undo it.
            if not await _disposed(session, attempt.call_id):
                lead_row.next_eligible_at = next_eligible(
                    lead_record(lead_row).timing(), campaign.rules().cadence, ended_at
                )
            await session.flush()
            record = lead_record(lead_row)
    return record


async def _disposed(session: AsyncSession, call_id: str | None) -> bool:
    """Whether an agent recorded a disposition on the call that sets the lead's schedule
    (``other`` leaves it to the outcome)."""
    if call_id is None:
        return False
    found = await session.scalar(select(Disposition.id).where(
        Disposition.call_id == call_id, Disposition.code != DispositionCode.OTHER.value,
    ).limit(1))
    return found is not None


async def record_manual_dial(
    session: AsyncSession, phone: str, started_at: datetime, *, call_id: str | None = None,
    seat_id: str | None = None,
) -> int:
    """A dial outside campaigns (click-to-dial): it still counts toward the caps."""
    async with writing(session):
        attempt = DialAttempt(phone=phone, call_id=call_id, seat_id=seat_id,
                              started_at=started_at)
        session.add(attempt)
        await session.flush()
        attempt_id = attempt.id
    return attempt_id


# -- statistics -------------------------------------------------------------------------


async def campaign_stats(session: AsyncSession, campaign_id: int, now: datetime) -> CampaignStats:
    lead_counts = (await session.execute(
        select(
            func.count(),
            func.count().filter(LeadRow.next_eligible_at <= now),
            func.count().filter(LeadRow.next_eligible_at.is_(None)),
            func.count().filter(LeadRow.attempts == 0),
            func.count().filter(
                LeadRow.attempts == 0, LeadRow.created_at < now - NEW_LEAD_FOLLOW_UP
            ),
            # The follow-up rate: of the leads whose verdict is in (dialed, or 24 hours
            # old; not those the gate finished before any dial, DNC), dialed in time.
            func.count().filter(
                LeadRow.first_attempt_at <= LeadRow.created_at + NEW_LEAD_FOLLOW_UP),
            func.count().filter(or_(
                LeadRow.first_attempt_at.is_not(None),
                and_(LeadRow.created_at < now - NEW_LEAD_FOLLOW_UP,
                     LeadRow.next_eligible_at.is_not(None)),
            )),
        ).where(LeadRow.campaign_id == campaign_id)
    )).one()
    outcomes = {
        (o or "in_progress"): n
        for o, n in await session.execute(
            select(DialAttempt.outcome, func.count())
            .where(DialAttempt.campaign_id == campaign_id)
            .group_by(DialAttempt.outcome)
        )
    }
    dispositions = {
        c: n
        for c, n in await session.execute(
            select(Disposition.code, func.count())
            .where(Disposition.campaign_id == campaign_id)
            .group_by(Disposition.code)
        )
    }
    in_progress = outcomes.pop("in_progress", 0)
    abandoned = outcomes.get(Outcome.ABANDONED.value, 0)
    return CampaignStats(
        leads=lead_counts[0],
        leads_due=lead_counts[1],
        leads_finished=lead_counts[2],
        leads_never_called=lead_counts[3],
        leads_overdue=lead_counts[4],
        followed_up_in_time=lead_counts[5],
        follow_up_judged=lead_counts[6],
        attempts=sum(outcomes.values()) + in_progress,
        in_progress=in_progress,
        outcomes=outcomes,
        abandoned=abandoned,
        live_answered=abandoned + outcomes.get(Outcome.ANSWERED.value, 0),
        dispositions=dispositions,
    )


