"""How well the predictive rule's risk foretells abandons, by the state it dialed in.

Every call the rule places carries the model's probability that it is abandoned if a
live person answers: the per-call risk of its tick's batch (`Moments.risk(k)` for a
batch of k, the same for each of its calls). Over many calls, those answered live
should be abandoned at the rate predicted, in every state. Where the rule's risk is too
high in some states and too low in others, it spends the abandon budget where it buys
the least occupancy; this report is how to find where (bench/dialer_sim/calibration.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Placement:
    """One dial the predictive rule placed, and the state it placed it in."""

    risk: float  # P(abandoned | answered live), as the rule saw it
    exact: float  # the same without the normal approximation (`dialer/pacing/exact.py`)
    free: int  # agents free at the tick
    ringing: int  # calls ringing at the tick, before this batch
    batch: int  # calls placed at the tick


@dataclass(frozen=True, slots=True)
class Outcome:
    """A placed dial that a live person answered, and whether it was abandoned."""

    placement: Placement
    abandoned: bool


@dataclass(frozen=True, slots=True)
class Bin:
    feature: str
    label: str
    calls: int
    predicted: float  # mean risk of the calls in the bin
    exact: float  # mean exact risk of the same calls
    abandoned: int  # of them

    @property
    def actual(self) -> float:
        return self.abandoned / self.calls


def _share(low: float, high: float) -> str:
    return f"{low:.0%}-{high:.0%}"


def _count(low: float, high: float) -> str:
    if high == math.inf:
        return f"{low:g}+"
    return f"{low:g}" if high - low == 1 else f"{low:g}-{high - 1:g}"


#: The states the report splits calls by: name, how to read it, bin edges, bin labels.
FEATURES: tuple[
    tuple[str, Callable[[Placement], float], tuple[float, ...], Callable[[float, float], str]],
    ...,
] = (
    ("predicted risk", lambda p: p.risk, (0.0, 0.01, 0.02, 0.03, 0.04, 0.06, 1.0), _share),
    ("agents free", lambda p: p.free, (0, 1, 2, 3, 5, math.inf), _count),
    ("calls ringing", lambda p: p.ringing, (0, 3, 6, 10, 15, math.inf), _count),
    ("batch size", lambda p: p.batch, (1, 2, 3, 5, math.inf), _count),
)


def calibration(outcomes: Iterable[Outcome]) -> list[Bin]:
    """Predicted against actual abandon share of live-answered calls, per feature bin
    (bins without calls are left out)."""
    rows: Sequence[Outcome] = list(outcomes)
    bins: list[Bin] = []
    for name, read, edges, label in FEATURES:
        for low, high in itertools.pairwise(edges):
            inside = [o for o in rows if low <= read(o.placement) < high]
            if not inside:
                continue
            bins.append(
                Bin(
                    name,
                    label(low, high),
                    len(inside),
                    sum(o.placement.risk for o in inside) / len(inside),
                    sum(o.placement.exact for o in inside) / len(inside),
                    sum(o.abandoned for o in inside),
                )
            )
    return bins
