"""The simulated campaigns of dialer.md: S0 and its variants.

S0: a live person answers 30% of dials after 3 s + Gamma(2, 4 s) (capped at 25 s);
15% are busy or invalid and fail at 5 s; the rest ring out. Talk is lognormal with
mean 150 s and CV 1.0; wrap-up lognormal with mean 30 s and CV 0.8. 8-hour days.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

DAY_SECONDS = 8 * 3600.0


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    agents: int
    #: Live-answer probability at the start and the end of the day (linear between).
    live_start: float = 0.30
    live_end: float = 0.30
    busy: float = 0.15
    busy_seconds: float = 5.0
    #: Answering machines (answering-machine detection is on when > 0).
    machines: float = 0.0
    amd_min: float = 2.5
    amd_max: float = 5.0
    #: P(AMD calls a live person a machine and hangs up).
    amd_false_positive: float = 0.0
    answer_base: float = 3.0
    answer_shape: float = 2.0
    answer_scale: float = 4.0
    answer_cap: float = 25.0
    talk_mean: float = 150.0
    talk_cv: float = 1.0
    #: Talk mean from midday on (None: unchanged).
    talk_mean_afternoon: float | None = None
    wrap_mean: float = 30.0
    wrap_cv: float = 0.8
    #: Share of agents on a staggered break at any time of the day.
    breaks: float = 0.0
    day_seconds: float = DAY_SECONDS
    #: 0: a customer waiting for an agent gets one the moment one is free (an ideal
    #: queue). Otherwise the queue notices freed agents only when it rechecks, every
    #: `recheck_seconds` after the customer joined, and the connect deadline wins a
    #: recheck that falls on it: Asterisk's app_queue rechecks every second (RECHECK),
    #: so with the 2 s deadline a waiting customer has one chance, at 1 s
    #: (bench/campaign_live: 18% of the live calls were offered exactly 1.00 s in).
    recheck_seconds: float = 0.0
    #: Numbers a day's list holds, each dialed once (None: more than the day can dial).
    leads: int | None = None

    @property
    def amd(self) -> bool:
        return self.machines > 0

    def live_at(self, t: float) -> float:
        """Live-answer probability of a call placed `t` seconds into the day."""
        share = min(max(t / self.day_seconds, 0.0), 1.0)
        return self.live_start + (self.live_end - self.live_start) * share

    def talk_mean_at(self, t: float) -> float:
        if self.talk_mean_afternoon is not None and t >= self.day_seconds / 2:
            return self.talk_mean_afternoon
        return self.talk_mean


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the lognormal with this mean and coefficient of variation."""
    sigma2 = math.log(1.0 + cv * cv)
    return math.log(mean) - sigma2 / 2.0, math.sqrt(sigma2)


S0 = Scenario("S0", agents=20)

SCENARIOS: dict[str, Scenario] = {
    "S0 N=5": replace(S0, name="S0 N=5", agents=5),
    "S0 N=20": replace(S0, name="S0 N=20"),
    "S0 N=100": replace(S0, name="S0 N=100", agents=100),
    "low answer 10% N=20": replace(S0, name="low answer 10% N=20", live_start=0.10, live_end=0.10),
    "AMD 25%, FP 1% N=20": replace(
        S0, name="AMD 25%, FP 1% N=20", machines=0.25, amd_false_positive=0.01
    ),
    "AMD 25%, FP 5% N=20": replace(
        S0, name="AMD 25%, FP 5% N=20", machines=0.25, amd_false_positive=0.05
    ),
    "drift N=20": replace(
        S0,
        name="drift N=20",
        live_start=0.35,
        live_end=0.15,
        breaks=0.10,
        talk_mean_afternoon=200.0,
    ),
}
