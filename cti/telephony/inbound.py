"""The inbound configuration as plain data: skill groups, business hours, IVR menus.

PostgreSQL holds it; :mod:`cti.telephony.dialplan` turns it into Asterisk configuration.
:func:`problems` checks a whole configuration at once (references between groups, menus
and numbers included), so a change is either valid as a whole or refused as a whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from typing import TypeVar

from dialer.numbers import is_timezone
from dialer.schedule import CLOCK_PATTERN, UNTIL_PATTERN, hhmm, parse_hhmm

T = TypeVar("T")

STRATEGIES = (
    "ringall", "leastrecent", "fewestcalls", "random", "rrmemory", "rrordered", "linear",
    "wrandom",
)
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DIGITS = "0123456789*#"
DAY_SECONDS = 86_400

# Names that reach Asterisk's configuration: a strict whitelist (no CR/LF, ';', '[',
# ',' or '$', which would add settings or dialplan). Lower-case first character keeps
# group names apart from dialplan variables and special extensions (s, i, t, h).
NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,39}$"
NUMBER_PATTERN = r"^[0-9]{2,20}$"
SOUND_PATTERN = r"^[a-z0-9][a-z0-9_/-]{0,79}$"
VOICEMAIL_BOX_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
_NAME = re.compile(NAME_PATTERN)
_NUMBER = re.compile(NUMBER_PATTERN)
_SOUND = re.compile(SOUND_PATTERN)
_BOX = re.compile(VOICEMAIL_BOX_PATTERN)
_RESERVED = frozenset({"general", "globals", "default"})


# Opening times are whole minutes of the group's own time zone, written HH:MM; a window
# may close at 24:00 (midnight at the end of the day), so a day can be open to its end.
OPENS_PATTERN = CLOCK_PATTERN
CLOSES_PATTERN = UNTIL_PATTERN
DAY_MINUTES = 1440


@dataclass(frozen=True, slots=True)
class WeeklyWindow:
    """Open from ``opens`` to ``closes`` (local time) on ``days``. ``closes`` at 00:00 is
    midnight at the end of the day (24:00): a window never closes before it opens."""

    days: tuple[str, ...]
    opens: time
    closes: time

    @property
    def closing_minute(self) -> int:
        """Minutes from the day's start to the closing time (1440 for 24:00)."""
        return _minute(self.closes) or DAY_MINUTES


def _minute(t: time) -> int:
    return t.hour * 60 + t.minute


# ``HH:MM`` (or ``24:00``, read as the 00:00 that closes a day) -> a time: as a
# campaign's calling windows are read.
parse_clock = parse_hhmm


def clock(t: time, *, closing: bool = False) -> str:
    """A window's time as written (``HH:MM``); a closing 00:00 is ``24:00``."""
    return hhmm(t, end=closing)


@dataclass(frozen=True, slots=True)
class BusinessHours:
    timezone: str
    weekly: tuple[WeeklyWindow, ...]
    holidays: tuple[date, ...] = ()


@dataclass(frozen=True, slots=True)
class WidenStep:
    """After ``after_seconds`` of waiting, seats up to skill level ``max_level`` ring too.

    The first step is at 0 seconds: the pool a caller starts with (level = queue penalty;
    lower is more skilled)."""

    after_seconds: int
    max_level: int


@dataclass(frozen=True, slots=True)
class GroupSettings:
    name: str
    display_name: str | None = None
    strategy: str = "rrmemory"
    ring_seconds: int = 15  # per seat, then the next seat (rollover)
    retry_seconds: int = 2  # gap before ringing the next seat
    wrapup_seconds: int = 10
    max_wait_seconds: int = 300  # then the group's voicemail
    music_class: str = "default"
    voicemail_box: str | None = None  # None: the group's name
    hours: BusinessHours | None = None  # None: always open
    after_hours_prompt: str | None = None  # a sound played before after-hours voicemail
    widen: tuple[WidenStep, ...] = ()
    no_answer_pause_after: int = 3  # consecutive no-answers that pause a seat; 0: never
    numbers: tuple[str, ...] = ()  # dialled numbers (DIDs) routed straight to the group

    @property
    def box(self) -> str:
        return self.voicemail_box or self.name


