"""The one entry point the live campaign runner and the simulator call.

One `Pacer` per campaign: feed it outcomes as they happen (`observe_*`), ask it every
tick (`decide`). The campaign's mode, in the snapshot, picks the policy; each policy
keeps its own state (the adaptive level, the predictive loop's integral).
"""

from __future__ import annotations

from dialer.pacing.estimators import Estimates, Outcome
from dialer.pacing.policies import AdaptiveLevel, FixedRatio, Policy, Progressive
from dialer.pacing.predictive import Predictive
from dialer.pacing.rules import enforce
from dialer.pacing.snapshot import Decision, Mode, Snapshot


class Pacer:
    def __init__(
        self, estimates: Estimates | None = None, predictive: Predictive | None = None
    ) -> None:
        """`predictive`: the predictive rule to use, e.g. `Predictive(PredictiveConfig(...))`
        or the simulator's oracle; the default configuration without it."""
        self.estimates = estimates or Estimates()
        self.predictive = predictive or Predictive()
        self.policies: dict[Mode, Policy] = {
            Mode.PROGRESSIVE: Progressive(),
            Mode.RATIO: FixedRatio(),
            Mode.ADAPTIVE: AdaptiveLevel(),
            Mode.PREDICTIVE: self.predictive,
        }

    def decide(self, snapshot: Snapshot) -> Decision:
        if snapshot.agents.working <= 0:
            return enforce(snapshot, 0, "no agent")
        wanted, reason = self.policies[snapshot.settings.mode].wanted(snapshot, self.estimates)
        decision = enforce(snapshot, wanted, reason)
        self.predictive.placed(snapshot.now, decision.place)
        return decision

    def observe_dial(self, outcome: Outcome, seconds: float) -> None:
        self.estimates.observe_dial(outcome, seconds)

    def observe_talk(self, seconds: float) -> None:
        self.estimates.observe_talk(seconds)

    def observe_wrap(self, seconds: float) -> None:
        self.estimates.observe_wrap(seconds)
