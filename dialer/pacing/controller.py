"""The abandon-rate loop that trims the predictive rule's threshold, and its hard guard.

The rule's threshold is the abandon probability allowed for the *marginal* call. How
that maps to the campaign's abandon rate depends on the model's errors, so a loop
measures the rate and moves the threshold (log scale):

    log(threshold) = log(base) + kp * e_recent + kp_day * min(e_day, 0) + I,
    dI/dt = ki * e_day

where e = (setpoint - rate) / setpoint, the setpoint a fraction of the target, e_recent
from the abandons of about the last `recent_answers` live answers (responsive) and
e_day from the rolling 24 h and 30 day windows (what the regulator measures; the worse
of the two). The proportional term on e_day guards the window's abandon budget: once
the window is over the setpoint the rule backs off at once instead of waiting for the
integral, which keeps each day's rate near the setpoint. Rates are shrunk towards the setpoint by
`prior_weight` answers so a quiet start does not read as 0% or 100%.

The guard is separate from the loop: when one more abandon would put the rolling
24 h (or 30 day) rate above `guard_fraction` of the target, over-dialing stops.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dialer.pacing.snapshot import AbandonCount, Snapshot


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    base_threshold: float = 0.04
    setpoint_fraction: float = 0.85
    kp: float = 0.5
    kp_day: float = 5.0
    ki_per_hour: float = 0.5
    integral_limit: float = 2.0
    min_threshold: float = 0.002
    max_threshold: float = 0.2
    prior_weight: float = 100.0
    recent_answers: float = 300.0
    guard_fraction: float = 0.97
    #: Longest gap integrated at once (the dialer does not tick overnight).
    max_step: float = 5.0


def _error(rate: float, setpoint: float) -> float:
    # Clipped harder above: a quiet spell (no abandons while dialing progressively)
    # must not turn into a burst of over-dialing.
    return max(-2.0, min(0.5, (setpoint - rate) / setpoint))


class AbandonController:
    def __init__(self, config: ControllerConfig | None = None) -> None:
        self.config = config or ControllerConfig()
        self.integral = 0.0
        self.threshold = self.config.base_threshold
        self._last_now: float | None = None
        self._last_today: AbandonCount | None = None
        # Exponentially weighted abandons and live answers (UK formula numerator/denominator).
        self._recent_abandoned = 0.0
        self._recent_live = 0.0

    def _follow_recent(self, today: AbandonCount) -> None:
        last = self._last_today
        self._last_today = today
        if last is None or today.live < last.live or today.abandoned < last.abandoned:
            return  # first tick, or a new day reset the since-midnight counters
        live = today.live - last.live + (today.fp_estimate - last.fp_estimate)
        abandoned = today.abandoned - last.abandoned + (today.fp_estimate - last.fp_estimate)
        if live <= 0 and abandoned <= 0:
            return
        keep = math.exp(-max(live, 0.0) / self.config.recent_answers)
        self._recent_live = self._recent_live * keep + max(live, 0.0)
        self._recent_abandoned = self._recent_abandoned * keep + max(abandoned, 0.0)

    def guard(self, snapshot: Snapshot, expected_live: float = 0.0) -> str | None:
        """Why over-dialing must stop now, or None.

        `expected_live` is how many live answers the next LOOKAHEAD_SECONDS should bring;
        the 24 h window is checked now and as it will be then (what leaves it gone, the
        new answers abandoned at the setpoint).
        """
        limit = self.config.guard_fraction * snapshot.settings.target
        setpoint = self.config.setpoint_fraction * snapshot.settings.target
        counters = snapshot.counters
        day, leaving = counters.day, counters.day_leaving
        fp_per_live = day.fp_estimate / day.live if day.live else 0.0
        ahead = AbandonCount(
            max(day.live - leaving.live, 0) + round(expected_live),
            max(day.abandoned - leaving.abandoned, 0) + round(setpoint * expected_live),
            max(day.fp_estimate - leaving.fp_estimate, 0.0) + fp_per_live * expected_live,
        )
        windows = (("24 h", day), ("24 h in an hour", ahead), ("30 d", counters.month))
        for name, window in windows:
            denominator = window.live + window.fp_estimate + 1
            if (window.abandoned + window.fp_estimate + 1) / denominator > limit:
                return f"guard: one more abandon puts {name} over {limit:.2%} ({window.rate:.2%})"
        return None

    def update(self, snapshot: Snapshot, active: bool) -> float:
        """Advance the loop to `snapshot.now` and return the threshold to use.

        `active` says the rule is in control this tick; while it is not (learning, the
        guard, a small budget) the integral may only fall, so it cannot wind up.
        """
        config = self.config
        setpoint = config.setpoint_fraction * snapshot.settings.target
        self._follow_recent(snapshot.counters.today)
        day = snapshot.counters.day.smoothed(setpoint, config.prior_weight)
        month = snapshot.counters.month.smoothed(setpoint, config.prior_weight)
        e_day = min(_error(day, setpoint), _error(month, setpoint))
        recent = (self._recent_abandoned + setpoint * config.prior_weight) / (
            self._recent_live + config.prior_weight
        )
        e_recent = _error(recent, setpoint)
        if self._last_now is not None:
            step = min(max(snapshot.now - self._last_now, 0.0), config.max_step)
            if active or e_day < 0:
                self.integral += config.ki_per_hour * e_day * step / 3600.0
                limit = config.integral_limit
                self.integral = max(-limit, min(limit, self.integral))
        self._last_now = snapshot.now
        # The day term only ever holds back: over the setpoint the rule backs off at
        # once, under it the integral alone (slowly) lets it dial harder, because
        # abandons lag the dialing that causes them and a catch-up would overshoot.
        log_threshold = (
            math.log(config.base_threshold)
            + config.kp * e_recent
            + config.kp_day * min(e_day, 0.0)
            + self.integral
        )
        self.threshold = max(
            config.min_threshold, min(config.max_threshold, math.exp(log_threshold))
        )
        return self.threshold
