"""Dispositions: what an agent's outcome code does to the lead. Pure.

Codes (stable):

- ``sale``, ``not_interested``, ``wrong_number``: the lead is finished;
- ``do_not_call``: finished, and the number goes on the global do-not-call list (a refusal
  ends all marketing calls to it, not just this campaign's);
- ``interested``: follow up on the grade's cadence (H 3 days, A 7, B 15; C never);
- ``callback``: call back at ``callback_at``, by the same agent where possible;
- ``other``: the schedule stays as it was (a grade given is still recorded).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from dialer.numbers import zone
from dialer.schedule import (
    Cadence,
    Grade,
    LeadTiming,
    Outcome,
    hhmm,
    in_window,
    next_eligible,
)

MAX_CALLBACK_AHEAD = timedelta(days=90)
#: How long past its time a callback waits for the agent who booked it before any agent
#: of the campaign may take it (the dialer's runner, and preview mode).
CALLBACK_GRACE = timedelta(minutes=15)


class DispositionCode(enum.StrEnum):
    SALE = "sale"
    INTERESTED = "interested"
    CALLBACK = "callback"
    NOT_INTERESTED = "not_interested"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"
    OTHER = "other"


FINISHING = frozenset({DispositionCode.SALE, DispositionCode.NOT_INTERESTED,
                       DispositionCode.WRONG_NUMBER, DispositionCode.DO_NOT_CALL})


class DispositionError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class LeadUpdate:
    grade: Grade | None
    next_eligible_at: datetime | None
    callback_at: datetime | None
    add_to_dnc: bool
    keep_schedule: bool = False  # True: leave next_eligible_at and the callback as they are


def validate(code: DispositionCode, callback_at: datetime | None, now: datetime) -> None:
    if code is DispositionCode.CALLBACK:
        if callback_at is None:
            raise DispositionError("callback_at", "a callback needs a time")
        if callback_at.tzinfo is None:
            raise DispositionError("callback_at", "give a time zone (or Z for UTC)")
        if callback_at <= now:
            raise DispositionError("callback_at", "must be in the future")
        if callback_at > now + MAX_CALLBACK_AHEAD:
            raise DispositionError("callback_at", "must be within 90 days")
    elif callback_at is not None:
        raise DispositionError("callback_at", "only a callback takes a time")


def apply(
    code: DispositionCode,
    lead: LeadTiming,
    rules: Cadence,
    now: datetime,
    *,
    grade: Grade | None = None,
    callback_at: datetime | None = None,
) -> LeadUpdate:
    """The lead's new grade and schedule after the disposition (validated first; a
    callback must fall in the campaign's calling windows in the customer's time zone,
    else it would wait for the next opening without the agent being told)."""
    validate(code, callback_at, now)
    if callback_at is not None and lead.zones and not in_window(rules.windows, lead.zones,
                                                                callback_at):
        local = ", ".join(f"{callback_at.astimezone(zone(z)):%H:%M} in {z}" for z in lead.zones)
        hours = ", ".join(f"{hhmm(w.start)}-{hhmm(w.end, end=True)}" for w in rules.windows)
        raise DispositionError("callback_at", f"{local} is outside the campaign's calling "
                               f"windows ({hours}, the customer's local time)")
    new_grade = grade if grade is not None else lead.grade
    if code in FINISHING:
        return LeadUpdate(new_grade, None, None, code is DispositionCode.DO_NOT_CALL)
    if code is DispositionCode.OTHER:
        return LeadUpdate(new_grade, None, None, False, keep_schedule=True)
    timing = LeadTiming(
        zones=lead.zones,
        created_at=lead.created_at,
        grade=new_grade,
        attempts=lead.attempts,
        last_attempt_at=lead.last_attempt_at or now,
        # A disposition follows a conversation: the cadence of the grade applies.
        last_outcome=Outcome.ANSWERED,
        callback_at=callback_at,
    )
    return LeadUpdate(new_grade, next_eligible(timing, rules, now), callback_at, False)
