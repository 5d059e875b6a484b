"""The predictive rule's risk computed exactly, as a yardstick for its approximation.

`Moments.risk` takes (earlier answers - agents freed) as normal. Both are sums of
independent Bernoulli variables (plus a Poisson count of later calls answering first),
so their exact distributions are Poisson-binomial; this module convolves them. It is
about 4.5 times slower per tick than the normal approximation (session 6 measured), so
the rule does not use it: the simulator's calibration report does, to show where the
approximation is off (`dialer/sim/calibration.py`, bench/dialer_sim/calibration.py).
"""

from __future__ import annotations

import math

import numpy as np

from dialer.pacing.estimators import FloatArray
from dialer.pacing.predictive import RiskTables, chances
from dialer.pacing.snapshot import Snapshot


def poisson_binomial(chances: FloatArray) -> FloatArray:
    """P(exactly n of independent events happen), n = 0..len(chances)."""
    pmf = np.ones(1)
    for p in chances.tolist():
        pmf = np.convolve(pmf, (1.0 - p, p))
    return pmf


def poisson(mean: float) -> FloatArray:
    """Poisson probabilities of 0..n, n far enough into the tail that the rest is < 1e-12."""
    if mean <= 0:
        return np.ones(1)
    top = int(mean + 12.0 * math.sqrt(mean) + 12)
    n = np.arange(top + 1, dtype=np.float64)
    log_pmf = n * math.log(mean) - mean - np.array([math.lgamma(x + 1) for x in n.tolist()])
    return np.asarray(np.exp(log_pmf), dtype=np.float64)


def exact_risk(
    snapshot: Snapshot,
    tables: RiskTables,
    k: int,
    dial_rate: float = 0.0,
    agents_free: FloatArray | None = None,
) -> float:
    """P(the k-th new call, answered live, is abandoned), as `Moments.risk(k)` with the
    same model, tables and `agents_free`, without the normal approximation."""
    ring, agents = chances(snapshot, tables)
    if agents_free is not None:
        agents = agents_free
    # Abandoned when earlier answers + waiting >= free now + freed in time.
    need = snapshot.agents.free - snapshot.waiting
    total = 0.0
    for g, q0 in enumerate(tables.q0.tolist()):
        earlier = np.convolve(
            poisson_binomial(np.concatenate((ring[:, g], np.full(k - 1, q0)))),
            poisson(dial_rate * float(tables.overtaking[g])),
        )
        freed = poisson_binomial(agents[:, g])
        # P(earlier >= need + freed) = sum over f of P(freed = f) P(earlier >= need + f).
        at_least = np.concatenate((np.cumsum(earlier[::-1])[::-1], [0.0]))
        index = np.clip(need + np.arange(len(freed)), 0, len(earlier))
        total += float(np.dot(freed, at_least[index]))
    return min(1.0, total / len(tables.q0))
