"""The outbound-call report: per campaign, the dials placed over a period, what became of
them and what the agents recorded. Pure: a fold over the dial attempts.

Click-to-dial calls made outside any campaign are one more row (no campaign id).

- ``live_answers``: customers who answered: connected to an agent or abandoned.
- ``abandon_rate``: abandoned over live answers, the regulators' formula (dialer.md).
- ``contact_rate``: live answers over the dials that have ended.
- ``dispositions_<code>``: dispositions agents recorded on this period's dials.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cti.reports.table import Column, Row, Table, integer, mean, number, ratio, text
from dialer.dispositions import DispositionCode
from dialer.schedule import Outcome

OUTCOMES = tuple(Outcome)
NO_CAMPAIGN = "(click-to-dial, no campaign)"


@dataclass(frozen=True, slots=True)
class DialRow:
    campaign_id: int | None
    campaign_name: str | None
    lead_id: int | None
    phone: str
    outcome: str | None  # None: still in progress
    talk_seconds: int | None


@dataclass(slots=True)
class _Campaign:
    name: str
    dials: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    talk: int = 0
    talked: int = 0
    leads: set[int] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)


def campaign_table(dials: Iterable[DialRow],
                   dispositions: Mapping[tuple[int | None, str], int]) -> Table:
    """`dispositions`: how many of each code were recorded, by (campaign id, code)."""
    campaigns: dict[int | None, _Campaign] = {}
    for dial in dials:
        c = campaigns.setdefault(dial.campaign_id,
                                 _Campaign(dial.campaign_name or NO_CAMPAIGN))
        c.dials += 1
        key = dial.outcome or "in_progress"
        c.outcomes[key] = c.outcomes.get(key, 0) + 1
        c.numbers.add(dial.phone)
        if dial.lead_id is not None:
            c.leads.add(dial.lead_id)
        if dial.outcome == Outcome.ANSWERED and dial.talk_seconds is not None:
            c.talk += dial.talk_seconds
            c.talked += 1
    for campaign_id, _code in dispositions:
        campaigns.setdefault(campaign_id, _Campaign(NO_CAMPAIGN))
    columns: list[Column] = [
        integer("campaign_id", "Campaign id"),
        text("campaign", "Campaign", 128),
        integer("dials", "Dials"),
        integer("in_progress", "Still in progress"),
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
    for campaign_id in sorted(campaigns, key=lambda i: (i is None, i or 0)):
        c = campaigns[campaign_id]
        counts = c.outcomes
        live = counts.get(Outcome.ANSWERED, 0) + counts.get(Outcome.ABANDONED, 0)
        ended = c.dials - counts.get("in_progress", 0)
        rows.append((
            campaign_id, c.name, c.dials, counts.get("in_progress", 0),
            *(counts.get(o, 0) for o in OUTCOMES),
            live, ratio(counts.get(Outcome.ABANDONED, 0), live), ratio(live, ended),
            c.talk, mean(c.talk, c.talked), len(c.leads), len(c.numbers),
            *(dispositions.get((campaign_id, d.value), 0) for d in DispositionCode),
        ))
    return Table(columns, rows)
