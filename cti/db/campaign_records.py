"""Records and errors of the campaign store: frozen dataclasses, never ORM objects.

Shared by :mod:`cti.db.campaign_repository` (campaigns, leads, the gate's history) and
:mod:`cti.db.dnc_repository` (DNC lists, dispositions).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Row

from cti.db.campaign_models import Campaign, LeadRow
from dialer.campaign import rules_from_json
from dialer.compliance import CampaignRules, Decision, LeadState, retry_after_refusal
from dialer.leads import RowError
from dialer.schedule import Grade, LeadTiming, Outcome


class CampaignStoreError(Exception):
    """Base of the store's domain errors.

    CampaignStoreError
     +-- CampaignNameTaken   another campaign has this name
     +-- StateConflict       the campaign was not in the expected state
     +-- UnknownCall         no dial attempt (and no lead) for a call id
     +-- NotYourCall         an agent disposing of a call another seat took
     +-- LeadBusy            a lead on a call now, or with a callback booked
    """


class CampaignNameTaken(CampaignStoreError):
    pass


class StateConflict(CampaignStoreError):
    def __init__(self, actual: str) -> None:
        super().__init__(f"the campaign is {actual}")
        self.actual = actual


class UnknownCall(CampaignStoreError):
    pass


class FieldsTooLarge(CampaignStoreError):
    def __init__(self, count: int) -> None:
        super().__init__(f"the lead's {count} free fields would exceed their size limit")


class LeadBusy(CampaignStoreError):
    """The change would be undone or would break a promise: the lead is on a call (its
    outcome sets its next time when the call ends), or a callback is booked for it."""


class NotYourCall(CampaignStoreError):
    def __init__(self, seat_id: str) -> None:
        super().__init__(f"the call was taken at seat {seat_id}")
        self.seat_id = seat_id


# -- records ---------------------------------------------------------------------------


class LeadStatus(StrEnum):
    """Where a lead stands, as a supervisor asks about it. The first that applies, in
    this order (`LeadRecord.status`; the store filters on the same order)."""

    IN_CALL = "in_call"  # a dial of it is on now
    FINISHED = "finished"  # never dialed again: attempts used up, a final outcome, DNC
    HELD = "held"  # held for an agent's preview
    CALLBACK = "callback"  # a callback is booked
    NEW = "new"  # never dialed yet
    DUE = "due"  # its time has come (the gate still decides each dial)
    SCHEDULED = "scheduled"  # due again later (a retry delay, its window, its cadence)


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: int
    name: str
    state: str
    mode: str
    caller_id: str
    skill_group: str | None
    seats: tuple[str, ...]
    default_region: str | None
    default_timezone: str | None
    windows: list[dict[str, Any]]
    max_attempts: int
    retry_delays: dict[str, int]
    grade_cadences: dict[str, int | None]
    cap_per_day: int
    cap_per_week: int
    script: str
    abandon_message: str | None  # a sound name; None: the service's default
    created_at: datetime
    updated_at: datetime
    abandon_target: float = 0.03  # the abandon rate the pacer holds it at or under

    def rules(self) -> CampaignRules:
        return rules_from_json(self.windows, self.retry_delays, self.grade_cadences,
                               self.max_attempts, self.cap_per_day, self.cap_per_week)

    def due_again(self, lead: LeadRecord, decision: Decision, now: datetime
                  ) -> datetime | None:
        """When a lead of this campaign the gate refused is due again (None: never), in
        the lead's zones, or the campaign's default zone for a lead without any."""
        zones = lead.timezones or tuple(z for z in (self.default_timezone,) if z)
        return retry_after_refusal(decision, self.rules().cadence.windows, zones, now)


@dataclass(frozen=True, slots=True)
class LeadRecord:
    id: int
    campaign_id: int
    phone: str
    timezones: tuple[str, ...]
    grade: str | None
    attempts: int
    last_attempt_at: datetime | None
    last_outcome: str | None
    next_eligible_at: datetime | None
    callback_at: datetime | None
    callback_user_id: int | None
    callback_seat_id: str | None
    fields: dict[str, Any]
    created_at: datetime
    previewed_by: str | None = None
    previewed_until: datetime | None = None

    def status(self, now: datetime, *, in_call: bool = False) -> LeadStatus:
        """Where the lead stands at `now`; `in_call`: a dial of it is on."""
        if in_call:
            return LeadStatus.IN_CALL
        if self.next_eligible_at is None:
            return LeadStatus.FINISHED
        if self.previewed_until is not None and self.previewed_until > now:
            return LeadStatus.HELD
        if self.callback_at is not None:
            return LeadStatus.CALLBACK
        if self.attempts == 0:
            return LeadStatus.NEW
        return LeadStatus.DUE if self.next_eligible_at <= now else LeadStatus.SCHEDULED

    def holder(self, now: datetime) -> str | None:
        """The seat whose preview holds the lead at `now` (preview mode), if any."""
        if self.previewed_until is None or self.previewed_until <= now:
            return None
        return self.previewed_by

    def held_for(self, seat_id: str | None, now: datetime) -> bool:
        """Held for `seat_id`'s preview at `now` (preview mode)."""
        return seat_id is not None and self.holder(now) == seat_id

    def state(self) -> LeadState:
        return LeadState(
            e164=self.phone,
            zones=self.timezones,
            grade=Grade(self.grade) if self.grade else None,
            attempts=self.attempts,
            next_eligible_at=self.next_eligible_at,
            callback_at=self.callback_at,
        )

    def timing(self) -> LeadTiming:
        return LeadTiming(
            zones=self.timezones,
            created_at=self.created_at,
            grade=Grade(self.grade) if self.grade else None,
            attempts=self.attempts,
            last_attempt_at=self.last_attempt_at,
            last_outcome=Outcome(self.last_outcome) if self.last_outcome else None,
            callback_at=self.callback_at,
        )


