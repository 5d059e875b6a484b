"""What placing calls needs from the store beyond campaigns and leads.

- click-to-dial's gate for numbers that are not leads, under the same per-number
  advisory lock as :func:`cti.db.campaign_repository.claim_dial`, and its idempotency;
- voiding an attempt whose customer was never dialed (the agent did not answer);
- the abandon counters the pacing controller works from, and the leads left, which the
  campaign runner re-reads every minute or so (``cti/outbound/counts.py`` keeps them in
  between), leaving out the attempts and leads whose writes it has under way;
- what each campaign's pacer has learned (``campaign_pacing``), kept between runs.

Same conventions as :mod:`cti.db.campaign_repository`: frozen records out, writes commit
when the session had no transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Text,
    all_,
    and_,
    any_,
    delete,
    func,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from cti.db.campaign_models import (
    Campaign,
    CampaignPacing,
    DialAttempt,
    LeadRow,
    VoidedRequest,
)
from cti.db.campaign_records import (
    CampaignRecord,
    ClaimResult,
    LeadRecord,
    campaign_record,
    lead_record,
)
from cti.db.campaign_repository import number_histories, seats_of
from cti.db.cel_models import CelEvent
from cti.db.repositories import writing
from cti.outbound.settle import ChannelEvent
from dialer import compliance
from dialer.compliance import FrequencyCap
from dialer.pacing import AbandonCount, AbandonCounters
from dialer.pacing.snapshot import LOOKAHEAD_SECONDS
from dialer.schedule import Outcome, Window
from dialer.windows import DAY, MONTH

LIVE_OUTCOMES = (Outcome.ANSWERED.value, Outcome.ABANDONED.value)


@dataclass(frozen=True, slots=True)
class KeyedRequest:
    """What a click-to-dial request with an Idempotency-Key placed (its attempt may have
    been voided since: the key still maps to it)."""

    attempt_id: int
    call_id: str | None
    phone: str
    seat_id: str | None
    campaign_id: int | None


async def request_by_key(session: AsyncSession, key: str) -> KeyedRequest | None:
    row = await session.scalar(select(DialAttempt).where(DialAttempt.request_key == key))
    if row is not None:
        return KeyedRequest(row.id, row.call_id, row.phone, row.seat_id, row.campaign_id)
    gone = await session.get(VoidedRequest, key)
    if gone is None:
        return None
    return KeyedRequest(gone.attempt_id, gone.call_id, gone.phone, gone.seat_id,
                        gone.campaign_id)


async def _lock_number(session: AsyncSession, phone: str) -> None:
    # The same lock claim_dial takes: dials to one number are serialised everywhere.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:p, 0))"), {"p": phone}
    )


async def claim_manual(
    session: AsyncSession,
    phone: str,
    now: datetime,
    cap: FrequencyCap,
    *,
    campaign_id: int | None,
    windows: Sequence[Window] | None,
    zones: tuple[str, ...],
    call_id: str,
    seat_id: str,
    request_key: str | None,
) -> ClaimResult:
    """Gate an agent's dial of a number that is not a lead; record it when allowed."""
    async with writing(session):
        await _lock_number(session, phone)
        history = (await number_histories(session, [phone], campaign_id, now))[phone]
        decision = compliance.check_manual(history, cap, now, windows=windows, zones=zones)
        attempt_id: int | None = None
        if decision.allowed:
            attempt = DialAttempt(
                phone=phone, campaign_id=campaign_id, call_id=call_id, seat_id=seat_id,
                agent_reserved=True, started_at=now, request_key=request_key,
            )
            session.add(attempt)
            await session.flush()
            attempt_id = attempt.id
    return ClaimResult(decision=decision, attempt_id=attempt_id)


