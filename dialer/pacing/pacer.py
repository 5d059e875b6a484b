"""The one entry point the live campaign runner and the simulator call.

One `Pacer` per campaign: feed it outcomes as they happen (`observe_*`), ask it every
tick (`decide`). The campaign's mode, in the snapshot, picks the policy; each policy
keeps its own state (the adaptive level, the predictive loop's integral). `state` and
`restored` carry all of it across a pause or a restart (`dialer/pacing/state.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.pacing.estimators import Estimates, Outcome
from dialer.pacing.policies import AdaptiveLevel, FixedRatio, Policy, Progressive
from dialer.pacing.predictive import Predictive
from dialer.pacing.rules import enforce
from dialer.pacing.snapshot import Decision, Mode, Snapshot
from dialer.pacing.state import State, part

#: Changes when what `Pacer.state` saves changes shape: an older state is then refused
#: (the campaign relearns) rather than misread. tests/unit/dialer/test_pacer_state.py
#: keeps each version's shape and fails when the shape moves without it.
STATE_VERSION = 1


@dataclass(frozen=True, slots=True)
class Learned:
    """What a pacer has learned, as a supervisor reads it: the answer and handle times
    it paces on, how much it has seen, and the abandon risk its loop allows a call."""

    #: Dials whose outcome it has seen, and the calls handled (talk and wrap-up) among
    #: them; the predictive rule learns until 100 and 30.
    dials_seen: int = 0
    handled_seen: int = 0
    #: Of the recent dials (older ones weigh less): the share answered by a person, and
    #: the mean seconds from the dial to that answer.
    live_answer_rate: float = 0.0
    live_answer_seconds: float = 0.0
    #: Mean talk and wrap-up seconds of the recent handled calls.
    talk_seconds: float = 0.0
    wrap_seconds: float = 0.0
    #: The abandon probability the predictive rule allows the last call it places,
    #: as its loop on the measured abandon rate has trimmed it.
    risk_threshold: float = 0.0


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

    def learned(self) -> Learned:
        answers, handle = self.estimates.answers, self.estimates.handle
        return Learned(
            dials_seen=answers.count, handled_seen=handle.count,
            live_answer_rate=answers.p_live(), live_answer_seconds=answers.live_mean(),
            talk_seconds=handle.talk.mean(), wrap_seconds=handle.wrap.mean(),
            risk_threshold=self.predictive.controller.threshold,
        )

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
