"""Request and response models for inbound configuration and agent control.

Ranges and patterns are checked here (a 422 names the field); whole-configuration checks
(references, duplicate numbers, time zones) in :func:`cti.telephony.inbound.problems`.
Numbers and yes/no values are strict: ``"30"`` is not 30 seconds, ``true`` is not 1.
"""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
)

from cti.api.schemas import Label, one_line
from cti.telephony.inbound import (
    CLOSES_PATTERN,
    NAME_PATTERN,
    OPENS_PATTERN,
    SOUND_PATTERN,
    STRATEGIES,
    VOICEMAIL_BOX_PATTERN,
    BusinessHours,
    GroupSettings,
    IvrMenu,
    WeeklyWindow,
    WidenStep,
    clock,
    parse_clock,
)
from dialer.schedule import check_clock

Strategy = Literal[
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear",
    "wrandom",
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DAY = 86_400
assert set(Strategy.__args__) == set(STRATEGIES)  # type: ignore[attr-defined]

DisplayName = Field(default=None, max_length=80)  # a Label: one printable line
Seconds = Field(ge=1, le=DAY)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WeeklyWindowIn(_In):
    # Strings checked here, before anything reads them as times: a time type took
    # "09:00:30" and "09:00+05:00" and storage cut them to "09:00" without a word.
    days: list[Weekday] = Field(min_length=1, max_length=7)
    opens: str = Field(examples=["09:00"], json_schema_extra={"pattern": OPENS_PATTERN},
                       description="HH:MM in the group's time zone (no seconds or offset).")
    closes: str = Field(examples=["18:00", "24:00"],
                        json_schema_extra={"pattern": CLOSES_PATTERN},
                        description="HH:MM, after opens; 24:00 is midnight at the day's end.")

    @field_validator("opens")
    @classmethod
    def _opens(cls, value: str) -> str:
        return _clock_text(value, OPENS_PATTERN, "00:00 to 23:59")

    @field_validator("closes")
    @classmethod
    def _closes(cls, value: str) -> str:
        if value == "00:00":  # one way to write it, so it reads back as it was written
            raise ValueError("a window closing at midnight closes at 24:00")
        return _clock_text(value, CLOSES_PATTERN, "00:01 to 24:00")


def _clock_text(value: str, pattern: str, span: str) -> str:
    return check_clock(value, pattern, span,
                       "in the group's time zone: no seconds, no UTC offset")


class HoursIn(_In):
    timezone: str = Field(min_length=1, max_length=64, examples=["Asia/Shanghai"])
    weekly: list[WeeklyWindowIn] = Field(min_length=1, max_length=50)
    holidays: list[date] = Field(default_factory=list, max_length=366)

    def to_domain(self) -> BusinessHours:
        return BusinessHours(
            timezone=self.timezone,
            weekly=tuple(WeeklyWindow(tuple(w.days), parse_clock(w.opens),
                                      parse_clock(w.closes)) for w in self.weekly),
            holidays=tuple(self.holidays),
        )


class WidenStepIn(_In):
    after_seconds: StrictInt = Field(ge=0, le=DAY)
    max_level: StrictInt = Field(ge=0, le=1000)


class GroupPatch(_In):
    """Fields to change; those left out keep their value."""

    display_name: Label | None = DisplayName
    strategy: Strategy | None = None
    ring_seconds: StrictInt | None = Field(default=None, ge=1, le=DAY,
                                           description="Ring each seat this long, then the next.")
    retry_seconds: StrictInt | None = Field(default=None, ge=0, le=DAY)
    wrapup_seconds: StrictInt | None = Field(default=None, ge=0, le=DAY)
    max_wait_seconds: StrictInt | None = Field(default=None, ge=1, le=DAY,
                                               description="Then the caller reaches voicemail.")
    music_class: str | None = Field(default=None, max_length=40)
    voicemail_box: str | None = Field(default=None, pattern=VOICEMAIL_BOX_PATTERN)
    hours: HoursIn | None = Field(default=None, description="null: always open.")
    after_hours_prompt: str | None = Field(default=None, pattern=SOUND_PATTERN)
    widen: list[WidenStepIn] | None = Field(default=None, max_length=20)
    no_answer_pause_after: StrictInt | None = Field(default=None, ge=0, le=100)
    numbers: list[str] | None = Field(default=None, max_length=100)

    def apply(self, current: GroupSettings) -> GroupSettings:
        values = self.model_dump(exclude_unset=True)
        changes: dict[str, object] = {}
        for key in values:
            value = getattr(self, key)
            if key == "hours":
                changes[key] = value.to_domain() if value is not None else None
            elif key == "widen":
                changes[key] = tuple(WidenStep(s.after_seconds, s.max_level)
                                     for s in (value or []))
            elif key == "numbers":
                changes[key] = tuple(value or ())
            elif value is None and key not in {"display_name", "voicemail_box",
                                               "after_hours_prompt"}:
                continue  # null for a required setting: keep it
            else:
                changes[key] = value
        return _replace(current, changes)


class GroupCreate(GroupPatch):
    name: str = Field(pattern=NAME_PATTERN)

    def to_domain(self) -> GroupSettings:
        return self.apply(GroupSettings(name=self.name))


def _replace(g: GroupSettings, changes: dict[str, object]) -> GroupSettings:
    return dataclasses.replace(g, **changes)  # type: ignore[arg-type]


class WeeklyWindowOut(BaseModel):
    days: list[str]
    opens: str
    closes: str


class HoursOut(BaseModel):
    timezone: str
    weekly: list[WeeklyWindowOut]
    holidays: list[date]


class WidenStepOut(BaseModel):
    after_seconds: int
    max_level: int


class MemberLevelOut(BaseModel):
    seat_id: str
    level: int = Field(description="Skill level (app_queue penalty): lower rings first.")


class GroupSettingsOut(BaseModel):
    name: str
    display_name: str | None
    strategy: str
    ring_seconds: int
    retry_seconds: int
    wrapup_seconds: int
    max_wait_seconds: int
    music_class: str
    voicemail_box: str
    hours: HoursOut | None
    after_hours_prompt: str | None
    widen: list[WidenStepOut]
    no_answer_pause_after: int
    numbers: list[str]
    members: list[MemberLevelOut] = Field(default_factory=list)

    @classmethod
    def of(cls, g: GroupSettings, members: dict[str, int] | None = None) -> GroupSettingsOut:
        hours = None
        if g.hours is not None:
            hours = HoursOut(
                timezone=g.hours.timezone,
                weekly=[WeeklyWindowOut(days=list(w.days), opens=clock(w.opens),
                                        closes=clock(w.closes, closing=True))
                        for w in g.hours.weekly],
                holidays=list(g.hours.holidays),
            )
        return cls(
            name=g.name, display_name=g.display_name, strategy=g.strategy,
            ring_seconds=g.ring_seconds, retry_seconds=g.retry_seconds,
            wrapup_seconds=g.wrapup_seconds, max_wait_seconds=g.max_wait_seconds,
            music_class=g.music_class, voicemail_box=g.box, hours=hours,
            after_hours_prompt=g.after_hours_prompt,
            widen=[WidenStepOut(after_seconds=s.after_seconds, max_level=s.max_level)
                   for s in g.widen],
            no_answer_pause_after=g.no_answer_pause_after, numbers=list(g.numbers),
            members=[MemberLevelOut(seat_id=s, level=lvl)
                     for s, lvl in sorted((members or {}).items())],
        )


class MemberIn(_In):
    level: StrictInt = Field(default=0, ge=0, le=1000,
                             description="Skill level (app_queue penalty): lower rings first.")


class MenuOptionIn(_In):
    digit: str = Field(pattern=r"^[0-9*#]$")
    group: str = Field(pattern=NAME_PATTERN)


class MenuIn(_In):
    greeting: str = Field(pattern=SOUND_PATTERN, examples=["dir-welcome"],
                          description="An Asterisk sound name, or cti/<name> for an upload.")
    options: list[MenuOptionIn] = Field(
        max_length=12, examples=[[{"digit": "1", "group": "sales"}]],
        description="DTMF digit -> skill group; each digit once.")
    default_group: str = Field(pattern=NAME_PATTERN,
                               description="Where a caller who presses nothing goes.")
    timeout_seconds: StrictInt = Field(default=5, ge=1, le=60)
    max_invalid: StrictInt = Field(default=2, ge=1, le=10)
    numbers: list[str] = Field(default_factory=list, max_length=100)
    catch_all: StrictBool = False

    @field_validator("options")
    @classmethod
    def _digits_once(cls, options: list[MenuOptionIn]) -> list[MenuOptionIn]:
        seen: set[str] = set()
        for option in options:
            if option.digit in seen:
                raise ValueError(f"digit {option.digit!r} is given twice")
            seen.add(option.digit)
        return options

    def to_domain(self, name: str) -> IvrMenu:
        options = {o.digit: o.group for o in self.options}
        return IvrMenu(name=name, greeting=self.greeting, options=options,
                       default_group=self.default_group, timeout_seconds=self.timeout_seconds,
                       max_invalid=self.max_invalid, numbers=tuple(self.numbers),
                       catch_all=self.catch_all)


class MenuOut(BaseModel):
    name: str
    greeting: str
    options: dict[str, str]
    default_group: str
    timeout_seconds: int
    max_invalid: int
    numbers: list[str]
    catch_all: bool

    @classmethod
    def of(cls, m: IvrMenu) -> MenuOut:
        return cls(name=m.name, greeting=m.greeting, options=dict(m.options),
                   default_group=m.default_group, timeout_seconds=m.timeout_seconds,
                   max_invalid=m.max_invalid, numbers=list(m.numbers), catch_all=m.catch_all)


class LoginIn(_In):
    groups: list[str] | None = Field(
        default=None, max_length=100,
        description="Left out: every group the seat belongs to (login) or is logged in to "
                    "(logout). Given, at least one existing group.")


class PauseIn(_In):
    reason: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$")


class SeatActionOut(BaseModel):
    seat_id: str
    action: str
    groups: list[str] = Field(default_factory=list)


class PauseReasonOut(BaseModel):
    code: str
    label: str
    system: bool = Field(description="Set by the service (e.g. no-answer), not by agents.")


def _named(value: str) -> str:
    """Blanks around a name dropped ("Front desk " is "Front desk"); a blank one refused
    (no name is null), as campaign names."""
    name = value.strip()
    if not name:
        raise ValueError("must not be blank: send null for no name")
    return name


#: A seat's display name: one printable line of at most 80 characters, not blank, the
#: blanks around it dropped. (The length is the string's own constraint, checked first:
#: "at most 80 characters", not the "items" of one on ``str | None`` after validation.)
SeatName = Annotated[str, Field(max_length=80), AfterValidator(one_line),
                     AfterValidator(_named)]


class SeatIn(_In):
    display_name: SeatName | None = Field(default=None, examples=["Front desk"])
    node: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")


class TransferIn(_In):
    mode: Literal["blind", "attended"]
    seat: str | None = Field(default=None, pattern=r"^[0-9]{2,16}$",
                             description="Transfer to this seat...")
    group: str | None = Field(default=None, pattern=NAME_PATTERN,
                              description="...or to this skill group's queue.")


class HangupOut(BaseModel):
    call_id: str
    channels: int = Field(description="Channels of the call that were hung up.")


class TransferOut(BaseModel):
    call_id: str
    mode: str
    target: str
    state: Literal["transferred", "consulting", "completed", "cancelled"]

