"""What a simulated day measured, and summaries over days with confidence intervals."""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from dialer import windows
from dialer.pacing.tally import DecisionTally
from dialer.sim.scenario import DAY_SECONDS

#: The regulator's rolling day, which is also the simulated campaign's calendar day.
DAY = windows.DAY_SECONDS


class Fate(StrEnum):
    """How a dial ended: exactly one per dial."""

    CONNECTED = "connected"
    ABANDONED = "abandoned"
    AMD_FALSE_POSITIVE = "amd_false_positive"
    MACHINE = "machine"
    FAILED = "failed"
    NO_ANSWER = "no_answer"


@dataclass(slots=True)
class DayMetrics:
    day: int
    agents: int
    day_seconds: float = DAY_SECONDS
    fates: dict[Fate, int] = field(default_factory=lambda: dict.fromkeys(Fate, 0))
    dials: int = 0
    talk_seconds: float = 0.0
    busy_seconds: float = 0.0  # talk + wrap-up inside the day
    paused_seconds: float = 0.0
    idle_gaps: list[float] = field(default_factory=list)
    line_samples: int = 0
    line_sum: float = 0.0
    line_peak: int = 0
    #: The pacer's decisions of the day: rules in charge, over-dialing.
    decisions: DecisionTally = field(default_factory=DecisionTally)

    @property
    def available_seconds(self) -> float:
        return self.agents * self.day_seconds - self.paused_seconds

    @property
    def agent_hours(self) -> float:
        return self.available_seconds / 3600.0

    @property
    def live(self) -> int:
        """Live people reached and passed to the dialer (connected or abandoned)."""
        return self.fates[Fate.CONNECTED] + self.fates[Fate.ABANDONED]

    @property
    def abandon_rate(self) -> float:
        """FTC formula: abandoned / live answers."""
        return self.fates[Fate.ABANDONED] / self.live if self.live else 0.0

    @property
    def abandon_rate_uk(self) -> float:
        """Ofcom formula: AMD false positives count as abandoned live answers."""
        fp = self.fates[Fate.AMD_FALSE_POSITIVE]
        total = self.live + fp
        return (self.fates[Fate.ABANDONED] + fp) / total if total else 0.0

    @property
    def occupancy(self) -> float:
        return self.busy_seconds / self.available_seconds if self.available_seconds else 0.0

    @property
    def talk_minutes_per_agent_hour(self) -> float:
        return self.talk_seconds / 60.0 / self.agent_hours

    @property
    def contacts_per_agent_hour(self) -> float:
        return self.fates[Fate.CONNECTED] / self.agent_hours

    @property
    def dials_per_agent_hour(self) -> float:
        return self.dials / self.agent_hours

    @property
    def idle_gap_mean(self) -> float:
        return statistics.fmean(self.idle_gaps) if self.idle_gaps else 0.0

    @property
    def idle_gap_p90(self) -> float:
        if not self.idle_gaps:
            return 0.0
        ordered = sorted(self.idle_gaps)
        return ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]

    @property
    def lines_mean(self) -> float:
        return self.line_sum / self.line_samples if self.line_samples else 0.0


@dataclass(slots=True)
class AbandonLog:
    """Times (campaign clock) of every live answer and every abandon, UK formula."""

    live: list[float] = field(default_factory=list)
    abandoned: list[float] = field(default_factory=list)

    def window(self, start: float, end: float) -> tuple[int, int]:
        """(live, abandoned) in (start, end]."""
        live = bisect_right(self.live, end) - bisect_right(self.live, start)
        abandoned = bisect_right(self.abandoned, end) - bisect_right(self.abandoned, start)
        return live, abandoned

    def worst_24h(self, first_full: float = DAY) -> float:
        """Worst abandon rate over rolling 24-hour windows.

        A window's rate peaks at an abandon, so windows ending at each abandon are
        checked, from the first full 24 hours on; before that the campaign so far is
        the window (the FTC measures a short campaign over its length).
        """
        worst = 0.0
        start_at = bisect_left(self.abandoned, first_full)
        candidates = [first_full, *self.abandoned[start_at:]]
        for end in candidates:
            live, abandoned = self.window(end - DAY, end)
            if live:
                worst = max(worst, abandoned / live)
        return worst

    def rate(self, start: float, end: float) -> float:
        live, abandoned = self.window(start, end)
        return abandoned / live if live else 0.0


def mean_ci(values: Sequence[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% confidence interval (Student t)."""
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = statistics.fmean(values)
    if n == 1:
        return mean, math.inf
    sd = statistics.stdev(values)
    return mean, _t975(n - 1) * sd / math.sqrt(n)


def _t975(df: int) -> float:
    table = {
        1: 12.706,
        2: 4.303,
        3: 3.182,
        4: 2.776,
        5: 2.571,
        6: 2.447,
        7: 2.365,
        8: 2.306,
        9: 2.262,
        10: 2.228,
        15: 2.131,
        20: 2.086,
        25: 2.060,
        30: 2.042,
        40: 2.021,
        60: 2.000,
        120: 1.980,
    }
    if df in table:
        return table[df]
    below = max(k for k in table if k < df) if df > 1 else 1
    above = min((k for k in table if k > df), default=None)
    if above is None:
        return 1.960
    share = (df - below) / (above - below)
    return table[below] + (table[above] - table[below]) * share
