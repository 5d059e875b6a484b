"""What the pacer decided, tick after tick, summed up (pure).

The live campaign runner and the simulator keep one each, so a supervisor (and the
live-vs-simulated bench) can see how often each rule was in charge and how hard the
campaign over-dialed, without logging every tick.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dialer.pacing.rules import uncovered_free_agents
from dialer.pacing.snapshot import Decision, Snapshot


def rule_of(reason: str) -> str:
    """The rule that decided a tick, read from its reason: the words before the first
    colon ("predictive", "learning", "small budget", "guard", "progressive"), or the
    whole reason without what a later cap added ("no agent", "no line headroom")."""
    head = reason.split(";", 1)[0]
    return head.split(":", 1)[0].strip()


def beyond_free_agents(snapshot: Snapshot, placed: int) -> int:
    """Of `placed` calls this tick, those progressive dialing would not have placed:
    beyond one per free agent not already covered by a ringing call or a waiting
    customer."""
    return max(0, placed - max(0, uncovered_free_agents(snapshot)))


@dataclass(slots=True)
class DecisionTally:
    """Ticks, calls placed, and calls placed beyond the free agents, per rule."""

    ticks: int = 0
    placed: int = 0
    #: Calls placed beyond free agents (`beyond_free_agents`), and the ticks that did so.
    over_dialed: int = 0
    over_dial_ticks: int = 0
    #: Ticks each rule decided, by `rule_of` its reason.
    rules: dict[str, int] = field(default_factory=dict)

    def add(self, snapshot: Snapshot, decision: Decision, placed: int | None = None) -> None:
        """One tick; `placed`: the calls actually placed when fewer than decided (the
        live runner runs out of due leads, Asterisk refuses an Originate)."""
        placed = decision.place if placed is None else min(placed, decision.place)
        self.ticks += 1
        self.placed += placed
        beyond = beyond_free_agents(snapshot, placed)
        self.over_dialed += beyond
        self.over_dial_ticks += beyond > 0
        rule = rule_of(decision.reason)
        self.rules[rule] = self.rules.get(rule, 0) + 1
