"""What a simulated campaign remembers from before its first day.

A real campaign started this morning may have run yesterday: its rolling 24-hour and
30-day abandon counters are then not empty, and the predictive rule, which over-dials
only while that window allows enough abandons (`PredictiveConfig.min_budget`), behaves
as on a campaign's second day from its first tick. `PriorDay` is that yesterday, as the
simulator counts days: times in seconds into the day before day 0 (day -1 of the
24-hour campaign clock).
"""

from __future__ import annotations

from dataclasses import dataclass

from dialer.sim.metrics import DAY


@dataclass(frozen=True, slots=True)
class PriorDay:
    """Live answers and abandons of the day before day 0, seconds into that day.

    As in the simulator's own days, an abandon is a live answer too: every time in
    `abandoned` is also in `live`.
    """

    live: tuple[float, ...] = ()
    abandoned: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        for name, times in (("live", self.live), ("abandoned", self.abandoned)):
            if any(not 0.0 <= t < DAY for t in times):
                raise ValueError(f"{name} times must lie in [0, {DAY:g}) s")
            if list(times) != sorted(times):
                raise ValueError(f"{name} times must be sorted")
        if len(self.abandoned) > len(self.live):
            raise ValueError("more abandons than live answers")

    @classmethod
    def session(cls, live: int, abandoned: int, start: float, end: float) -> PriorDay:
        """`live` answers spread evenly over [start, end) seconds into yesterday, of
        which `abandoned`, spread evenly among them, were abandoned."""
        if live < 0 or not 0 <= abandoned <= live:
            raise ValueError("need 0 <= abandoned <= live")
        if not 0.0 <= start < end <= DAY:
            raise ValueError(f"need 0 <= start < end <= {DAY:g}")
        step = (end - start) / live if live else 0.0
        times = tuple(start + i * step for i in range(live))
        every = live / abandoned if abandoned else 0.0
        return cls(times, tuple(times[int(i * every)] for i in range(abandoned)))