@dataclass(frozen=True, slots=True)
class IvrMenu:
    """An auto-attendant: a greeting, then a digit picks a skill group.

    A caller who presses nothing reaches ``default_group``; after ``max_invalid`` wrong
    digits too.
    """

    name: str
    greeting: str
    options: Mapping[str, str]  # digit -> group name
    default_group: str
    timeout_seconds: int = 5
    max_invalid: int = 2
    numbers: tuple[str, ...] = ()
    catch_all: bool = False  # also answers every number nobody else claims


@dataclass(frozen=True, slots=True)
class InboundConfig:
    groups: Mapping[str, GroupSettings]
    menus: Mapping[str, IvrMenu] = field(default_factory=dict)
    fallback_group: str = "sales"  # numbers nobody claims, when no menu is catch-all

    def entry_for_unclaimed(self) -> tuple[str, str]:
        """("menu"|"group", name) for numbers no group or menu claims."""
        for menu in self.menus.values():
            if menu.catch_all:
                return "menu", menu.name
        return "group", self.fallback_group


@dataclass(frozen=True, slots=True)
class Problem:
    """What is wrong, and where (a dotted path into the configuration)."""

    where: str
    message: str


def _seconds(where: str, value: int, *, low: int = 1, high: int = DAY_SECONDS) -> list[Problem]:
    if not low <= value <= high:
        return [Problem(where, f"must be between {low} and {high} seconds, not {value}")]
    return []


def check_timezone(name: str) -> bool:
    """An IANA zone (not the host's ``localtime``, nor ``Factory``: business hours would
    follow whatever the server is set to)."""
    return is_timezone(name)


def _hours(where: str, hours: BusinessHours) -> list[Problem]:
    out: list[Problem] = []
    if not check_timezone(hours.timezone):
        out.append(Problem(f"{where}.timezone", f"unknown time zone {hours.timezone!r}"))
    if not hours.weekly:
        out.append(Problem(f"{where}.weekly", "at least one opening window is needed"))
    for i, w in enumerate(hours.weekly):
        here = f"{where}.weekly[{i}]"
        if not w.days:
            out.append(Problem(f"{here}.days", "no days given"))
        bad = [d for d in w.days if d not in WEEKDAYS]
        if bad:
            out.append(Problem(f"{here}.days", f"unknown day(s) {bad}; use {list(WEEKDAYS)}"))
        if w.closing_minute <= _minute(w.opens):
            out.append(Problem(here, "closes must be after opens (same day; 24:00 is "
                                     "midnight at its end)"))
        for name, t in (("opens", w.opens), ("closes", w.closes)):
            if t.second or t.microsecond or t.tzinfo is not None:
                out.append(Problem(f"{here}.{name}", "whole minutes of the group's time zone "
                                                     "(HH:MM): no seconds, no UTC offset"))
    return out


def _group(g: GroupSettings, music_classes: Iterable[str] | None) -> list[Problem]:
    where = f"groups.{g.name}"
    out: list[Problem] = []
    if not _NAME.match(g.name) or g.name in _RESERVED:
        out.append(Problem(f"{where}.name", f"must match {NAME_PATTERN} and not be reserved"))
    if g.strategy not in STRATEGIES:
        out.append(Problem(f"{where}.strategy", f"must be one of {list(STRATEGIES)}"))
    out += _seconds(f"{where}.ring_seconds", g.ring_seconds)
    out += _seconds(f"{where}.retry_seconds", g.retry_seconds, low=0)
    out += _seconds(f"{where}.wrapup_seconds", g.wrapup_seconds, low=0)
    out += _seconds(f"{where}.max_wait_seconds", g.max_wait_seconds)
    if music_classes is not None and g.music_class not in set(music_classes):
        out.append(Problem(f"{where}.music_class", f"no music-on-hold class {g.music_class!r}"))
    elif not _NAME.match(g.music_class) and g.music_class != "default":
        out.append(Problem(f"{where}.music_class", f"must match {NAME_PATTERN}"))
    if g.voicemail_box is not None and not _BOX.match(g.voicemail_box):
        out.append(Problem(f"{where}.voicemail_box", f"must match {VOICEMAIL_BOX_PATTERN}"))
    if g.after_hours_prompt is not None and not _SOUND.match(g.after_hours_prompt):
        out.append(Problem(f"{where}.after_hours_prompt", f"must match {SOUND_PATTERN}"))
    if g.hours is not None:
        out += _hours(f"{where}.hours", g.hours)
    if g.widen and g.widen[0].after_seconds != 0:
        out.append(Problem(f"{where}.widen[0].after_seconds",
                           "the first step (the pool a caller starts with) is at 0 seconds"))
    last, widest = -1, -1
    for i, step in enumerate(g.widen):
        out += _seconds(f"{where}.widen[{i}].after_seconds", step.after_seconds, low=0)
        if not 0 <= step.max_level <= 1000:
            out.append(Problem(f"{where}.widen[{i}].max_level", "must be between 0 and 1000"))
        if step.after_seconds <= last:
            out.append(Problem(f"{where}.widen[{i}]", "steps must come in increasing time"))
        elif i and step.after_seconds >= g.max_wait_seconds:
            # the caller has left for voicemail by then: a step that can never apply
            out.append(Problem(f"{where}.widen[{i}].after_seconds",
                               f"must be under max_wait_seconds ({g.max_wait_seconds})"))
        if step.max_level < widest:
            out.append(Problem(f"{where}.widen[{i}].max_level",
                               f"a step widens the pool: at least {widest}, the level before"))
        last, widest = step.after_seconds, max(widest, step.max_level)
    if not 0 <= g.no_answer_pause_after <= 100:
        out.append(Problem(f"{where}.no_answer_pause_after", "must be between 0 and 100"))
    return out


