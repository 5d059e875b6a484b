"""Campaigns, leads, DNC and dispositions for the REST routes.

Validates what the schemas cannot (through the pure rules in :mod:`dialer`), then calls the
campaign store (:mod:`cti.db.campaign_repository`) in one short session per request, and
translates the store's errors into the API's (:mod:`cti.api.errors`). A request is either
applied whole or refused before anything is written.
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller
from cti.api.campaign_schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatsOut,
    DispositionIn,
    DispositionOut,
    DncAddedOut,
    DncIn,
    DncOut,
    ImportReportOut,
    LeadOut,
    RowErrorOut,
    ScreenPopOut,
    WindowIn,
    WindowOut,
)
from cti.api.errors import ApiError, InvalidInput, NotFound, Unavailable
from cti.api.schemas import Page
from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from dialer.campaign import (
    InvalidTransition,
    State,
    Transition,
    allowed_transitions,
    cadences_to_json,
    delays_to_json,
    rules_from_json,
    transition,
)
from dialer.dispositions import DispositionError
from dialer.leads import Format, ImportOptions
from dialer.numbers import InvalidNumber, is_region, is_timezone, parse_number
from dialer.schedule import (
    ScheduleError,
    validate_cadences,
    validate_retry_delays,
)

log = logging.getLogger(__name__)

# As in cti.api.store: "the database is not reachable", not "our query is wrong".
_UNAVAILABLE = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,
    OSError,
    TimeoutError,
)

CONTENT_TYPES: dict[str, Format] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/json": "json",
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
}


class Conflict(ApiError):
    code = "conflict"
    status = 409


def _body_error(exc: ScheduleError | DispositionError) -> InvalidInput:
    return InvalidInput(exc.field, exc.message, location="body")


@asynccontextmanager
async def _session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    try:
        async with maker() as session:
            yield session
    except _UNAVAILABLE as exc:
        log.warning("database unavailable: %s", exc)
        raise Unavailable("database") from exc


def campaign_out(c: repo.CampaignRecord) -> CampaignOut:
    return CampaignOut(
        id=c.id, name=c.name, state=c.state,
        allowed_transitions=[t.value for t in allowed_transitions(State(c.state))],
        mode=c.mode, caller_id=c.caller_id, skill_group=c.skill_group, seats=list(c.seats),
        default_region=c.default_region, default_timezone=c.default_timezone,
        windows=[WindowOut(**w) for w in _windows_out(c.windows)],
        max_attempts=c.max_attempts, retry_delays=c.retry_delays,
        grade_cadences=c.grade_cadences, cap_per_day=c.cap_per_day,
        cap_per_week=c.cap_per_week, script=c.script, created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _windows_out(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"start": w["start"], "end": w["end"], "days": list(w["days"])} for w in raw]


def _windows_json(windows: list[WindowIn]) -> list[dict[str, Any]]:
    return [{"start": w.start, "end": w.end, "days": sorted(set(w.days))} for w in windows]


def validated_values(fields: dict[str, Any]) -> dict[str, Any]:
    """Campaign columns from API fields, checked against the dialing rules.

    ``fields`` holds every rule column (a create body, or a record merged with a patch).
    Raises :class:`InvalidInput` naming the first offending field.
    """
    region = fields.get("default_region")
    if region is not None and not is_region(region):
        raise InvalidInput("default_region", "not a known region code", location="body")
    zone = fields.get("default_timezone")
    if zone is not None and not is_timezone(zone):
        raise InvalidInput("default_timezone", f"unknown time zone {zone!r}", location="body")
    if fields["cap_per_week"] < fields["cap_per_day"]:
        raise InvalidInput("cap_per_week", "must be at least cap_per_day", location="body")
    try:
        delays = validate_retry_delays(
            {k: timedelta(seconds=v) for k, v in fields["retry_delays"].items()}
        )
        cadences = validate_cadences(
            {k: None if v is None else timedelta(days=v)
             for k, v in fields["grade_cadences"].items()}
        )
        values = dict(fields)
        values["retry_delays"] = delays_to_json(delays)
        values["grade_cadences"] = cadences_to_json(cadences)
        rules_from_json(values["windows"], values["retry_delays"], values["grade_cadences"],
                        values["max_attempts"], values["cap_per_day"], values["cap_per_week"])
    except ScheduleError as exc:
        raise _body_error(exc) from exc
    return values


class CampaignService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings
        self._clock = clock

    async def _record(self, session: AsyncSession, campaign_id: int) -> repo.CampaignRecord:
        record = await repo.get_campaign(session, campaign_id)
        if record is None:
            raise NotFound("campaign", str(campaign_id))
        return record

    async def create(self, body: CampaignIn) -> CampaignOut:
        fields = body.model_dump(exclude={"seats", "windows"})
        fields["windows"] = _windows_json(body.windows)
        values = validated_values(fields)
        async with _session(self._sessions) as session:
            try:
                record = await repo.create_campaign(session, values, body.seats)
            except repo.CampaignNameTaken as exc:
                raise Conflict(f"a campaign named {body.name!r} exists",
                               details={"field": "name"}) from exc
        log.info("campaign %d %r created (%s)", record.id, record.name, record.mode)
        return campaign_out(record)

    async def list(self, *, limit: int, offset: int) -> Page[CampaignOut]:
        async with _session(self._sessions) as session:
            records, total = await repo.list_campaigns(session, limit=limit, offset=offset)
        return Page[CampaignOut](items=[campaign_out(r) for r in records], total=total,
                                 limit=limit, offset=offset)

    async def get(self, campaign_id: int) -> CampaignOut:
        async with _session(self._sessions) as session:
            return campaign_out(await self._record(session, campaign_id))

    async def update(self, campaign_id: int, patch: CampaignPatch) -> CampaignOut:
        given = patch.model_dump(exclude_unset=True)
        for key in ("name", "mode", "caller_id", "max_attempts", "retry_delays",
                    "grade_cadences", "cap_per_day", "cap_per_week", "windows", "seats"):
            if key in given and given[key] is None:
                raise InvalidInput(key, "may not be null", location="body")
        async with _session(self._sessions) as session:
            current = await self._record(session, campaign_id)
            merged: dict[str, Any] = {
                "name": current.name, "mode": current.mode, "caller_id": current.caller_id,
                "skill_group": current.skill_group, "default_region": current.default_region,
                "default_timezone": current.default_timezone, "windows": current.windows,
                "max_attempts": current.max_attempts, "retry_delays": current.retry_delays,
                "grade_cadences": current.grade_cadences, "cap_per_day": current.cap_per_day,
                "cap_per_week": current.cap_per_week,
            }
            seats = given.pop("seats", None)
            if "windows" in given:
                given["windows"] = _windows_json(patch.windows or [])
            if "retry_delays" in given:  # a patch of delays adds to the current ones
                given["retry_delays"] = {**current.retry_delays, **given["retry_delays"]}
            if "grade_cadences" in given:
                given["grade_cadences"] = {**current.grade_cadences, **given["grade_cadences"]}
            merged.update(given)
            values = validated_values(merged)
            changed = {k: values[k] for k in given}
            try:
                record = await repo.update_campaign(session, campaign_id, changed, seats)
            except repo.CampaignNameTaken as exc:
                raise Conflict(f"a campaign named {merged['name']!r} exists",
                               details={"field": "name"}) from exc
            await session.commit()
        assert record is not None
        log.info("campaign %d updated: %s", campaign_id, ", ".join(sorted(given)) or "seats")
        return campaign_out(record)

    async def set_script(self, campaign_id: int, script: str) -> CampaignOut:
        async with _session(self._sessions) as session:
            record = await repo.update_campaign(session, campaign_id, {"script": script})
            if record is None:
                raise NotFound("campaign", str(campaign_id))
        return campaign_out(record)

    async def change(self, campaign_id: int, event: Transition) -> CampaignOut:
        async with _session(self._sessions) as session:
            current = await self._record(session, campaign_id)
            state = State(current.state)
            try:
                new = transition(state, event)
            except InvalidTransition as exc:
                raise Conflict(str(exc), details={
                    "state": state.value,
                    "allowed": [t.value for t in allowed_transitions(state)],
                }) from exc
            if new is State.RUNNING and not current.seats and current.skill_group is None:
                raise Conflict("the campaign has no seats and no skill group to dial for",
                               details={"fields": ["seats", "skill_group"]})
            await session.commit()  # end the read; the change takes its own lock
            try:
                record = await repo.change_state(session, campaign_id, state, new)
            except repo.StateConflict as exc:
                raise Conflict(f"the campaign changed meanwhile: it is {exc.actual}",
                               details={"state": exc.actual}) from exc
        assert record is not None
        log.info("campaign %d: %s -> %s -> %s", campaign_id, state.value, event.value, new.value)
        return campaign_out(record)

    async def stats(self, campaign_id: int) -> CampaignStatsOut:
        async with _session(self._sessions) as session:
            record = await self._record(session, campaign_id)
            s = await repo.campaign_stats(session, campaign_id, self._clock())
        return CampaignStatsOut(
            campaign_id=campaign_id, state=record.state, leads=s.leads, leads_due=s.leads_due,
            leads_finished=s.leads_finished, leads_never_called=s.leads_never_called,
            leads_overdue=s.leads_overdue,
            attempts=s.attempts, in_progress=s.in_progress, outcomes=s.outcomes,
            abandoned=s.abandoned, abandon_rate=s.abandon_rate, dispositions=s.dispositions,
        )

    async def import_leads(
        self,
        campaign_id: int,
        chunks: AsyncIterable[bytes],
        *,
        content_type: str | None,
        fmt: Format | None,
        encoding: str | None,
        region: str | None,
    ) -> ImportReportOut:
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise InvalidInput("encoding", f"unknown encoding {encoding!r}") from exc
        if region is not None and not is_region(region):
            raise InvalidInput("default_region", "not a region code phonenumbers knows")
        if fmt is None and content_type:
            fmt = CONTENT_TYPES.get(content_type.split(";")[0].strip().lower())
            if fmt == "json":
                fmt = None  # an array or NDJSON: the first character tells
        async with _session(self._sessions) as session:
            record = await self._record(session, campaign_id)
        if record.state == State.STOPPED.value:
            raise Conflict("the campaign is stopped: it takes no new leads",
                           details={"state": record.state})
        options = ImportOptions(
            default_region=region or record.default_region or self._settings.default_region,
            default_timezone=record.default_timezone,
            encoding=encoding,
            format=fmt,
            windows=record.rules().cadence.windows,
        )
        async with _session(self._sessions) as session:
            report = await repo.import_leads(
                session, campaign_id, chunks, options, now=self._clock(),
                batch_size=self._settings.import_batch_size,
                max_errors=self._settings.max_reported_errors,
                progress=lambda p: log.info(
                    "campaign %d import: %d rows, %d imported, %d rejected",
                    campaign_id, p.rows, p.imported, p.rejected),
            )
        return ImportReportOut(
            campaign_id=campaign_id, rows=report.rows, imported=report.imported,
            rejected=report.rejected, duplicates_in_list=report.duplicates_in_list,
            duplicates_in_campaign=report.duplicates_in_campaign, encoding=report.encoding,
            format=report.format,
            errors=[RowErrorOut(row=e.row, field=e.field, code=e.code, message=e.message,
                                value=e.value) for e in report.errors],
            errors_by_code=report.errors_by_code, errors_truncated=report.errors_truncated,
        )


def lead_out(lead: repo.LeadRecord, blocked_by: list[str]) -> LeadOut:
    return LeadOut(
        id=lead.id, campaign_id=lead.campaign_id, phone=lead.phone,
        timezones=list(lead.timezones), grade=lead.grade, attempts=lead.attempts,
        last_attempt_at=lead.last_attempt_at, last_outcome=lead.last_outcome,
        next_eligible_at=lead.next_eligible_at, callback_at=lead.callback_at,
        callback_seat_id=lead.callback_seat_id, fields=lead.fields, created_at=lead.created_at,
        blocked_by=blocked_by,
    )


class LeadService:
    """Leads as agents and supervisors see them: screen pop and the gate's verdict."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._clock = clock

    async def _out(self, session: AsyncSession, lead: repo.LeadRecord) -> LeadOut:
        decision = await repo.check_lead(session, lead.id, self._clock())
        assert decision is not None
        return lead_out(lead, [r.value for r in decision.reasons])

    async def get(self, campaign_id: int, lead_id: int) -> LeadOut:
        async with _session(self._sessions) as session:
            lead = await repo.get_lead(session, lead_id)
            if lead is None or lead.campaign_id != campaign_id:
                raise NotFound("lead", str(lead_id))
            return await self._out(session, lead)

    async def for_call(self, call_id: str) -> ScreenPopOut:
        async with _session(self._sessions) as session:
            lead = await repo.lead_for_call(session, call_id)
            if lead is None:
                raise NotFound("call", call_id)
            campaign = await repo.get_campaign(session, lead.campaign_id)
            assert campaign is not None
            return ScreenPopOut(lead=await self._out(session, lead),
                                campaign_name=campaign.name, script=campaign.script)


