"""Request and response models of the outbound API: campaigns, leads, DNC, dispositions.

Field checks that need no domain knowledge (lengths, patterns, ranges) are declared here so
that FastAPI reports them as 422 naming the field; rules that need the domain (windows that
never open, unknown time zones, retry delays under a minute, a caller ID the numbering
plan does not have) are checked by :mod:`cti.api.campaign_service` through :mod:`dialer`
and reported the same way.

Numbers and yes/no values are strict (``StrictInt``, ``StrictBool``, ``StrictFloat``): a
JSON ``true`` is not one attempt, ``"yes"`` does not finish a lead, ``"3"`` is not 3.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    field_validator,
)

from cti.api.schemas import CONTROL_CHARACTERS, SEAT_ID_PATTERN, SKILL_GROUP_PATTERN, UtcDateTime
from cti.db.campaign_records import LeadStatus
from cti.telephony.inbound import SOUND_PATTERN
from dialer.dispositions import DispositionCode
from dialer.leads import field_problem
from dialer.pacing.snapshot import MAX_ABANDON_TARGET
from dialer.schedule import (
    CLOCK_PATTERN,
    END_OF_DAY,
    UNTIL_PATTERN,
    Grade,
    Outcome,
    check_clock,
)

CampaignMode = Literal["preview", "progressive", "predictive"]
# A calling window may end at 24:00, midnight at the end of its day (dialer.schedule).
HHMM_PATTERN, END_PATTERN = CLOCK_PATTERN, UNTIL_PATTERN
CALLER_ID_PATTERN = r"^\+?[0-9]{3,20}$"
# Printable (it ends up in logs and reports): the API's one rule for names.
NAME_PATTERN = rf"^[^{CONTROL_CHARACTERS}]{{1,120}}$"
PHONE_INPUT_MAX = 64
MAX_SCRIPT = 100_000
MAX_NOTES = 4_000
MAX_SEATS = 1_000
#: Campaign ids are PostgreSQL integers; past this a body's id cannot name one.
MAX_CAMPAIGN_ID = 2**31 - 1

SeatId = Annotated[str, Field(pattern=SEAT_ID_PATTERN)]


def _name(value: str) -> str:
    """Surrounding blanks dropped ("spring " is "spring"); a blank name refused."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank")
    return name


CampaignName = Annotated[str, Field(pattern=NAME_PATTERN), AfterValidator(_name)]
CALLER_ID_DOC = (
    "Number shown to customers: E.164 (+862161234567) or national in default_region "
    "(02161234567, 4008001234). Stored, and sent to the trunk, in E.164."
)
ABANDON_MESSAGE_DOC = (
    "What a customer hears when no agent takes the answered call within 2 s: it should "
    "name the seller and a number to call back. A sound on the Asterisk node: one of "
    "Asterisk's own (tt-allbusy) or an uploaded one (cti/...; PUT .../abandon-message "
    "uploads a recording). null: the service's default."
)

ABANDON_TARGET_DOC = (
    "The abandon rate the pacer holds the campaign at or under: answered customers not "
    "connected to an agent within 2 s, as a fraction of live answers, over every rolling "
    "24 hours and 30 days. At most 0.03, the US and UK limit; lower for a stricter seller."
)
AbandonTarget = Annotated[StrictFloat, Field(gt=0, le=MAX_ABANDON_TARGET,
                                       description=ABANDON_TARGET_DOC, examples=[0.02])]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class WindowIn(_In):
    # Checked by validators rather than Field(pattern=...), whose 422 shows the regex: the
    # message says what is accepted instead (as a skill group's hours do).
    start: str = Field(examples=["10:00"], json_schema_extra={"pattern": HHMM_PATTERN},
                       description="HH:MM in the lead's local time.")
    end: str = Field(examples=["12:00", "24:00"], json_schema_extra={"pattern": END_PATTERN},
                     description="HH:MM, exclusive, after start; 24:00 is midnight at the "
                                 "day's end.")
    days: list[Annotated[StrictInt, Field(ge=0, le=6)]] = Field(
        default_factory=lambda: list(range(7)),
        description="Weekdays the window applies on: 0 = Monday .. 6 = Sunday.",
        max_length=7,
    )

    @field_validator("start")
    @classmethod
    def _start(cls, value: str) -> str:
        return _clock_text(value, HHMM_PATTERN, "00:00 to 23:59")

    @field_validator("end")
    @classmethod
    def _end(cls, value: str) -> str:
        if value == "00:00":  # one way to write it, so it reads back as it was written
            raise ValueError(f"a window ending at midnight ends at {END_OF_DAY}")
        return _clock_text(value, END_PATTERN, f"00:01 to {END_OF_DAY}")


