"""When the campaign runner ticks next (pure).

The pacing code is built (and simulated, `dialer/sim`) for a decision every
`tick_seconds`. Sleeping `tick_seconds` after each tick's work instead stretches the
period by the work: a predictive tick that claims and originates a few calls under load
takes a quarter of a second, so the live runner decided every 1.27 s where the
simulator decides every second (bench/campaign_live). Ticks therefore keep a fixed
cadence, and a tick that overran skips the deadlines it missed rather than firing
them back to back (a burst of stale decisions).
"""

from __future__ import annotations

import math


def next_tick(previous: float, now: float, period: float) -> float:
    """The first deadline on `previous`'s grid of `period` that is later than `now`."""
    if period <= 0:
        raise ValueError("period must be positive")
    steps = max(0, math.floor((now - previous) / period)) + 1
    if previous + steps * period <= now:  # float rounding right at a deadline
        steps += 1
    return previous + steps * period
