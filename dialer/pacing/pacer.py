"""The one entry point the live campaign runner and the simulator call.

One `Pacer` per campaign: feed it outcomes as they happen (`observe_*`), ask it every
tick (`decide`). The campaign's mode, in the snapshot, picks the policy; each policy
keeps its own state (the adaptive level, the predictive loop's integral). `state` and
`restored` carry all of it across a pause or a restart (`dialer/pacing/state.py`).
"""

from __future__ import annotations

from dialer.pacing.estimators import Estimates, Outcome
from dialer.pacing.policies import AdaptiveLevel, FixedRatio, Policy, Progressive
from dialer.pacing.predictive import Predictive
from dialer.pacing.rules import enforce
from dialer.pacing.snapshot import Decision, Mode, Snapshot
from dialer.pacing.state import State, part

#: Changes when what `Pacer.state` saves changes shape: an older state is then refused
#: (the campaign relearns) rather than misread.
STATE_VERSION = 1


class Pacer:
    def __init__(
        self, estimates: Estimates | None = None, predictive: Predictive | None = None
    ) -> None:
        """`predictive`: the predictive rule to use, e.g. `Predictive(PredictiveConfig(...))`
        or the simulator's oracle; the default configuration without it."""
        self.estimates = estimates or Estimates()
        self.predictive = predictive or Predictive()
        self.adaptive = AdaptiveLevel()
        self.policies: dict[Mode, Policy] = {
            Mode.PROGRESSIVE: Progressive(),
            Mode.RATIO: FixedRatio(),
            Mode.ADAPTIVE: self.adaptive,
            Mode.PREDICTIVE: self.predictive,
        }

    def state(self) -> State:
        """What this pacer has learned, as plain JSON (`dialer/pacing/state.py`)."""
        return {
            "version": STATE_VERSION,
            "estimates": self.estimates.state(),
            "predictive": self.predictive.state(),
            "adaptive": self.adaptive.state(),
        }

    @classmethod
    def restored(cls, state: State, predictive: Predictive | None = None) -> Pacer:
        """A pacer that knows what `state` saved; ValueError naming the first bad value
        when it is damaged or from another version of this code."""
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"version: expected {STATE_VERSION}, got {state.get('version')!r}")
        pacer = cls(predictive=predictive)
        pacer.estimates.restore(part(state, "estimates"))
        pacer.predictive.restore(part(state, "predictive"))
        pacer.adaptive.restore(part(state, "adaptive"))
        return pacer

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
