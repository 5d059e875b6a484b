"""Leads (screen pop, the gate's verdict), the DNC lists and dispositions for the routes.

Same rules as :mod:`cti.api.campaign_service`: validate first, one short session, store
errors translated into the API's.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller, Role, listed_seat
from cti.api.campaign_schemas import (
    CallbackOut,
    DialOut,
    DispositionIn,
    DispositionOut,
    DncAddedOut,
    DncIn,
    DncOut,
    LeadFieldsIn,
    LeadOut,
    LeadPatch,
    ScreenPopOut,
)
from cti.api.campaign_service import invalid_body
from cti.api.dial_service import dial_out, typed_number
from cti.api.errors import ApiError, Conflict, InvalidInput, NotFound
from cti.api.schemas import Page
from cti.api.sessions import db_session
from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.db import dial_history, lead_views
from cti.db import dnc_repository as dnc_repo
from cti.db.campaign_records import (
    CampaignRecord,
    FieldsTooLarge,
    LeadBusy,
    LeadRecord,
    LeadStatus,
    NotYourCall,
    UnknownCall,
)
from cti.db.dial_history import DialQuery
from cti.db.lead_views import Keep
from cti.reports.spreadsheet import BOM, cell, local_time
from dialer import compliance
from dialer.compliance import CampaignRules, NumberHistory
from dialer.dispositions import DispositionError
from dialer.leads import MAX_FIELDS_BYTES, fields_fit
from dialer.numbers import InvalidTimezone, iana_zone, is_region
from dialer.schedule import MAX_RETRY_DELAY

log = logging.getLogger(__name__)

#: A due time a moment in the past (a clock behind the client's) is taken as now.
DUE_AT_SLACK = timedelta(minutes=1)
#: The export's columns before the free fields, and its page of leads per query.
EXPORT_COLUMNS = (
    "lead_id", "phone", "grade", "status", "attempts", "first_attempt_at", "last_attempt_at",
    "last_outcome", "next_eligible_at", "callback_at", "callback_seat_id", "last_disposition",
    "last_disposition_notes", "last_disposition_seat", "last_disposition_at",
)
EXPORT_PAGE = 5_000
#: A lead's dials read at most (its attempts are capped far below: max_attempts).
MAX_LEAD_DIALS = 1_000


def lead_out(lead: LeadRecord, blocked_by: list[str], status: LeadStatus) -> LeadOut:
    held = status is LeadStatus.HELD
    return LeadOut(
        id=lead.id, campaign_id=lead.campaign_id, phone=lead.phone,
        timezones=list(lead.timezones), grade=lead.grade, attempts=lead.attempts,
        last_attempt_at=lead.last_attempt_at, last_outcome=lead.last_outcome,
        next_eligible_at=lead.next_eligible_at, callback_at=lead.callback_at,
        callback_seat_id=lead.callback_seat_id, fields=lead.fields, created_at=lead.created_at,
        status=status, held_by=lead.previewed_by if held else None,
        held_until=lead.previewed_until if held else None, blocked_by=blocked_by,
    )


def _listed(lead: LeadRecord, in_call: bool, rules: CampaignRules, history: NumberHistory,
            now: datetime) -> LeadOut:
    """A lead with where it stands and the gate's reasons against dialing it now."""
    reasons = compliance.check(lead.state(), rules, history, now).reasons
    return lead_out(lead, [r.value for r in reasons], lead.status(now, in_call=in_call))


