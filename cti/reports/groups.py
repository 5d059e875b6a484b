"""The skill-group workload report: per group, the calls that queued in it over a period
and how they were served.

PostgreSQL sums the calls per group (``cti/db/report_queries.py``: a year of a busy
centre's calls is too many rows to fetch); this module turns the sums into the report's
rates and averages. Pure.

Every group is a row, zeros included: those that existed when the period ended (made
before its end, not deleted since) and any other that had calls in it.

- ``service_level``: calls answered within `sl_seconds` of queueing over all calls
  queued (abandoned ones included, however short: the strict form, so that a group
  cannot look better by losing callers early).
- ``abandon_rate``: callers who hung up while waiting over calls queued.
- ``other``: calls that left the queue neither answered nor abandoned (the maximum
  wait reached, no agent logged in, sent to voicemail).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cti.reports.table import Table, integer, mean, number, ratio, text


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """One group's inbound calls started in the period, summed. A wait or a talk time
    not known counts as none; a call answered counts as answered even if flagged
    abandoned."""

    skill_group: str
    display_name: str | None = None
    offered: int = 0  # calls queued
    answered: int = 0
    abandoned: int = 0  # not answered, the caller hung up while waiting
    within_sl: int = 0  # answered, waiting at most the service level's seconds
    wait_answered: int = 0  # seconds, summed over the calls answered
    wait_abandoned: int = 0  # seconds, summed over the calls abandoned
    wait_max: int = 0
    talk: int = 0  # seconds, summed over the calls answered whose talk is known
    talked: int = 0  # calls answered whose talk is known
    seats: int = 0  # seats that answered at least one


def group_table(groups: Iterable[GroupTotals], sl_seconds: int) -> Table:
    columns = [
        text("skill_group", "Skill group"),
        text("display_name", "Skill group's name"),
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
        g.skill_group, g.display_name, g.offered, g.answered, g.abandoned,
        g.offered - g.answered - g.abandoned, g.within_sl, ratio(g.within_sl, g.offered),
        ratio(g.abandoned, g.offered), mean(g.wait_answered, g.answered),
        mean(g.wait_abandoned, g.abandoned), g.wait_max, g.talk, mean(g.talk, g.talked),
        g.seats,
    ) for g in sorted(groups, key=lambda g: g.skill_group)]
    return Table(columns, rows)
