"""The exact risk: the yardstick the calibration report holds the rule's normal
approximation against."""

from __future__ import annotations

import numpy as np
import pytest

from dialer.pacing import Agents
from dialer.pacing.exact import exact_risk, poisson, poisson_binomial
from dialer.pacing.predictive import Predictive, chances, moments
from tests.unit.dialer.test_pacing import TRAINED, predictive_snapshot

TABLES = Predictive().tables(TRAINED)


def test_poisson_binomial_and_poisson_are_distributions_with_the_right_mean() -> None:
    chances_ = np.array([0.1, 0.5, 0.9, 0.25])
    pmf = poisson_binomial(chances_)
    assert pmf.sum() == pytest.approx(1.0)
    assert float(np.dot(np.arange(len(pmf)), pmf)) == pytest.approx(1.75)
    assert pmf[0] == pytest.approx(0.9 * 0.5 * 0.1 * 0.75)
    counts = poisson(2.5)
    assert counts.sum() == pytest.approx(1.0, abs=1e-12)
    assert float(np.dot(np.arange(len(counts)), counts)) == pytest.approx(2.5)
    assert list(poisson(0.0)) == [1.0]


def test_the_exact_risk_is_the_models_own_as_monte_carlo_sees_it() -> None:
    # The same model drawn 200,000 times: ringing calls answer first, the k - 1 other
    # new calls do with q0, later calls overtake as a Poisson count, busy agents free up.
    snapshot = predictive_snapshot(
        agents=Agents(free=1, talking=(30.0, 90.0, 200.0) * 4, wrapping=(10.0, 25.0)),
        ringing=(1.0, 4.0, 8.0),
    )
    k, dial_rate = 3, 0.3
    ring, agents = chances(snapshot, TABLES)
    rng = np.random.default_rng(11)
    draws = 200_000
    abandoned = 0.0
    for g, q0 in enumerate(TABLES.q0.tolist()):
        earlier = (rng.random((draws, len(ring))) < ring[:, g]).sum(axis=1)
        earlier += rng.binomial(k - 1, q0, draws)
        earlier += rng.poisson(dial_rate * float(TABLES.overtaking[g]), draws)
        freed = (rng.random((draws, len(agents))) < agents[:, g]).sum(axis=1)
        abandoned += float(np.mean(earlier + snapshot.waiting >= snapshot.agents.free + freed))
    simulated = abandoned / len(TABLES.q0)
    assert exact_risk(snapshot, TABLES, k, dial_rate) == pytest.approx(simulated, abs=0.004)


def test_the_normal_approximation_is_worst_with_few_uncertain_terms() -> None:
    # Nothing ringing and one agent free: a handful of small chances, badly normal.
    few = predictive_snapshot(agents=Agents(free=1, talking=(60.0,) * 17, wrapping=(20.0,) * 2))
    # Many calls ringing and agents free: a sum of many terms, close to normal.
    many = predictive_snapshot(
        agents=Agents(free=4, talking=(60.0,) * 14, wrapping=(20.0,) * 2),
        ringing=tuple(float(s) for s in range(1, 13)),
    )
    errors = []
    for snapshot in (few, many):
        normal = moments(snapshot, TABLES, 0.3).risk(1)
        errors.append(abs(normal / exact_risk(snapshot, TABLES, 1, 0.3) - 1.0))
    assert errors[0] > 2 * errors[1]