def _clock_text(value: str, pattern: str, span: str) -> str:
    return check_clock(value, pattern, span, "in the lead's local time")


def _default_windows() -> list[WindowIn]:
    return [WindowIn(start="10:00", end="12:00"), WindowIn(start="15:00", end="18:00")]


class CampaignIn(_In):
    name: CampaignName
    mode: CampaignMode = "progressive"
    caller_id: str = Field(pattern=CALLER_ID_PATTERN, description=CALLER_ID_DOC)
    skill_group: str | None = Field(default=None, pattern=SKILL_GROUP_PATTERN)
    seats: list[SeatId] = Field(default_factory=list, max_length=MAX_SEATS)
    default_region: str | None = Field(
        default="CN", pattern=r"^[A-Z]{2}$",
        description="Region for numbers written without a country code (ISO 3166 alpha-2).",
    )
    default_timezone: str | None = Field(
        default=None, max_length=64,
        description="IANA zone for leads whose zone neither the row nor the number gives.",
    )
    windows: list[WindowIn] = Field(
        default_factory=_default_windows, max_length=24,
        description="Calling windows in each lead's local time.",
    )
    max_attempts: StrictInt = Field(default=5, ge=1, le=100)
    retry_delays: dict[Outcome, StrictInt] = Field(
        default_factory=dict,
        description="Seconds before retrying after busy, no_answer, failed, machine (>= 60).",
    )
    grade_cadences: dict[Grade, StrictInt | None] = Field(
        default_factory=dict,
        description="Days between follow-ups per grade (H 3, A 7, B 15; C null = never).",
    )
    cap_per_day: StrictInt = Field(default=1, ge=1, le=100,
                                   description="Dials per number per 24 h.")
    cap_per_week: StrictInt = Field(default=3, ge=1, le=700,
                                    description="Dials per number per 7 days.")
    script: str = Field(default="", max_length=MAX_SCRIPT)
    abandon_message: str | None = Field(default=None, pattern=SOUND_PATTERN,
                                        description=ABANDON_MESSAGE_DOC)
    abandon_target: AbandonTarget = MAX_ABANDON_TARGET


class CampaignPatch(_In):
    """Only the fields given change."""

    name: CampaignName | None = None
    mode: CampaignMode | None = None
    caller_id: str | None = Field(default=None, pattern=CALLER_ID_PATTERN,
                                  description=CALLER_ID_DOC)
    skill_group: str | None = Field(default=None, pattern=SKILL_GROUP_PATTERN)
    seats: list[SeatId] | None = Field(default=None, max_length=MAX_SEATS)
    default_region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$")
    default_timezone: str | None = Field(default=None, max_length=64)
    windows: list[WindowIn] | None = Field(default=None, max_length=24)
    max_attempts: StrictInt | None = Field(default=None, ge=1, le=100)
    retry_delays: dict[Outcome, StrictInt] | None = None
    grade_cadences: dict[Grade, StrictInt | None] | None = None
    cap_per_day: StrictInt | None = Field(default=None, ge=1, le=100)
    cap_per_week: StrictInt | None = Field(default=None, ge=1, le=700)
    abandon_message: str | None = Field(default=None, pattern=SOUND_PATTERN,
                                        description="null: back to the service's default.")
    abandon_target: AbandonTarget | None = None


class ScriptIn(_In):
    script: str = Field(max_length=MAX_SCRIPT)


class WindowOut(_Out):
    start: str
    end: str
    days: list[int]


class CampaignOut(_Out):
    id: int
    name: str
    state: str
    allowed_transitions: list[str]
    mode: str
    caller_id: str
    skill_group: str | None
    seats: list[str]
    default_region: str | None
    default_timezone: str | None
    windows: list[WindowOut]
    max_attempts: int
    retry_delays: dict[str, int]
    grade_cadences: dict[str, int | None]
    cap_per_day: int
    cap_per_week: int
    script: str
    abandon_message: str | None = Field(description=ABANDON_MESSAGE_DOC)
    abandon_target: float = Field(description=ABANDON_TARGET_DOC)
    created_at: datetime
    updated_at: datetime