class LeadService:
    """Leads as agents and supervisors see them: screen pop, the gate's verdict, where
    each stands and its dials."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings
        self._clock = clock

    async def _out(self, session: AsyncSession, lead: LeadRecord,
                   campaign: CampaignRecord | None = None) -> LeadOut:
        """One lead as `page` shows each (`campaign`: its own, when already read)."""
        now = self._clock()
        campaign = campaign or await self._campaign(session, lead.campaign_id)
        history = await repo.number_histories(session, [lead.phone], campaign.id, now)
        in_call = await lead_views.lead_in_call(session, lead, now)
        return _listed(lead, in_call, campaign.rules(), history[lead.phone], now)

    async def _campaign(self, session: AsyncSession, campaign_id: int) -> CampaignRecord:
        campaign = await repo.get_campaign(session, campaign_id)
        if campaign is None:
            raise NotFound("campaign", str(campaign_id))
        return campaign

    async def _lead(self, session: AsyncSession, campaign_id: int, lead_id: int
                    ) -> LeadRecord:
        lead = await repo.get_lead(session, lead_id)
        if lead is None or lead.campaign_id != campaign_id:
            raise NotFound("lead", str(lead_id))
        return lead

    async def _readable(self, session: AsyncSession, caller: Caller,
                        campaign: CampaignRecord) -> None:
        """Supervisors read any campaign's leads; agents those of a campaign they work
        (its seats, or its skill group's members), else 403."""
        if caller.role.allows(Role.SUPERVISOR) or (
                caller.seat_id is not None
                and await repo.works_campaign(session, campaign, caller.seat_id)):
            return
        raise ApiError("agents see the leads of the campaigns they work", code="forbidden",
                       status=403, details={"campaign_id": campaign.id, "seat": caller.seat_id})

    async def get(self, caller: Caller, campaign_id: int, lead_id: int) -> LeadOut:
        """One lead, to whom `page` would show it."""
        async with db_session(self._sessions) as session:
            campaign = await self._campaign(session, campaign_id)
            await self._readable(session, caller, campaign)
            lead = await self._lead(session, campaign_id, lead_id)
            return await self._out(session, lead, campaign)

    async def page(
        self, caller: Caller, campaign_id: int, *, status: LeadStatus | None,
        phone: str | None, customer: str | None, grade: str | None, limit: int, offset: int,
    ) -> Page[LeadOut]:
        """A campaign's leads in import order, filtered, each with the gate's verdict now
        (the page's numbers read in one query). Supervisors see any campaign's; agents
        those of a campaign they work, to find a customer's record and dial it."""
        now = self._clock()
        async with db_session(self._sessions) as session:
            campaign = await self._campaign(session, campaign_id)
            await self._readable(session, caller, campaign)
            region = campaign.default_region or self._settings.default_region
            e164 = None if phone is None else typed_number(phone, region, "phone", "query")
            found, total = await lead_views.list_leads(
                session, campaign_id, now, status=status, phone=e164, grade=grade,
                customer=customer, limit=limit, offset=offset)
            histories = await repo.number_histories(
                session, [lead.phone for lead, _ in found], campaign_id, now)
        rules = campaign.rules()
        items = [_listed(lead, in_call, rules, histories[lead.phone], now)
                 for lead, in_call in found]
        return Page[LeadOut](items=items, total=total, limit=limit, offset=offset)

    async def update(self, campaign_id: int, lead_id: int, body: LeadPatch, caller: Caller
                     ) -> LeadOut:
        """A supervisor's change to a lead (`lead_views.update_lead`), checked first."""
        sent = body.model_fields_set
        if not sent:
            raise InvalidInput("body", "nothing to change: send grade, fields, due_at or "
                               "finished", location="body")
        now = self._clock()
        due_at = body.due_at  # in UTC (UtcDateTime)
        if due_at is not None:
            if body.finished:
                raise InvalidInput("due_at", "a lead being finished is not due again",
                                   location="body")
            if due_at < now - DUE_AT_SLACK or due_at > now + MAX_RETRY_DELAY:
                raise InvalidInput("due_at", "must be from now to 90 days ahead",
                                   location="body")
        async with db_session(self._sessions) as session:
            try:
                lead = await lead_views.update_lead(
                    session, campaign_id, lead_id, now,
                    grade=(body.grade.value if body.grade else None) if "grade" in sent
                    else Keep.KEEP,
                    fields=body.fields, due_at=due_at, finished=body.finished,
                    fits=fields_fit)
            except LeadBusy as exc:
                raise Conflict(str(exc), details={"lead": lead_id}) from exc
            except FieldsTooLarge as exc:
                raise InvalidInput("fields", f"{exc}: at most {MAX_FIELDS_BYTES} bytes as "
                                   "JSON", location="body") from exc
            if lead is None:
                raise NotFound("lead", str(lead_id))
            await session.commit()
            log.info("campaign %d: lead %d changed by %s: %s", campaign_id, lead_id,
                     caller.username, ", ".join(sorted(sent)))
            return await self._out(session, lead)

    async def callbacks(
        self, caller: Caller, *, seat_id: str | None, campaign_id: int | None,
        until: datetime | None, limit: int, offset: int,
    ) -> Page[CallbackOut]:
        """Callbacks still to be made, soonest first: agents their own seat's (the
        default), supervisors anyone's."""
        now = self._clock()
        async with db_session(self._sessions) as session:
            found, total = await lead_views.booked_callbacks(
                session, seat_id=listed_seat(caller, seat_id), campaign_id=campaign_id,
                until=until, limit=limit, offset=offset)
        items = []
        for c in found:
            lead = c.lead
            assert lead.callback_at is not None  # the query's condition
            items.append(CallbackOut(
                lead_id=lead.id, campaign_id=lead.campaign_id, campaign_name=c.campaign_name,
                phone=lead.phone, customer=lead.fields, callback_at=lead.callback_at,
                overdue=lead.callback_at < now, seat_id=lead.callback_seat_id,
                notes=c.booked.notes if c.booked else "",
                booked_at=c.booked.created_at if c.booked else None))
        return Page[CallbackOut](items=items, total=total, limit=limit, offset=offset)

    async def export(self, campaign_id: int, status: LeadStatus | None, tz: str | None
                     ) -> tuple[str, AsyncIterator[bytes]]:
        """The campaign's leads as CSV (a file name, and its bytes streamed page by page):
        where each stands, its dials, the last disposition, and every free field as a
        column; times in `tz` (default: the campaign's zone, else UTC)."""
        async with db_session(self._sessions) as session:
            campaign = await self._campaign(session, campaign_id)
            names = await lead_views.field_names(session, campaign_id)
        try:
            zone = iana_zone(tz) if tz else ZoneInfo(campaign.default_timezone or "UTC")
        except (InvalidTimezone, ZoneInfoNotFoundError, ValueError):
            raise InvalidInput("tz", f"unknown time zone {tz!r}", location="query") from None
        return f"campaign-{campaign_id}-leads.csv", self._csv(campaign_id, status, zone, names)

    async def _csv(self, campaign_id: int, status: LeadStatus | None, zone: ZoneInfo,
                   names: list[str]) -> AsyncIterator[bytes]:
        now = self._clock()
        buf = io.StringIO()
        out = csv.writer(buf)
        # A free field named like one of ours keeps a prefix, so no column is ambiguous.
        out.writerow([*EXPORT_COLUMNS,
                      *(cell(f"fields.{n}" if n in EXPORT_COLUMNS else n) for n in names)])
        yield (BOM + buf.getvalue()).encode()
        after = 0
        while True:
            async with db_session(self._sessions) as session:
                page = await lead_views.leads_after(session, campaign_id, now, after,
                                                    EXPORT_PAGE, status)
            if not page:
                return
            buf.seek(0)
            buf.truncate()
            for line in page:
                lead, note = line.lead, line.last_disposition
                out.writerow([
                    lead.id, lead.phone, cell(lead.grade), line.status.value, lead.attempts,
                    local_time(line.first_attempt_at, zone),
                    local_time(lead.last_attempt_at, zone), cell(lead.last_outcome),
                    local_time(lead.next_eligible_at, zone), local_time(lead.callback_at, zone),
                    cell(lead.callback_seat_id),
                    cell(note and note.code), cell(note and note.notes),
                    cell(note and note.seat_id),
                    local_time(note.created_at if note else None, zone),
                    *(cell(lead.fields.get(n)) for n in names),
                ])
                after = lead.id
            yield buf.getvalue().encode()

    async def attempts(self, campaign_id: int, lead_id: int) -> list[DialOut]:
        """Every dial of a lead, oldest first, with its dispositions."""
        async with db_session(self._sessions) as session:
            lead = await self._lead(session, campaign_id, lead_id)
            # By phone too: the phone is indexed (the gate reads it), the lead is not.
            dials, _ = await dial_history.search(
                session, DialQuery(phone=lead.phone, lead_id=lead.id),
                limit=MAX_LEAD_DIALS, offset=0, newest_first=False)
        return [dial_out(d) for d in dials]

    async def for_call(self, call_id: str, caller: Caller) -> ScreenPopOut:
        """The screen pop: agents see it for their own calls, and for the calls of a
        campaign they work (`page`'s rule); supervisors for any."""
        async with db_session(self._sessions) as session:
            lead = await repo.lead_for_call(session, call_id)
            if lead is None:
                raise NotFound("call", call_id)
            campaign = await self._campaign(session, lead.campaign_id)
            if caller.role is Role.AGENT:
                attempt = await repo.call_attempt(session, call_id)
                if caller.seat_id is None or attempt.seat_id != caller.seat_id:
                    await self._readable(session, caller, campaign)
            return await self._screen(session, lead, campaign)

    async def _screen(self, session: AsyncSession, lead: LeadRecord,
                      campaign: CampaignRecord | None = None) -> ScreenPopOut:
        campaign = campaign or await self._campaign(session, lead.campaign_id)
        return ScreenPopOut(lead=await self._out(session, lead, campaign),
                            campaign_name=campaign.name, script=campaign.script)

    async def update_fields(self, call_id: str, body: LeadFieldsIn, caller: Caller
                            ) -> ScreenPopOut:
        """The agent on a campaign call notes what the customer tells (other numbers,
        e-mail...) on the call's lead; agents on their own calls, supervisors on any."""
        async with db_session(self._sessions) as session, agents_own_call(call_id):
            try:
                lead = await repo.update_lead_fields(session, call_id, body.fields,
                                                     fits=fields_fit, only_seat=_only(caller))
            except FieldsTooLarge as exc:
                raise InvalidInput("fields", f"{exc}: at most {MAX_FIELDS_BYTES} bytes as "
                                   "JSON", location="body") from exc
            if lead is None:
                raise NotFound("lead of call", call_id)
            log.info("call %s: lead %d fields %s", call_id, lead.id,
                     ", ".join(sorted(body.fields)))
            return await self._screen(session, lead)


def _only(caller: Caller) -> str | None:
    """The seat whose calls `caller` may act on: agents their own, supervisors any (None)."""
    return (caller.seat_id or "") if caller.role is Role.AGENT else None


@asynccontextmanager
async def agents_own_call(call_id: str) -> AsyncIterator[None]:
    """The store's errors about a call, as the API's: 404 unknown, 403 another seat's."""
    try:
        yield
    except UnknownCall as exc:
        raise NotFound("call", call_id) from exc
    except NotYourCall as exc:
        raise ApiError(str(exc), code="forbidden", status=403,
                       details={"seat_id": exc.seat_id}) from exc


def _user_id(caller: Caller) -> int | None:
    return caller.user_id if isinstance(caller.user_id, int) else None


class DncService:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: DialerSettings
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings

    def normalise(self, phone: str, region: str | None, field: str, location: str) -> str:
        """`phone` in E.164: national in `region` (default: the service's). A region
        phonenumbers does not know is the error, not the number read in it."""
        if region is not None and not is_region(region):
            raise InvalidInput("region", f"not a known region code: {region!r}",
                               location=location)
        return typed_number(phone, region or self._settings.default_region, field, location)

    async def _check_campaign(self, session: AsyncSession, campaign_id: int | None) -> None:
        if campaign_id is not None and await repo.get_campaign(session, campaign_id) is None:
            raise NotFound("campaign", str(campaign_id))

    async def list(
        self, *, phone: str | None, campaign_id: int | None, limit: int, offset: int
    ) -> Page[DncOut]:
        e164 = None if phone is None else self.normalise(phone, None, "phone", "query")
        async with db_session(self._sessions) as session:
            records, total = await dnc_repo.list_dnc(
                session, campaign_id=campaign_id, phone=e164, limit=limit, offset=offset
            )
        items = [DncOut(phone=r.phone, campaign_id=r.campaign_id, reason=r.reason,
                        source=r.source, created_by=r.created_by, created_at=r.created_at)
                 for r in records]
        return Page[DncOut](items=items, total=total, limit=limit, offset=offset)

    async def add(self, body: DncIn, caller: Caller) -> DncAddedOut:
        e164 = self.normalise(body.phone, body.region, "phone", "body")
        async with db_session(self._sessions) as session:
            await self._check_campaign(session, body.campaign_id)
            added = await dnc_repo.add_dnc(session, e164, campaign_id=body.campaign_id,
                                       reason=body.reason, source="api",
                                       created_by=_user_id(caller))
            await session.commit()
        log.info("%s added to the %s DNC by %s", e164,
                 "global" if body.campaign_id is None else f"campaign {body.campaign_id}",
                 caller.username)
        return DncAddedOut(phone=e164, campaign_id=body.campaign_id, added=added)

    async def remove(self, phone: str, campaign_id: int | None, caller: Caller,
                     region: str | None = None) -> None:
        """Take `phone` off a list: E.164, or national in `region` as when it was added."""
        if region is not None and not is_region(region):
            raise InvalidInput("region", f"not a known region code: {region!r}")
        e164 = self.normalise(phone, region, "phone", "path")
        async with db_session(self._sessions) as session:
            removed = await dnc_repo.remove_dnc(session, e164, campaign_id=campaign_id)
        if not removed:
            raise NotFound("dnc entry", e164)
        log.info("%s removed from the %s DNC by %s", e164,
                 "global" if campaign_id is None else f"campaign {campaign_id}", caller.username)


class DispositionService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._clock = clock

    async def record(self, call_id: str, body: DispositionIn, caller: Caller) -> DispositionOut:
        async with db_session(self._sessions) as session, agents_own_call(call_id):
            try:
                d = await dnc_repo.record_disposition(
                    session, call_id, body.code, self._clock(), notes=body.notes,
                    grade=body.grade, callback_at=body.callback_at, user_id=_user_id(caller),
                    seat_id=caller.seat_id, only_seat=_only(caller),
                )
            except DispositionError as exc:
                raise invalid_body(exc) from exc
        return DispositionOut(
            id=d.id, call_id=d.call_id, campaign_id=d.campaign_id, lead_id=d.lead_id,
            phone=d.phone, code=d.code, notes=d.notes, grade=d.grade, callback_at=d.callback_at,
            callback_seat_id=d.seat_id if d.callback_at else None, added_to_dnc=d.added_to_dnc,
            next_eligible_at=d.next_eligible_at, created_at=d.created_at,
        )
