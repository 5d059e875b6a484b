"""The outbound-call report: per campaign, the dials placed over a period, what became of
them and what the agents recorded.

PostgreSQL counts the dials per campaign and outcome (``cti/db/report_queries.py``: a
month of a predictive campaign is a million dials, too many rows to fetch); this module
turns the counts into the report's rates. Pure.

Every campaign of the period is a row, zeros included: those made before the period
ended (campaigns are never deleted, only stopped) and any other that dialed in it.
Click-to-dial calls made outside any campaign are one more row (no campaign id), when
there were some.

- ``live_answers``: customers who answered: connected to an agent or abandoned.
- ``abandon_rate``: abandoned over live answers, the regulators' formula (dialer.md).
- ``contact_rate``: live answers over the dials that have ended.
- ``dispositions_<code>``: dispositions agents recorded on this period's dials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cti.reports.table import Column, Row, Table, integer, mean, number, ratio, text
from dialer.dispositions import DispositionCode
from dialer.schedule import Outcome

OUTCOMES = tuple(Outcome)
NO_CAMPAIGN = "(click-to-dial, no campaign)"
IN_PROGRESS = "in_progress"


@dataclass(frozen=True, slots=True)
class CampaignDials:
    """A campaign of the period (`campaign_id` None: click-to-dial outside campaigns) and
    its dials started in the period, counted."""

    campaign_id: int | None
    name: str | None
    dials: int = 0
    leads: int = 0  # distinct leads dialed
    numbers: int = 0  # distinct numbers dialed


@dataclass(frozen=True, slots=True)
class OutcomeDials:
    """A campaign's dials with one outcome (None: still in progress), counted."""

    campaign_id: int | None
    outcome: str | None
    dials: int
    talk_seconds: int = 0  # summed over the answered dials whose talk is known
    talked: int = 0  # answered dials whose talk is known


def campaign_table(campaigns: Iterable[CampaignDials], outcomes: Iterable[OutcomeDials],
                   dispositions: Mapping[tuple[int | None, str], int]) -> Table:
    """`dispositions`: how many of each code were recorded, by (campaign id, code)."""
    counts: dict[int | None, dict[str, int]] = {}
    talk: dict[int | None, tuple[int, int]] = {}
    for o in outcomes:
        mine = counts.setdefault(o.campaign_id, {})
        key = o.outcome or IN_PROGRESS
        mine[key] = mine.get(key, 0) + o.dials
        if o.outcome == Outcome.ANSWERED:
            seconds, talked = talk.get(o.campaign_id, (0, 0))
            talk[o.campaign_id] = (seconds + o.talk_seconds, talked + o.talked)
    columns: list[Column] = [
        integer("campaign_id", "Campaign id"),
        text("campaign", "Campaign"),
        integer("dials", "Dials"),
        integer(IN_PROGRESS, "Still in progress"),
        *(integer(o.value, f"Outcome: {o.value.replace('_', ' ')}") for o in OUTCOMES),
        integer("live_answers", "Live answers"),
        number("abandon_rate", "Abandon rate (of live answers)"),
        number("contact_rate", "Contact rate (live answers of ended dials)"),
        integer("talk_s", "Talk time (s)"),
        number("talk_avg_s", "Average talk time (s)"),
        integer("leads_dialed", "Leads dialed"),
        integer("numbers_dialed", "Numbers dialed"),
        *(integer(f"dispositions_{d.value}", f"Dispositions: {d.value.replace('_', ' ')}")
          for d in DispositionCode),
    ]
    rows: list[Row] = []
    # Campaigns by id, the calls outside campaigns last.
    for c in sorted(campaigns, key=lambda c: (c.campaign_id is None, c.campaign_id or 0)):
        mine = counts.get(c.campaign_id, {})
        live = mine.get(Outcome.ANSWERED, 0) + mine.get(Outcome.ABANDONED, 0)
        ended = c.dials - mine.get(IN_PROGRESS, 0)
        seconds, talked = talk.get(c.campaign_id, (0, 0))
        name = NO_CAMPAIGN if c.campaign_id is None else c.name
        rows.append((
            c.campaign_id, name, c.dials, mine.get(IN_PROGRESS, 0),
            *(mine.get(o, 0) for o in OUTCOMES),
            live, ratio(mine.get(Outcome.ABANDONED, 0), live), ratio(live, ended),
            seconds, mean(seconds, talked), c.leads, c.numbers,
            *(dispositions.get((c.campaign_id, d.value), 0) for d in DispositionCode),
        ))
    return Table(columns, rows)
