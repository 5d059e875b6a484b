"""The skill-group workload report: per group, the calls that queued in it over a period
and how they were served. Pure: a fold over the calls' history rows.

- ``service_level``: calls answered within `sl_seconds` of queueing over all calls
  queued (abandoned ones included, however short: the strict form, so that a group
  cannot look better by losing callers early).
- ``abandon_rate``: callers who hung up while waiting over calls queued.
- ``other``: calls that left the queue neither answered nor abandoned (the maximum
  wait reached, no agent logged in, sent to voicemail).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from cti.reports.table import Table, integer, mean, number, ratio, text


@dataclass(frozen=True, slots=True)
class QueuedCall:
    skill_group: str
    answered: bool
    abandoned: bool
    wait_seconds: int | None
    talk_seconds: int | None
    seat_id: str | None


@dataclass(slots=True)
class _Group:
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    within_sl: int = 0
    wait_answered: int = 0
    wait_abandoned: int = 0
    wait_max: int = 0
    talk: int = 0
    talked: int = 0
    seats: set[str] = field(default_factory=set)


def group_table(calls: Iterable[QueuedCall], sl_seconds: int) -> Table:
    groups: dict[str, _Group] = {}
    for call in calls:
        g = groups.setdefault(call.skill_group, _Group())
        wait = call.wait_seconds or 0
        g.offered += 1
        g.wait_max = max(g.wait_max, wait)
        if call.answered:
            g.answered += 1
            g.wait_answered += wait
            g.within_sl += wait <= sl_seconds
            if call.seat_id is not None:
                g.seats.add(call.seat_id)
            if call.talk_seconds is not None:
                g.talk += call.talk_seconds
                g.talked += 1
        elif call.abandoned:
            g.abandoned += 1
            g.wait_abandoned += wait
    columns = [
        text("skill_group", "Skill group", 64),
        integer("offered", "Calls queued"),
        integer("answered", "Answered"),
        integer("abandoned", "Abandoned while waiting"),
        integer("other", "Left the queue otherwise"),
        integer("answered_within_sl", f"Answered within {sl_seconds} s"),
        number("service_level", f"Service level ({sl_seconds} s)"),
        number("abandon_rate", "Abandon rate"),
        number("wait_answered_avg_s", "Average wait of answered calls (s)"),
        number("wait_abandoned_avg_s", "Average wait before abandoning (s)"),
        integer("wait_max_s", "Longest wait (s)"),
        integer("talk_s", "Talk time (s)"),
        number("talk_avg_s", "Average talk time (s)"),
        integer("seats_answering", "Seats that answered"),
    ]
    rows = [(
        name, g.offered, g.answered, g.abandoned, g.offered - g.answered - g.abandoned,
        g.within_sl, ratio(g.within_sl, g.offered), ratio(g.abandoned, g.offered),
        mean(g.wait_answered, g.answered), mean(g.wait_abandoned, g.abandoned), g.wait_max,
        g.talk, mean(g.talk, g.talked), len(g.seats),
    ) for name, g in sorted(groups.items())]
    return Table(columns, rows)
