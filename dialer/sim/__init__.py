"""A discrete-event simulator of outbound campaigns for benchmarking pacing policies.

`simulate(scenario, mode, days, seed)` runs one campaign through `dialer.pacing.Pacer`
exactly as the live campaign runner drives it (a `Snapshot` every second, outcomes fed
back), with common random numbers: the i-th dial of day d meets the same customer
whatever the policy. Scenarios are those of dialer.md (`SCENARIOS`). Not modelled:
repeat calls to the same number (so no 72-hour-rule violations), AMD false negatives
(machines passed to agents), agents' own no-shows; the abandon message is not timed.
"""

from dialer.sim.engine import RunResult, Simulation, simulate
from dialer.sim.history import PriorDay
from dialer.sim.metrics import AbandonLog, DayMetrics, Fate, mean_ci
from dialer.sim.scenario import SCENARIOS, Scenario

__all__ = [
    "SCENARIOS",
    "AbandonLog",
    "DayMetrics",
    "Fate",
    "PriorDay",
    "RunResult",
    "Scenario",
    "Simulation",
    "mean_ci",
    "simulate",
]
