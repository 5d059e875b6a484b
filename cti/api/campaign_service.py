"""Campaigns, leads, DNC and dispositions for the REST routes.

Validates what the schemas cannot (through the pure rules in :mod:`dialer`), then calls the
campaign store (:mod:`cti.db.campaign_repository`) in one short session per request, and
translates the store's errors into the API's (:mod:`cti.api.errors`). A request is either
applied whole or refused before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.campaign_schemas import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatsOut,
    WindowIn,
    WindowOut,
)
from cti.api.directory import Directory
from cti.api.errors import ApiError, InvalidInput, NotFound
from cti.api.schemas import Page
from cti.api.sessions import db_session
from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.db.campaign_records import (
    CampaignNameTaken,
    CampaignRecord,
    StateConflict,
)
from cti.telephony.sounds import SoundLibrary
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
from dialer.numbers import InvalidNumber, caller_id_e164, is_region, is_timezone
from dialer.schedule import (
    MAX_RETRY_DELAY,
    Grade,
    ScheduleError,
    validate_cadences,
    validate_retry_delays,
)

log = logging.getLogger(__name__)


class Conflict(ApiError):
    code = "conflict"
    status = 409


def invalid_body(exc: ScheduleError | DispositionError) -> InvalidInput:
    return InvalidInput(exc.field, exc.message, location="body")


def campaign_out(c: CampaignRecord) -> CampaignOut:
    return CampaignOut(
        id=c.id, name=c.name, state=c.state,
        allowed_transitions=[t.value for t in allowed_transitions(State(c.state))],
        mode=c.mode, caller_id=c.caller_id, skill_group=c.skill_group, seats=list(c.seats),
        default_region=c.default_region, default_timezone=c.default_timezone,
        windows=[WindowOut(**w) for w in _windows_out(c.windows)],
        max_attempts=c.max_attempts, retry_delays=c.retry_delays,
        grade_cadences=c.grade_cadences, cap_per_day=c.cap_per_day,
        cap_per_week=c.cap_per_week, script=c.script, abandon_message=c.abandon_message,
        abandon_target=c.abandon_target, created_at=c.created_at, updated_at=c.updated_at,
    )


def _windows_out(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"start": w["start"], "end": w["end"], "days": list(w["days"])} for w in raw]


def _windows_json(windows: list[WindowIn]) -> list[dict[str, Any]]:
    return [{"start": w.start, "end": w.end, "days": sorted(set(w.days))} for w in windows]


# Past the longest delay allowed a count of seconds may not fit a timedelta (or a C int):
# it is brought to just past the limit, for the rule to refuse with its own message.
_DELAY_CAP = int(MAX_RETRY_DELAY.total_seconds()) + 1


def _delay(seconds: int) -> timedelta:
    return timedelta(seconds=max(-_DELAY_CAP, min(seconds, _DELAY_CAP)))


def _cadences(given: dict[Grade, int | None]) -> dict[Grade, timedelta | None]:
    """Grade cadences in days as timedeltas; a count of days out of range is refused here,
    in days (the rule's own message speaks of minutes), before it could overflow."""
    days = MAX_RETRY_DELAY.days
    for grade, every in given.items():
        if every is not None and not 1 <= every <= days:
            raise InvalidInput(f"grade_cadences.{grade}", f"must be from 1 to {days} days "
                               "(null: the grade gets no more calls)", location="body")
    return {k: None if v is None else timedelta(days=v) for k, v in given.items()}


def _caps(fields: dict[str, Any], changed: Collection[str]) -> None:
    """At most as many dials a day as a week, naming the cap the client set."""
    day, week = fields["cap_per_day"], fields["cap_per_week"]
    if week >= day:
        return
    if "cap_per_day" in changed and "cap_per_week" not in changed:
        raise InvalidInput("cap_per_day", f"must be at most cap_per_week ({week})",
                           location="body")
    raise InvalidInput("cap_per_week", f"must be at least cap_per_day ({day})",
                       location="body")


def validated_values(fields: dict[str, Any], changed: Collection[str],
                     default_region: str) -> dict[str, Any]:
    """Campaign columns from API fields, checked against the dialing rules.

    ``fields`` holds every rule column (a create body, or a record merged with a patch);
    ``changed`` names those the client sent. The caller ID, when sent, is stored in
    E.164, as the trunk is given it (national numbers are read in the campaign's region,
    else ``default_region``). Raises :class:`InvalidInput` naming the first offending
    field.
    """
    region = fields.get("default_region")
    if region is not None and not is_region(region):
        raise InvalidInput("default_region", "not a known region code", location="body")
    zone = fields.get("default_timezone")
    if zone is not None and not is_timezone(zone):
        raise InvalidInput("default_timezone", f"unknown time zone {zone!r}: give an IANA "
                           "zone such as Asia/Shanghai", location="body")
    values = dict(fields)
    if "caller_id" in changed:
        try:
            values["caller_id"] = caller_id_e164(fields["caller_id"], region or default_region)
        except InvalidNumber as exc:
            raise InvalidInput("caller_id", str(exc), location="body") from exc
    _caps(fields, changed)
    try:
        delays = validate_retry_delays(
            {k: _delay(v) for k, v in fields["retry_delays"].items()}
        )
        cadences = validate_cadences(_cadences(fields["grade_cadences"]))
        values["retry_delays"] = delays_to_json(delays)
        values["grade_cadences"] = cadences_to_json(cadences)
        rules_from_json(values["windows"], values["retry_delays"], values["grade_cadences"],
                        values["max_attempts"], values["cap_per_day"], values["cap_per_week"])
    except ScheduleError as exc:
        raise invalid_body(exc) from exc
    return values


def _keeps_agents(current: CampaignRecord, seats: Sequence[str] | None,
                  skill_group: str | None, given: Collection[str]) -> None:
    """A running or paused campaign keeps seats or a skill group to dial for: without
    either it would dial for nobody, and could not be started again. (A draft may be
    set up without them; ``start`` refuses it then.)"""
    if current.state not in (State.RUNNING.value, State.PAUSED.value):
        return
    if (current.seats if seats is None else seats) or skill_group is not None:
        return
    raise InvalidInput("seats" if "seats" in given else "skill_group",
                       f"a {current.state} campaign needs seats or a skill group to dial "
                       "for", location="body")


class CampaignService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        sounds: SoundLibrary,
        directory: Directory,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings
        self._sounds = sounds
        self._directory = directory
        self._clock = clock

    def _check_abandon_message(self, name: str | None) -> None:
        """The message must exist: a missing one is skipped at play time, and the
        abandoned customer would hear nothing instead of who called."""
        if name is not None and not self._sounds.exists(name):
            raise InvalidInput("abandon_message", f"no sound named {name!r} on the Asterisk "
                               "node (upload one with PUT .../abandon-message)", location="body")

    async def _unknown_agents(self, seats: Sequence[str], skill_group: str | None
                              ) -> tuple[str, str] | None:
        """(field, why) for the first seat or the skill group nobody knows, or None."""
        unknown = await self._directory.unknown_seats(seats)
        if unknown:
            more = f" (unknown too: {', '.join(unknown[1:])})" if unknown[1:] else ""
            return (f"seats.{list(seats).index(unknown[0])}",
                    f"no seat {unknown[0]!r}: Asterisk does not report it and it is not "
                    f"registered (PUT /v1/seats/{unknown[0]}){more}")
        if skill_group is not None and not await self._directory.has_group(skill_group):
            return "skill_group", f"no skill group named {skill_group!r}"
        return None

    async def _check_agents(self, seats: Sequence[str], skill_group: str | None) -> None:
        seen: set[str] = set()
        for i, seat in enumerate(seats):
            if seat in seen:
                raise InvalidInput(f"seats.{i}", f"seat {seat!r} is listed twice",
                                   location="body")
            seen.add(seat)
        unknown = await self._unknown_agents(seats, skill_group)
        if unknown is not None:
            raise InvalidInput(*unknown, location="body")

    async def _record(self, session: AsyncSession, campaign_id: int) -> CampaignRecord:
        record = await repo.get_campaign(session, campaign_id)
        if record is None:
            raise NotFound("campaign", str(campaign_id))
        return record

    async def create(self, body: CampaignIn) -> CampaignOut:
        fields = body.model_dump(exclude={"seats", "windows"})
        fields["windows"] = _windows_json(body.windows)
        values = validated_values(fields, body.model_fields_set, self._settings.default_region)
        self._check_abandon_message(body.abandon_message)
        await self._check_agents(body.seats, body.skill_group)
        async with db_session(self._sessions) as session:
            try:
                record = await repo.create_campaign(session, values, body.seats)
            except CampaignNameTaken as exc:
                raise Conflict(f"a campaign named {body.name!r} exists",
                               details={"field": "name"}) from exc
        log.info("campaign %d %r created (%s)", record.id, record.name, record.mode)
        return campaign_out(record)

    async def list(self, *, state: State | None = None, limit: int, offset: int
                   ) -> Page[CampaignOut]:
        async with db_session(self._sessions) as session:
            records, total = await repo.list_campaigns(
                session, state=None if state is None else state.value, limit=limit,
                offset=offset)
        return Page[CampaignOut](items=[campaign_out(r) for r in records], total=total,
                                 limit=limit, offset=offset)

    async def get(self, campaign_id: int) -> CampaignOut:
        async with db_session(self._sessions) as session:
            return campaign_out(await self._record(session, campaign_id))

    async def update(self, campaign_id: int, patch: CampaignPatch) -> CampaignOut:
        given = patch.model_dump(exclude_unset=True)
        for key in ("name", "mode", "caller_id", "max_attempts", "retry_delays",
                    "grade_cadences", "cap_per_day", "cap_per_week", "windows", "seats",
                    "abandon_target"):
            if key in given and given[key] is None:
                raise InvalidInput(key, "may not be null", location="body")
        self._check_abandon_message(given.get("abandon_message"))
        await self._check_agents(given.get("seats") or [], given.get("skill_group"))
        async with db_session(self._sessions) as session:
            current = await self._record(session, campaign_id)
            merged: dict[str, Any] = {
                "name": current.name, "mode": current.mode, "caller_id": current.caller_id,
                "skill_group": current.skill_group, "default_region": current.default_region,
                "default_timezone": current.default_timezone, "windows": current.windows,
                "max_attempts": current.max_attempts, "retry_delays": current.retry_delays,
                "grade_cadences": current.grade_cadences, "cap_per_day": current.cap_per_day,
                "cap_per_week": current.cap_per_week,
                "abandon_message": current.abandon_message,
                "abandon_target": current.abandon_target,
            }
            seats = given.pop("seats", None)
            if "windows" in given:
                given["windows"] = _windows_json(patch.windows or [])
            if "retry_delays" in given:  # a patch of delays adds to the current ones
                given["retry_delays"] = {**current.retry_delays, **given["retry_delays"]}
            if "grade_cadences" in given:
                given["grade_cadences"] = {**current.grade_cadences, **given["grade_cadences"]}
            merged.update(given)
            _keeps_agents(current, seats, merged["skill_group"], patch.model_fields_set)
            values = validated_values(merged, given, self._settings.default_region)
            changed = {k: values[k] for k in given}
            try:
                record = await repo.update_campaign(session, campaign_id, changed, seats)
            except CampaignNameTaken as exc:
                raise Conflict(f"a campaign named {merged['name']!r} exists",
                               details={"field": "name"}) from exc
            await session.commit()
        assert record is not None
        log.info("campaign %d updated: %s", campaign_id, ", ".join(sorted(given)) or "seats")
        return campaign_out(record)

    async def set_script(self, campaign_id: int, script: str) -> CampaignOut:
        async with db_session(self._sessions) as session:
            record = await repo.update_campaign(session, campaign_id, {"script": script})
            if record is None:
                raise NotFound("campaign", str(campaign_id))
        return campaign_out(record)

    async def change(self, campaign_id: int, event: Transition) -> CampaignOut:
        async with db_session(self._sessions) as session:
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
            if new is State.RUNNING:
                # Checked again here: a skill group may have been deleted since.
                unknown = await self._unknown_agents(current.seats, current.skill_group)
                if unknown is not None:
                    raise Conflict(f"the campaign cannot dial: {unknown[1]}",
                                   details={"fields": [unknown[0]]})
            try:
                record = await repo.change_state(session, campaign_id, state, new)
            except StateConflict as exc:
                raise Conflict(f"the campaign changed meanwhile: it is {exc.actual}",
                               details={"state": exc.actual}) from exc
        assert record is not None
        log.info("campaign %d: %s -> %s -> %s", campaign_id, state.value, event.value, new.value)
        return campaign_out(record)

    async def stats(self, campaign_id: int) -> CampaignStatsOut:
        async with db_session(self._sessions) as session:
            record = await self._record(session, campaign_id)
            s = await repo.campaign_stats(session, campaign_id, self._clock())
        return CampaignStatsOut(
            campaign_id=campaign_id, state=record.state, leads=s.leads, leads_due=s.leads_due,
            leads_finished=s.leads_finished, leads_never_called=s.leads_never_called,
            leads_overdue=s.leads_overdue, follow_up_rate=s.follow_up_rate,
            attempts=s.attempts, in_progress=s.in_progress, outcomes=s.outcomes,
            abandoned=s.abandoned, abandon_rate=s.abandon_rate, dispositions=s.dispositions,
        )
