"""Whether a campaign's answer rate holds across a pause (overnight, a stop).

After a pause the rate may have moved (drift: 15% at the evening's end, 35% at 9 the
next morning) or not (a steady list). Relearning cautiously after every pause is safe
but costs a steady campaign its first minutes (S0 N=20: 0.0008 of a 30-day occupancy,
bench/dialer_sim), so the rule trusts the rate across a pause once the campaign has
shown it holds: the rate before the last pause and the rate of the first `dials` dials
after it agreed within `z` standard errors. Trust is watched too: while the first
`dials` fresh dials come in, more live answers than the old rate allows (one-sided,
answering more than expected is what abandons calls) end it at once.

The test counts every fresh dial placed, not only those resolved: the first outcomes
of a morning are the quick ones, live answers and failures, while no-answers come in
only when they ring out, so live answers among resolved dials ran at 52% in a 24%
campaign after 23 dials (S0 N=20) and ended trust on most mornings. A call still ringing
counts for the chance it would have answered live by now (`pending`); a resolved one
counts whole, which slightly overstates what is expected and so errs towards trust only
when the evidence is already close.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dialer.pacing.state import State, count, flag, number, triple


@dataclass(frozen=True, slots=True)
class Pause:
    """The answer rate when dialing resumed, and the counters then."""

    rate: float
    dials: int
    live: int


def _allowed(rate: float, dials: float, z: float) -> float:
    """Standard errors' worth of live answers `dials` fresh dials may differ by."""
    return z * math.sqrt(dials * rate * (1.0 - rate))


class OvernightCheck:
    """The verdict of the last pause, and the pause under way."""

    def __init__(self, dials: int, z: float) -> None:
        """`dials` and `z` as `PredictiveConfig.trust_dials` and `.trust_z`."""
        if dials < 1 or z <= 0:
            raise ValueError("dials must be >= 1 and z positive")
        self.dials = dials
        self.z = z
        #: Did the rate hold across the last pause? None: no pause judged yet.
        self.held: bool | None = None
        self.trusting = False
        self._pause: Pause | None = None

    def state(self) -> State:
        pause = self._pause
        return {
            "held": self.held,
            "trusting": self.trusting,
            "pause": None if pause is None else [pause.rate, pause.dials, pause.live],
        }

    def restore(self, state: State) -> None:
        """Take back what `state` saved, or ValueError changing nothing."""
        held, trusting = flag(state, "held", nullable=True), flag(state, "trusting")
        saved = triple(state, "pause", ("rate", "dials", "live"))
        pause = None if saved is None else Pause(
            number(saved, "rate", 0.0, 1.0), count(saved, "dials"), count(saved, "live"))
        self.held, self.trusting, self._pause = held, bool(trusting), pause

    @property
    def judging(self) -> bool:
        """A pause is under way and its fresh dials are being counted."""
        return self._pause is not None

    def resume(self, rate: float, dials: int, live: int) -> bool:
        """Dialing resumes after a pause with the estimator at `rate`: trust it?"""
        self._pause = Pause(rate, dials, live)
        self.trusting = self.held is True
        return self.trusting

    def follow(self, dials: int, live: int, pending: float = 0.0) -> bool:
        """The counters now, and `pending`: of the calls still ringing, how many would
        have answered live by now at the pause's rate and answer times (each call's
        P(answered live by its elapsed time | live)). True when trust ends now (the
        rule then relearns as after any pause). Settles the verdict after `self.dials`
        resolved fresh dials."""
        pause = self._pause
        if pause is None:
            return False
        fresh, answered = dials - pause.dials, live - pause.live
        placed = fresh + pending
        excess = answered - placed * pause.rate
        ended = self.trusting and excess > _allowed(pause.rate, placed, self.z) + 1.0
        if ended:
            self.trusting = False
        if fresh >= self.dials:
            self.held = abs(excess) <= _allowed(pause.rate, placed, self.z)
            self._pause = None
        return ended