async def void_attempt(session: AsyncSession, attempt_id: int) -> None:
    """Forget an attempt whose customer was never dialed: it must not count toward the
    caps nor use up one of the lead's attempts, and the lead is due again at once (or,
    if the dial was a callback's, the callback is booked again as it was)."""
    async with writing(session):
        row = await session.get(DialAttempt, attempt_id, with_for_update=True)
        if row is None or row.outcome is not None:  # a call with an outcome was dialed
            return
        if row.lead_id is not None:
            lead = await session.get(LeadRow, row.lead_id, with_for_update=True)
            if lead is not None:
                lead.attempts = max(lead.attempts - 1, 0)
                lead.next_eligible_at = row.started_at
                if row.callback_at is not None and lead.callback_at is None:
                    lead.callback_at = row.callback_at
                    lead.callback_seat_id = row.callback_seat_id
                    lead.callback_user_id = row.callback_user_id
                if lead.attempts == 0:
                    lead.first_attempt_at = None
        if row.request_key is not None and row.call_id is not None:
            # The request's retries must find what it answered, not place a new call.
            session.add(VoidedRequest(
                request_key=row.request_key, attempt_id=row.id, call_id=row.call_id,
                phone=row.phone, seat_id=row.seat_id, campaign_id=row.campaign_id,
                voided_at=datetime.now(UTC)))
        await session.delete(row)


async def close_attempt(
    session: AsyncSession, attempt_id: int, outcome: Outcome, ended_at: datetime
) -> None:
    """Close an attempt that has no lead (click-to-dial of another number); the first
    outcome written stands (see ``record_outcome``)."""
    async with writing(session):
        row = await session.get(DialAttempt, attempt_id, with_for_update=True)
        if row is not None and row.outcome is None:
            row.outcome = outcome.value
            row.ended_at = ended_at
            row.abandoned = outcome is Outcome.ABANDONED


def _none_of(column: InstrumentedAttribute[int], ids: Collection[int]) -> ColumnElement[bool]:
    # One array parameter, whatever the number of ids: one prepared statement.
    return column != all_(literal(sorted(ids), ARRAY(BigInteger)))


async def abandon_counters(
    session: AsyncSession, campaign_id: int, now: datetime, midnight: datetime,
    exclude: Collection[int] = (),
) -> AbandonCounters:
    """Live answers and abandons since ``midnight``, over 24 hours and 30 days, and the
    part of the 24 hours that leaves the window within the controller's look-ahead;
    the attempts in ``exclude`` (ids) left out."""
    day_ago = now - DAY
    leaving_until = day_ago + timedelta(seconds=LOOKAHEAD_SECONDS)
    live = DialAttempt.outcome.in_(LIVE_OUTCOMES)
    started = DialAttempt.started_at

    def window(*conditions: ColumnElement[bool]) -> list[ColumnElement[int]]:
        return [func.count().filter(live, *conditions),
                func.count().filter(DialAttempt.abandoned, *conditions)]

    columns = [
        *window(started >= midnight),
        *window(started > day_ago),
        *window(started > now - MONTH),
        *window(started > day_ago, started <= leaving_until),
    ]
    row = (await session.execute(
        select(*columns).where(
            DialAttempt.campaign_id == campaign_id, started > now - MONTH,
            _none_of(DialAttempt.id, exclude),
        )
    )).one()
    counts = [AbandonCount(int(row[i]), int(row[i + 1])) for i in range(0, 8, 2)]
    return AbandonCounters(today=counts[0], day=counts[1], month=counts[2],
                           day_leaving=counts[3])


async def leaving_soon(
    session: AsyncSession, campaign_id: int, now: datetime, within: timedelta,
    exclude: Collection[int] = (),
) -> list[tuple[datetime, int, int]]:
    """The live outcomes that leave the rolling windows soon, grouped by start time, as
    (started_at, live answers, abandons), oldest first: those leaving the 24 hours within
    the look-ahead and ``within``, the 30 days within ``within``; ``exclude`` left out.

    With :func:`abandon_counters` at ``now`` they give the counters at any time up to
    ``now + within`` (``cti/outbound/counts.py``).
    """
    day_ago, month_ago = now - DAY, now - MONTH
    started = DialAttempt.started_at
    rows = await session.execute(
        select(started, func.count(), func.count().filter(DialAttempt.abandoned))
        .where(
            DialAttempt.campaign_id == campaign_id,
            DialAttempt.outcome.in_(LIVE_OUTCOMES),
            or_(and_(started > day_ago,
                     started <= day_ago + timedelta(seconds=LOOKAHEAD_SECONDS) + within),
                and_(started > month_ago, started <= month_ago + within)),
            _none_of(DialAttempt.id, exclude),
        )
        .group_by(started)
        .order_by(started)
    )
    return [(at, int(live), int(abandoned)) for at, live, abandoned in rows]