def _user_id(caller: Caller) -> int | None:
    return caller.user_id if isinstance(caller.user_id, int) else None


class DncService:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: DialerSettings
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings

    def normalise(self, phone: str, region: str | None, field: str, location: str) -> str:
        try:
            return parse_number(phone, region or self._settings.default_region).e164
        except InvalidNumber as exc:
            raise InvalidInput(field, str(exc), location=location) from exc

    async def _check_campaign(self, session: AsyncSession, campaign_id: int | None) -> None:
        if campaign_id is not None and await repo.get_campaign(session, campaign_id) is None:
            raise NotFound("campaign", str(campaign_id))

    async def list(
        self, *, phone: str | None, campaign_id: int | None, limit: int, offset: int
    ) -> Page[DncOut]:
        e164 = None if phone is None else self.normalise(phone, None, "phone", "query")
        async with _session(self._sessions) as session:
            records, total = await repo.list_dnc(
                session, campaign_id=campaign_id, phone=e164, limit=limit, offset=offset
            )
        items = [DncOut(phone=r.phone, campaign_id=r.campaign_id, reason=r.reason,
                        source=r.source, created_by=r.created_by, created_at=r.created_at)
                 for r in records]
        return Page[DncOut](items=items, total=total, limit=limit, offset=offset)

    async def add(self, body: DncIn, caller: Caller) -> DncAddedOut:
        e164 = self.normalise(body.phone, body.region, "phone", "body")
        async with _session(self._sessions) as session:
            await self._check_campaign(session, body.campaign_id)
            added = await repo.add_dnc(session, e164, campaign_id=body.campaign_id,
                                       reason=body.reason, source="api",
                                       created_by=_user_id(caller))
            await session.commit()
        log.info("%s added to the %s DNC by %s", e164,
                 "global" if body.campaign_id is None else f"campaign {body.campaign_id}",
                 caller.username)
        return DncAddedOut(phone=e164, campaign_id=body.campaign_id, added=added)

    async def remove(self, phone: str, campaign_id: int | None, caller: Caller) -> None:
        e164 = self.normalise(phone, None, "phone", "path")
        async with _session(self._sessions) as session:
            removed = await repo.remove_dnc(session, e164, campaign_id=campaign_id)
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
        async with _session(self._sessions) as session:
            try:
                d = await repo.record_disposition(
                    session, call_id, body.code, self._clock(), notes=body.notes,
                    grade=body.grade, callback_at=body.callback_at, user_id=_user_id(caller),
                    seat_id=caller.seat_id,
                )
            except repo.UnknownCall as exc:
                raise NotFound("call", call_id) from exc
            except DispositionError as exc:
                raise _body_error(exc) from exc
        return DispositionOut(
            id=d.id, call_id=d.call_id, campaign_id=d.campaign_id, lead_id=d.lead_id,
            phone=d.phone, code=d.code, notes=d.notes, grade=d.grade, callback_at=d.callback_at,
            callback_seat_id=d.seat_id if d.callback_at else None, added_to_dnc=d.added_to_dnc,
            next_eligible_at=d.next_eligible_at, created_at=d.created_at,
        )
