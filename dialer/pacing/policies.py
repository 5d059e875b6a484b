"""The baseline pacing policies: progressive, fixed ratio, VICIdial-style adaptive level.

Each returns how many calls it wants placed now and why; `rules.enforce` then applies
the rules every policy obeys. The predictive policy lives in `predictive.py`.
"""

from __future__ import annotations

from typing import Protocol

from dialer.pacing.estimators import Estimates
from dialer.pacing.rules import uncovered_free_agents
from dialer.pacing.snapshot import Snapshot
from dialer.pacing.state import State, number, optional_number


class Policy(Protocol):
    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        """How many calls to place now, and why."""
        ...


class Progressive:
    """One call per free agent not yet covered by a ringing call: never abandons."""

    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        place = uncovered_free_agents(snapshot)
        return place, f"progressive: {snapshot.agents.free} free, {len(snapshot.ringing)} ringing"


class FixedRatio:
    """`ratio` lines per available (free) agent, minus the calls already ringing."""

    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        ratio = snapshot.settings.ratio
        lines = round(ratio * snapshot.agents.free)
        place = lines - len(snapshot.ringing) - snapshot.waiting
        return place, f"ratio: {ratio:g} x {snapshot.agents.free} free = {lines} lines"


class AdaptiveLevel:
    """VICIdial-style adaptive dial level (AST_VDauto_dial.pl / AST_VDadapt.pl).

    Lines = round(level x (ready + in-call agents)) minus calls in progress (ringing,
    waiting, connected). Every 15 s the level moves by (ready - waiting) / agents,
    clamped to [1, 3]; when the drop rate since midnight exceeds the target the level
    is reset to 1 (VICIdial's ADAPT_HARD_LIMIT).
    """

    PERIOD = 15.0
    LOW, HIGH = 1.0, 3.0

    def __init__(self, level: float = 1.0) -> None:
        self.level = level
        self._last_adapt: float | None = None

    def state(self) -> State:
        return {"level": self.level, "last_adapt": self._last_adapt}

    def restore(self, state: State) -> None:
        """Take back what `state` saved, or ValueError changing nothing."""
        level = number(state, "level", self.LOW, self.HIGH)
        self.level, self._last_adapt = level, optional_number(state, "last_adapt")

    def _adapt(self, snapshot: Snapshot) -> None:
        if self._last_adapt is not None and snapshot.now - self._last_adapt < self.PERIOD:
            return
        self._last_adapt = snapshot.now
        if snapshot.counters.today.rate > snapshot.settings.target:
            self.level = self.LOW
            return
        agents = snapshot.agents.free + len(snapshot.agents.talking)
        if agents > 0:
            nudge = (snapshot.agents.free - snapshot.waiting) / agents
            self.level = min(self.HIGH, max(self.LOW, self.level + nudge))

    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        self._adapt(snapshot)
        agents = snapshot.agents.free + len(snapshot.agents.talking)
        in_progress = len(snapshot.ringing) + snapshot.waiting + len(snapshot.agents.talking)
        place = round(self.level * agents) - in_progress
        return place, f"adaptive: level {self.level:.2f} x {agents} agents - {in_progress} calls"