async def leads_left(
    session: AsyncSession, campaign_id: int, cap: int, exclude: Collection[int] = ()
) -> int:
    """Leads the campaign may still dial (not done for good), counted up to ``cap``: the
    pacer only needs to know whether the list is about to run out, and a bounded count
    stays cheap on a list of millions. The leads in ``exclude`` (ids) are left out."""
    pending = (
        select(LeadRow.id)
        .where(LeadRow.campaign_id == campaign_id, LeadRow.next_eligible_at.is_not(None),
               _none_of(LeadRow.id, exclude))
        .limit(cap)
        .subquery()
    )
    return int(await session.scalar(select(func.count()).select_from(pending)) or 0)


async def defer_lead(session: AsyncSession, lead_id: int, until: datetime | None, *,
                     seen: datetime | None) -> bool:
    """Keep the runner off a lead the gate refused until ``until`` (None: for good).

    ``seen``: the lead's next time when it was read. If it has moved since (a supervisor
    finished the lead, an agent's click-to-dial claimed it, a disposition rescheduled
    it), that change stands and nothing is written: a refusal decided on the old read
    must not make a finished lead due, or a lead on a call due again. False then.
    """
    async with writing(session):
        lead = await session.get(LeadRow, lead_id, with_for_update=True)
        if lead is None or lead.next_eligible_at != seen:
            return False
        lead.next_eligible_at = until
    return True


async def running_campaigns(session: AsyncSession) -> list[CampaignRecord]:
    """Every running campaign with its seats, in two queries whatever their number (the
    dialer asks every 2 s)."""
    rows = list(await session.scalars(
        select(Campaign).where(Campaign.state == "running").order_by(Campaign.id)))
    seats = await seats_of(session, [r.id for r in rows])
    return [campaign_record(r, seats[r.id]) for r in rows]


async def campaigns_left_open(session: AsyncSession, call_prefix: str
                              ) -> list[CampaignRecord]:
    """Every campaign, whatever its state, with attempts a runner placed (call id starting
    with ``call_prefix``: ``<node>:cti-dial-``) that have no outcome yet."""
    open_ids = select(DialAttempt.campaign_id).where(
        DialAttempt.outcome.is_(None), DialAttempt.lead_id.is_not(None),
        DialAttempt.call_id.startswith(call_prefix, autoescape=True))
    rows = list(await session.scalars(
        select(Campaign).where(Campaign.id.in_(open_ids)).order_by(Campaign.id)))
    seats = await seats_of(session, [r.id for r in rows])
    return [campaign_record(r, seats[r.id]) for r in rows]


async def due_callbacks(
    session: AsyncSession, campaign_id: int, until: datetime, limit: int = 20
) -> list[LeadRecord]:
    """Callbacks booked for a seat due by `until` (those whose time has come, with `until`
    now; the runner reads a few seconds ahead), oldest first."""
    rows = await session.scalars(
        select(LeadRow)
        .where(LeadRow.campaign_id == campaign_id, LeadRow.callback_seat_id.is_not(None),
               LeadRow.next_eligible_at <= until)
        .order_by(LeadRow.next_eligible_at, LeadRow.id)
        .limit(limit)
    )
    return [lead_record(r) for r in rows]


async def set_attempt_seat(session: AsyncSession, attempt_id: int, seat_id: str) -> None:
    """The seat the dialer connected the call to (screen pop, the agent's disposition)."""
    async with writing(session):
        row = await session.get(DialAttempt, attempt_id, with_for_update=True)
        if row is not None and row.seat_id is None:
            row.seat_id = seat_id