class CampaignStatsOut(_Out):
    campaign_id: int
    state: str
    leads: int
    leads_due: int = Field(description="Due now (the gate still decides each dial).")
    leads_finished: int
    leads_never_called: int
    leads_overdue: int = Field(description="New leads not called within 24 hours.")
    follow_up_rate: float | None = Field(description=(
        "Of the leads dialed or older than 24 hours (not those finished undialed, DNC), "
        "the share first dialed within 24 hours of their import: the handbooks ask at "
        "least 0.9. The dialer hands out new leads inside that deadline first. null: no "
        "lead is judged yet."))
    attempts: int
    in_progress: int
    outcomes: dict[str, int]
    abandoned: int
    abandon_rate: float = Field(description="Abandoned / (answered + abandoned).")
    dispositions: dict[str, int]


class RowErrorOut(_Out):
    row: int = Field(description="Line number in the file (CSV, NDJSON) or element (JSON).")
    field: str
    code: str
    message: str
    value: str | None = None


class ImportJobOut(_Out):
    """A lead import: queued, then running with its progress, then done or failed."""

    id: int
    campaign_id: int
    state: Literal["queued", "running", "done", "failed"] = Field(
        description="failed: the rows committed before the failure are kept (see error)."
    )
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime
    finished_at: datetime | None
    bytes_total: int = Field(description="Size of the upload.")
    bytes_read: int = Field(description="Bytes of the upload committed so far.")
    progress: float = Field(description="bytes_read / bytes_total, 0..1 (1 when done).")
    rows: int = Field(description="Rows read so far.")
    imported: int = Field(description="Leads added to the campaign (committed).")
    rejected: int = Field(description="Rows refused (bad number, time zone, broken row...).")
    duplicates_in_list: int = Field(description="Numbers seen earlier in the same upload.")
    duplicates_in_campaign: int = Field(description="Numbers the campaign already had.")
    errors_by_code: dict[str, int]
    encoding: str | None = Field(description="Detected (or given) encoding.")
    format: str | None = Field(description="csv, json or ndjson.")
    error: str | None = Field(default=None, description="Why the job failed.")
    errors_url: str = Field(description="The per-row report: paged JSON; add .csv for a file.")


class DncIn(_In):
    phone: str = Field(min_length=1, max_length=PHONE_INPUT_MAX)
    campaign_id: StrictInt | None = Field(default=None, ge=1, le=MAX_CAMPAIGN_ID,
                                          description="Omit for the global list.")
    reason: str | None = Field(default=None, max_length=500)
    region: str | None = Field(default=None, pattern=r"^[A-Z]{2}$",
                               description="For national numbers; default CN.")


class DncOut(_Out):
    phone: str
    campaign_id: int | None
    reason: str | None
    source: str
    created_by: int | None
    created_at: datetime


class DncAddedOut(_Out):
    phone: str
    campaign_id: int | None
    added: bool = Field(description="False when the number was already on the list.")


class DispositionIn(_In):
    code: DispositionCode
    notes: str = Field(default="", max_length=MAX_NOTES)
    grade: Grade | None = None
    callback_at: datetime | None = Field(
        default=None, description="ISO-8601 with a zone; required for code 'callback'."
    )


class DispositionOut(_Out):
    id: int
    call_id: str
    campaign_id: int | None
    lead_id: int | None
    phone: str | None
    code: str
    notes: str
    grade: str | None
    callback_at: datetime | None
    callback_seat_id: str | None
    added_to_dnc: bool
    next_eligible_at: datetime | None
    created_at: datetime



class LeadOut(_Out):
    id: int
    campaign_id: int
    phone: str
    timezones: list[str]
    grade: str | None
    attempts: int
    last_attempt_at: datetime | None
    last_outcome: str | None
    next_eligible_at: datetime | None
    callback_at: datetime | None
    callback_seat_id: str | None
    fields: dict[str, Any] = Field(description="Free fields from the import: the screen pop.")
    created_at: datetime
    status: LeadStatus = Field(description=(
        "The first that applies: in_call (a dial of it is on), finished (never dialed "
        "again: attempts used up, a final outcome or disposition, DNC), held (for an "
        "agent's preview, see held_by), callback (booked, see callback_at), new (never "
        "dialed), due (its time has come; the gate still decides), scheduled (due again "
        "at next_eligible_at)."))
    held_by: str | None = Field(default=None, description="The seat previewing it.")
    held_until: datetime | None = None
    blocked_by: list[str] = Field(
        description="The compliance gate's reasons against dialing it now (empty: allowed)."
    )


class DispositionEntryOut(_Out):
    code: str
    notes: str
    grade: str | None
    callback_at: datetime | None
    seat_id: str | None
    user_id: int | None
    created_at: datetime