@dataclass(frozen=True, slots=True)
class DncRecord:
    phone: str
    campaign_id: int | None
    reason: str | None
    source: str
    created_by: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class ImportReport:
    rows: int
    imported: int
    rejected: int
    duplicates_in_list: int
    duplicates_in_campaign: int
    encoding: str | None
    format: str | None
    errors: tuple[RowError, ...]  # the first MAX_REPORTED_ERRORS
    errors_by_code: dict[str, int]
    errors_truncated: bool


@dataclass(frozen=True, slots=True)
class ImportProgress:
    rows: int
    imported: int
    rejected: int


@dataclass(frozen=True, slots=True)
class ClaimResult:
    decision: Decision
    attempt_id: int | None


@dataclass(frozen=True, slots=True)
class DispositionRecord:
    id: int
    call_id: str
    campaign_id: int | None
    lead_id: int | None
    phone: str | None
    code: str
    notes: str
    grade: str | None
    callback_at: datetime | None
    user_id: int | None
    seat_id: str | None
    added_to_dnc: bool
    next_eligible_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class DispositionEntry:
    """A disposition as stored (what the agent recorded), read back with its attempt."""

    code: str
    notes: str
    grade: str | None
    callback_at: datetime | None
    seat_id: str | None
    user_id: int | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One outbound dial (a campaign's or a click-to-dial), with its campaign, its lead's
    free fields and what the agent recorded about it (`cti.db.dial_history`)."""

    id: int
    call_id: str | None
    phone: str
    campaign_id: int | None
    campaign_name: str | None
    lead_id: int | None
    customer: dict[str, Any]  # the lead's free fields; empty without a lead
    seat_id: str | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None  # None while the call is on
    agent_reserved: bool
    dispositions: tuple[DispositionEntry, ...]


@dataclass(frozen=True, slots=True)
class CampaignStats:
    leads: int
    leads_due: int
    leads_finished: int
    leads_never_called: int
    leads_overdue: int  # new leads not called within 24 hours (the handbooks' rule)
    attempts: int
    in_progress: int
    followed_up_in_time: int = 0  # first dialed within 24 hours of their import
    follow_up_judged: int = 0  # dialed, or past the 24 hours (not finished undialed)
    outcomes: dict[str, int] = field(default_factory=dict)
    abandoned: int = 0
    live_answered: int = 0  # answered + abandoned: the abandon-rate denominator
    dispositions: dict[str, int] = field(default_factory=dict)

    @property
    def follow_up_rate(self) -> float | None:
        """Of the leads whose verdict is in, the share first dialed within 24 hours of
        their import (the handbooks ask at least 90%); None before any verdict."""
        return (self.followed_up_in_time / self.follow_up_judged
                if self.follow_up_judged else None)

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.live_answered if self.live_answered else 0.0


def campaign_record(row: Campaign, seats: Sequence[str]) -> CampaignRecord:
    return CampaignRecord(
        id=row.id, name=row.name, state=row.state, mode=row.mode, caller_id=row.caller_id,
        skill_group=row.skill_group, seats=tuple(sorted(seats)),
        default_region=row.default_region, default_timezone=row.default_timezone,
        windows=list(row.windows), max_attempts=row.max_attempts,
        retry_delays=dict(row.retry_delays), grade_cadences=dict(row.grade_cadences),
        cap_per_day=row.cap_per_day, cap_per_week=row.cap_per_week, script=row.script,
        abandon_message=row.abandon_message, created_at=row.created_at,
        updated_at=row.updated_at, abandon_target=row.abandon_target,
    )


def lead_record(row: LeadRow | Row[Any]) -> LeadRecord:
    """A lead's record from its ORM row, or from a Core row of the table's columns (the
    export reads those: no ORM object per lead)."""
    return LeadRecord(
        id=row.id, campaign_id=row.campaign_id, phone=row.phone,
        timezones=tuple(row.timezones), grade=row.grade, attempts=row.attempts,
        last_attempt_at=row.last_attempt_at, last_outcome=row.last_outcome,
        next_eligible_at=row.next_eligible_at, callback_at=row.callback_at,
        callback_user_id=row.callback_user_id, callback_seat_id=row.callback_seat_id,
        fields=dict(row.fields), created_at=row.created_at,
        previewed_by=row.previewed_by, previewed_until=row.previewed_until,
    )