async def load_pacing(session: AsyncSession, campaign_id: int) -> dict[str, Any] | None:
    """What the campaign's pacer had learned when it was last saved, or None."""
    return await session.scalar(
        select(CampaignPacing.state).where(CampaignPacing.campaign_id == campaign_id))


async def save_pacing(session: AsyncSession, campaign_id: int, state: dict[str, Any],
                      at: datetime) -> None:
    """Keep what the campaign's pacer has learned (one row per campaign, replaced)."""
    statement = insert(CampaignPacing).values(campaign_id=campaign_id, state=state,
                                              saved_at=at)
    async with writing(session):
        await session.execute(statement.on_conflict_do_update(
            index_elements=[CampaignPacing.campaign_id],
            set_={"state": statement.excluded.state, "saved_at": statement.excluded.saved_at}))


# --- settling dials a runner no longer hears (cti/outbound/settle.py) ----------------


@dataclass(frozen=True, slots=True)
class OpenDial:
    """An attempt whose outcome is not written yet."""

    attempt_id: int
    lead_id: int | None
    call_id: str
    phone: str
    started_at: datetime


async def open_dials(session: AsyncSession, call_prefix: str, *,
                     campaign_id: int | None = None, started_before: datetime | None = None,
                     ) -> list[OpenDial]:
    """The attempts without an outcome whose call id starts with ``call_prefix`` (a
    campaign runner's: ``<node>:cti-dial-<campaign>-``; click-to-dial's:
    ``<node>:cti-c2d-``), of ``campaign_id`` if given, started before
    ``started_before`` if given; oldest first."""
    conditions = [DialAttempt.outcome.is_(None),
                  DialAttempt.call_id.startswith(call_prefix, autoescape=True)]
    if campaign_id is not None:
        conditions += [DialAttempt.campaign_id == campaign_id, DialAttempt.lead_id.is_not(None)]
    if started_before is not None:
        conditions.append(DialAttempt.started_at < started_before)
    rows = (await session.execute(
        select(DialAttempt.id, DialAttempt.lead_id, DialAttempt.call_id, DialAttempt.phone,
               DialAttempt.started_at)
        .where(*conditions).order_by(DialAttempt.id)
    )).all()
    return [OpenDial(r.id, r.lead_id, r.call_id, r.phone, r.started_at) for r in rows]


async def channel_events(session: AsyncSession, linkedids: Collection[str]
                         ) -> dict[str, list[ChannelEvent]]:
    """Asterisk's channel event log of the calls with these Linkedids, each in order."""
    found: dict[str, list[ChannelEvent]] = {linkedid: [] for linkedid in linkedids}
    if not found:
        return found
    rows = (await session.execute(
        select(CelEvent.linkedid, CelEvent.uniqueid, CelEvent.eventtype, CelEvent.eventtime,
               CelEvent.channame, CelEvent.userdeftype, CelEvent.extra)
        .where(CelEvent.linkedid == any_(literal(sorted(found), ARRAY(Text))))
        .order_by(CelEvent.id)
    )).all()
    for r in rows:
        found[r.linkedid].append(ChannelEvent(
            r.uniqueid, r.eventtype, r.eventtime.replace(tzinfo=UTC).timestamp(),
            r.channame or "", r.userdeftype, r.extra))
    return found


async def sweep_channel_events(session: AsyncSession, before: datetime) -> int:
    """Delete the channel event log's rows older than ``before``; how many."""
    async with writing(session):
        result = await session.execute(
            delete(CelEvent).where(CelEvent.eventtime < before.astimezone(UTC).replace(
                tzinfo=None)))
    return int(getattr(result, "rowcount", 0) or 0)


async def sweep_voided_requests(session: AsyncSession, before: datetime) -> int:
    """Forget the Idempotency-Keys of voided requests older than ``before`` (a client
    retries within minutes; a key kept as long as the channel event log is plenty)."""
    async with writing(session):
        result = await session.execute(
            delete(VoidedRequest).where(VoidedRequest.voided_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
