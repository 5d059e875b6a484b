"""A pacer's learning outlives its runner: `Pacer.state` as JSON, `Pacer.restored` back.

Without it a campaign paused for lunch, or a service restarted, dialed progressively
again until the rule had relearned (the live runner makes a pacer per run).
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import replace
from typing import Any

import pytest

from dialer.pacing import Mode, Pacer, PacingSettings
from dialer.pacing.pacer import STATE_VERSION
from dialer.sim.engine import Simulation
from dialer.sim.scenario import SCENARIOS

# Two-hour days keep a simulated day to a couple of seconds.
SCENARIO = replace(SCENARIOS["S0 N=20"], day_seconds=2 * 3600.0)
SETTINGS = PacingSettings(mode=Mode.PREDICTIVE)


@pytest.fixture(scope="module")
def day_one() -> Simulation:
    """A campaign one day in (copy it before running it on)."""
    sim = Simulation(SCENARIO, SETTINGS, seed=7, pacer=Pacer())
    sim.run(1)
    return sim


def _through_json(pacer: Pacer) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(json.dumps(pacer.state()))
    return loaded


def test_the_state_survives_json_exactly(day_one: Simulation) -> None:
    pacer = day_one.pacer
    state = _through_json(pacer)
    assert state["version"] == STATE_VERSION
    restored = Pacer.restored(state)
    assert restored.state() == pacer.state()
    assert restored.estimates.answers.count == pacer.estimates.answers.count > 0
    assert restored.estimates.answers.p_live() == pytest.approx(pacer.estimates.answers.p_live())
    assert restored.estimates.handle.mean_handle() == pytest.approx(
        pacer.estimates.handle.mean_handle())
    assert restored.predictive.controller.integral == pacer.predictive.controller.integral


def test_a_restored_pacer_carries_on_where_a_new_one_relearns(day_one: Simulation) -> None:
    kept, restored, fresh = (copy.deepcopy(day_one) for _ in range(3))
    restored.pacer = Pacer.restored(_through_json(day_one.pacer))
    fresh.pacer = Pacer()
    days = {name: sim.run(1).days[-1] for name, sim in
            (("kept", kept), ("restored", restored), ("fresh", fresh))}
    # A new pacer dials progressively until it has seen enough outcomes; the restored one
    # goes on from what the first day taught it, as the pacer kept in memory does.
    assert days["fresh"].decisions.rules.get("learning", 0) > 0
    assert days["restored"].decisions.rules.get("learning", 0) == 0
    assert days["kept"].decisions.rules.get("learning", 0) == 0
    assert days["restored"].occupancy > days["fresh"].occupancy
    assert days["restored"].occupancy == pytest.approx(days["kept"].occupancy, abs=0.01)


@pytest.fixture(scope="module")
def learned_state(day_one: Simulation) -> dict[str, Any]:
    return _through_json(day_one.pacer)


def _broken(state: dict[str, Any], path: tuple[str, ...], value: object) -> dict[str, Any]:
    state = copy.deepcopy(state)
    target = state
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return state


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        (("version",), 0, "version"),
        (("estimates",), KeyError, "estimates"),
        (("estimates", "answers", "ended"), [1.0] * 3, "ended"),
        (("estimates", "answers", "live"), [2.0] * 120, "live"),
        (("estimates", "answers", "count"), -1, "count"),
        (("estimates", "handle", "talk", "mass"), [math.nan] * 3600, "mass"),
        (("estimates", "handle", "wrap", "weight"), "1", "weight"),
        (("predictive", "controller", "integral"), 99.0, "integral"),
        (("predictive", "controller", "last_today"), [1, 2], "last_today"),
        (("predictive", "overnight", "trusting"), 1, "trusting"),
        (("predictive", "overnight", "pause"), [1.5, 10, 3], "rate"),
        (("predictive", "dial_rate"), True, "dial_rate"),
        (("adaptive", "level"), 7.0, "level"),
    ],
)
def test_a_damaged_state_is_refused_naming_what_is_wrong(
    learned_state: dict[str, Any], path: tuple[str, ...], value: object, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        Pacer.restored(_broken(learned_state, path, value))


def _shape(value: Any) -> Any:
    """The keys and grid lengths of a saved state, its values left out."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return len(value)
    return None


#: What STATE_VERSION 1 saves. A state of another shape under the same version would be
#: misread by the release that restores it, or refused key by key: change the shape,
#: bump STATE_VERSION (older states are then refused whole and the campaign relearns),
#: and record the new shape here under the new version.
SHAPES: dict[int, Any] = {
    1: {
        "version": None,
        "estimates": {
            "answers": {"ended": 120, "live": 120, "weight": None, "count": None,
                        "live_count": None},
            "handle": {"talk": {"mass": 3600, "count": None, "weight": None},
                       "wrap": {"mass": 600, "count": None, "weight": None}},
        },
        "predictive": {
            "controller": {"integral": None, "threshold": None, "last_now": None,
                           "last_today": 3, "recent_abandoned": None, "recent_live": None},
            "dial_rate": None, "rate_at": None, "last_tick": None, "fresh_from": None,
            "resumed": None,
            "overnight": {"trusting": None, "held": None, "pause": None},
        },
        "adaptive": {"level": None, "last_adapt": None},
    },
}


def test_the_saved_shape_is_the_one_its_version_names(day_one: Simulation) -> None:
    assert _shape(day_one.pacer.state()) == SHAPES[STATE_VERSION], (
        "what Pacer.state saves changed shape: bump STATE_VERSION and record the new shape")