def _menu(m: IvrMenu, groups: Mapping[str, GroupSettings]) -> list[Problem]:
    where = f"menus.{m.name}"
    out: list[Problem] = []
    if not _NAME.match(m.name):
        out.append(Problem(f"{where}.name", f"must match {NAME_PATTERN}"))
    if not _SOUND.match(m.greeting):
        out.append(Problem(f"{where}.greeting", f"must match {SOUND_PATTERN}"))
    for digit, group in m.options.items():
        if len(digit) != 1 or digit not in DIGITS:
            out.append(Problem(f"{where}.options", f"{digit!r} is not one DTMF digit"))
        if group not in groups:
            out.append(Problem(f"{where}.options.{digit}", f"unknown skill group {group!r}"))
    if m.default_group not in groups:
        out.append(Problem(f"{where}.default_group", f"unknown skill group {m.default_group!r}"))
    out += _seconds(f"{where}.timeout_seconds", m.timeout_seconds, high=60)
    if not 1 <= m.max_invalid <= 10:
        out.append(Problem(f"{where}.max_invalid", "must be between 1 and 10"))
    return out


def problems(config: InboundConfig, music_classes: Iterable[str] | None = None, *,
             changed: str | None = None) -> list[Problem]:
    """Everything wrong with ``config``; empty when Asterisk can be given it.

    ``changed`` names what the change being checked is about (``groups.<name>`` or
    ``menus.<name>``): a dialled number or voicemail box it shares with another group or
    menu is reported on its own field, the one the request can fix, and not on the one
    that had it first. Without it, on whichever comes second."""
    out: list[Problem] = []
    for g in config.groups.values():
        out += _group(g, music_classes)
    for m in config.menus.values():
        out += _menu(m, config.groups)
    if config.fallback_group not in config.groups:
        out.append(Problem("fallback_group", f"unknown skill group {config.fallback_group!r}"))
    claimed: dict[str, str] = {}
    owners = [(f"groups.{g.name}", g.numbers) for g in config.groups.values()]
    owners += [(f"menus.{m.name}", m.numbers) for m in config.menus.values()]
    for owner, numbers in _last(owners, changed):
        for n in numbers:
            if not _NUMBER.match(n):
                out.append(Problem(f"{owner}.numbers", f"{n!r} must match {NUMBER_PATTERN}"))
            elif n in claimed:
                out.append(Problem(f"{owner}.numbers", f"{n} is already routed by {claimed[n]}"))
            else:
                claimed[n] = owner
    catch_all = [m.name for m in config.menus.values() if m.catch_all]
    if len(catch_all) > 1:
        out.append(Problem("menus", f"only one menu may be catch_all, not {catch_all}"))
    boxes: dict[str, str] = {}
    for owner, box in _last([(f"groups.{g.name}", g.box) for g in config.groups.values()],
                            changed):
        if box in boxes:
            out.append(Problem(f"{owner}.voicemail_box",
                               f"box {box!r} already belongs to {boxes[box]}"))
        else:
            boxes[box] = owner
    return out


def _last(owned: list[tuple[str, T]], changed: str | None) -> list[tuple[str, T]]:
    """``owned`` with ``changed``'s entry moved last (the rest in their order): what is
    claimed twice is reported on the second claim."""
    return sorted(owned, key=lambda item: item[0] == changed)
