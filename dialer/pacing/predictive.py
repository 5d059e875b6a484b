"""Our predictive rule: place calls while the marginal call's abandon risk stays small.

For the k-th extra call placed now, if it is answered live t seconds from now, it is
abandoned when at least as many *earlier* live answers (customers already waiting,
ringing calls answering within t, the other k - 1 new calls answering before it) need
an agent as there are agents free by t + 2 s (free now, or talking / wrapping up and
finishing by then, each conditioned on its elapsed time). Earlier answers and freed
agents are sums of independent Bernoulli variables; their difference is taken as
normal (with a continuity correction), and t runs over equally likely quantiles of
the new call's answer time. Calls are placed while that probability stays at or under
the threshold the abandon-rate loop sets (`controller.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dialer.pacing.controller import AbandonController, ControllerConfig
from dialer.pacing.estimators import Estimates, FloatArray
from dialer.pacing.rules import line_headroom, uncovered_free_agents
from dialer.pacing.snapshot import CONNECT_DEADLINE_SECONDS, Snapshot


@dataclass(frozen=True, slots=True)
class PredictiveConfig:
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    #: Answer-time quantiles the risk is averaged over.
    quantiles: int = 8
    #: Until this many dials and handled calls are seen, dial progressively.
    min_dials: int = 100
    min_handled: int = 30


A5 = 1.061405429


def normal_cdf(x: FloatArray) -> FloatArray:
    """Standard normal CDF (Abramowitz-Stegun 7.1.26 erf, |error| < 1.5e-7)."""
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    erf = 1.0 - poly * np.exp(-z * z)
    return np.asarray(0.5 * (1.0 + np.sign(x) * erf), dtype=np.float64)


def marginal_risks(
    snapshot: Snapshot, estimates: Estimates, extra: int, quantiles: int
) -> FloatArray:
    """P(the k-th new call, answered live, is abandoned) for k = 1..extra."""
    answer_at = estimates.answers.live_quantiles(quantiles)
    ringing = np.asarray(snapshot.ringing, dtype=np.float64)
    q = estimates.answers.answer_within(ringing, answer_at)
    earlier_mean = q.sum(axis=0) + snapshot.waiting
    earlier_var = (q * (1.0 - q)).sum(axis=0)
    talking = np.asarray(snapshot.agents.talking, dtype=np.float64)
    wrapping = np.asarray(snapshot.agents.wrapping, dtype=np.float64)
    f_talk, f_wrap = estimates.handle.free_within(
        talking, wrapping, answer_at + CONNECT_DEADLINE_SECONDS
    )
    free_mean = snapshot.agents.free + f_talk.sum(axis=0) + f_wrap.sum(axis=0)
    free_var = (f_talk * (1.0 - f_talk)).sum(axis=0) + (f_wrap * (1.0 - f_wrap)).sum(axis=0)
    # Another new call answers live before this one's quantile with probability q0.
    q0 = estimates.answers.answer_within(np.zeros(1), answer_at)[0]
    others = np.arange(extra, dtype=np.float64)[:, None]
    mean = earlier_mean + others * q0 - free_mean
    var = earlier_var + free_var + others * q0 * (1.0 - q0)
    sd = np.sqrt(np.maximum(var, 1e-12))
    risk = normal_cdf((mean + 0.5) / sd)
    return np.asarray(risk.mean(axis=1), dtype=np.float64)


class Predictive:
    """The model-based rule with its abandon-rate loop and hard guard."""

    def __init__(self, config: PredictiveConfig | None = None) -> None:
        self.config = config or PredictiveConfig()
        self.controller = AbandonController(self.config.controller)

    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        floor = uncovered_free_agents(snapshot)
        guard = self.controller.guard(snapshot)
        threshold = self.controller.update(snapshot, guarded=guard is not None)
        if guard is not None:
            return floor, guard
        if (
            estimates.answers.count < self.config.min_dials
            or estimates.handle.count < self.config.min_handled
        ):
            return floor, "learning: progressive until enough outcomes are seen"
        extra = min(line_headroom(snapshot), snapshot.agents.working)
        if extra <= 0:
            return 0, "no line headroom"
        risks = marginal_risks(snapshot, estimates, extra, self.config.quantiles)
        place = int(np.count_nonzero(risks <= threshold))
        first = float(risks[0])
        return max(
            place, floor
        ), f"predictive: first-call risk {first:.3f}, threshold {threshold:.3f}"
