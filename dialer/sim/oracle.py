"""The unreachable reference of dialer.md: our rule told each busy agent's finish time.

No live engine knows when an agent will finish talking and wrapping up; the simulator
does (it drew the times). Told them, the same rule, loop and guards show how much of
the gap to perfect pacing is the agents' unpredictability rather than the rule's: the
reference simulation in dialer.md puts this oracle 2 points above its model-based rule
at N=20 (0.92 against 0.90).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dialer.pacing.estimators import FloatArray
from dialer.pacing.predictive import Predictive, PredictiveConfig, RiskTables
from dialer.pacing.snapshot import CONNECT_DEADLINE_SECONDS, Snapshot


@dataclass(slots=True)
class Truth:
    """What the simulator knows each tick: seconds until each busy agent (talking, then
    wrapping up, in the snapshot's order) is free."""

    handle_left: tuple[float, ...] = ()


class OraclePredictive(Predictive):
    def __init__(self, truth: Truth, config: PredictiveConfig | None = None) -> None:
        super().__init__(config)
        self.truth = truth

    def agents_free(self, snapshot: Snapshot, tables: RiskTables) -> FloatArray | None:
        busy = len(snapshot.agents.talking) + len(snapshot.agents.wrapping)
        left = np.asarray(self.truth.handle_left, dtype=np.float64)
        if len(left) != busy:
            raise ValueError(f"truth for {len(left)} busy agents, snapshot has {busy}")
        deadline = tables.answer_at + CONNECT_DEADLINE_SECONDS
        return (left[:, None] <= deadline[None, :]).astype(np.float64)