class DialOut(_Out):
    """One outbound dial: whom, for which campaign and lead, to which seat, how it ended,
    and what the agent recorded."""

    id: int
    call_id: str | None = Field(description="The call in /v1/calls (history, recording).")
    phone: str = Field(description="E.164")
    campaign_id: int | None = Field(description="null: a click-to-dial outside campaigns.")
    campaign_name: str | None
    lead_id: int | None
    customer: dict[str, Any] = Field(description="The lead's free fields (the screen pop).")
    seat_id: str | None
    started_at: datetime
    ended_at: datetime | None
    outcome: str | None = Field(description="answered, busy, no_answer, failed, machine, "
                                "abandoned; null while the call is on.")
    agent_reserved: bool
    dispositions: list[DispositionEntryOut]


class CallbackOut(_Out):
    """A callback an agent promised a customer, still to be made."""

    lead_id: int
    campaign_id: int
    campaign_name: str
    phone: str
    customer: dict[str, Any] = Field(description="The lead's free fields.")
    callback_at: datetime
    overdue: bool = Field(description="Its time has passed and it has not been made.")
    seat_id: str | None = Field(description="The seat it goes back to.")
    notes: str = Field(description="What was noted when it was booked.")
    booked_at: datetime | None


class PreviewIn(_In):
    seat: SeatId | None = Field(default=None, description="Default: your seat. Supervisors "
                                "may name any seat of the campaign.")


class PreviewOut(_Out):
    campaign_id: int
    campaign_name: str
    script: str
    seat: str
    lead: LeadOut | None = Field(description=(
        "The lead to call next, held for this seat until `held_until`: dial it with "
        "POST /v1/calls/click-to-dial (the number and this campaign), or skip it. Asking "
        "again before then answers the same lead. null: no lead may be dialed now (see "
        "put_off)."))
    held_until: datetime | None
    put_off: int = Field(default=0, description=(
        "Due leads the compliance gate refused on this ask, each put off until it may be "
        "dialed (DNC: for good). One ask puts off at most 500: with a null lead and 500 "
        "here, ask again for the next."))


#: A free field's value as an agent may set it: text, a number, true/false; null removes.
#: Strict: true stays true (not 1), 1.0 stays a number with a fraction, "1" stays text.
FieldValue = StrictStr | StrictInt | StrictFloat | StrictBool | None


FreeFields = Annotated[
    dict[Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")],
         Annotated[FieldValue, Field(union_mode="left_to_right")]],
    Field(min_length=1, max_length=50, description=(
        "Free fields merged into the lead's (other numbers, e-mail, address...); null "
        "removes one. Text up to 1,000 characters each; all of a lead's fields at most "
        "8 KiB as JSON.")),
]


def _fields_fit(fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
    problem = field_problem(fields)  # what PostgreSQL refuses: the import's rule too
    if problem is not None:
        raise ValueError(f"{problem.key!r}: {problem.message}")
    for key, value in fields.items():
        if key.strip().lower() == "phone":
            raise ValueError("'phone' is the number the lead is dialed on, not a free "
                             "field: put other numbers under another name (e.g. phone_2)")
        if isinstance(value, str) and len(value) > 1000:
            raise ValueError(f"{key!r}: at most 1000 characters")
    return fields


class LeadFieldsIn(_In):
    fields: FreeFields

    @field_validator("fields")
    @classmethod
    def _texts_fit(cls, fields: dict[str, FieldValue]) -> dict[str, FieldValue]:
        return _fields_fit(fields)


class LeadPatch(_In):
    """A supervisor's change to a lead; only the fields sent change."""

    grade: Grade | None = Field(default=None, description="H, A, B or C (C: no agent "
                                "calls); null clears it.")
    fields: FreeFields | None = None
    due_at: UtcDateTime | None = Field(default=None, description=(
        "When it is due next (the gate still decides each dial): now to 90 days ahead. "
        "A finished lead is opened again."))
    finished: StrictBool | None = Field(default=None, description=(
        "true: never dialed again (a pending callback or preview hold is dropped); "
        "false: a finished lead is due again now (or at due_at)."))

    @field_validator("fields")
    @classmethod
    def _texts_fit(cls, fields: dict[str, FieldValue] | None) -> dict[str, FieldValue] | None:
        return None if fields is None else _fields_fit(fields)


class ScreenPopOut(_Out):
    lead: LeadOut
    campaign_name: str
    script: str
