"""Pacing: how many outbound calls to place each tick (pure, clock-free).

Build a `Snapshot`, call `Pacer.decide`, feed outcomes back with `Pacer.observe_*`.
"""

from dialer.pacing.estimators import Estimates, Outcome
from dialer.pacing.pacer import Learned, Pacer
from dialer.pacing.snapshot import (
    AbandonCount,
    AbandonCounters,
    Agents,
    Decision,
    Mode,
    PacingSettings,
    Snapshot,
)

__all__ = [
    "AbandonCount",
    "AbandonCounters",
    "Agents",
    "Decision",
    "Estimates",
    "Learned",
    "Mode",
    "Outcome",
    "Pacer",
    "PacingSettings",
    "Snapshot",
]
