"""The live bench's campaign as the simulator sees it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dialer.sim.history import PriorDay
from dialer.sim.metrics import DAY
from dialer.sim.scenario import S0, Scenario


def bench_scenario(live: dict[str, Any], day_seconds: float) -> Scenario:
    """The live bench's campaign as the simulator's scenario: its customer mix (40%
    answer after 1 s, 20% busy or failing at once, the rest ring out), its agents'
    talk and wrap-up, its list of leads, a day as long as ``day_seconds``.

    app_queue counts a wrap-up of W seconds in whole seconds from the second the call
    ended (cti/tracker ``TrackerConfig.wrap_up_end``): it lasts between W - 1 and W
    seconds, uniformly, so W - 0.5 on average with a spread of 1/sqrt(12) s."""
    wrap = float(live["wrapup_seconds"]) - 0.5
    return replace(
        S0, name="live bench", agents=int(live["agents"]),
        live_start=0.40, live_end=0.40, busy=0.20, busy_seconds=0.05,
        answer_base=1.0, answer_shape=1.0, answer_scale=0.05, answer_cap=5.0,
        talk_mean=float(live["talk_seconds"]), talk_cv=0.05,
        wrap_mean=wrap, wrap_cv=(1 / 12) ** 0.5 / wrap,
        day_seconds=day_seconds, leads=int(live["leads"]),
    )


def prior_day(history: dict[str, Any]) -> PriorDay:
    """The seeded previous session as the simulator's yesterday: its live answers and
    abandons spread over the same hours before the run (day 0 starts when the live
    campaign's agents logged in)."""
    return PriorDay.session(
        int(history["live"]), int(history["abandoned"]),
        DAY - float(history["began_ago_seconds"]), DAY - float(history["ended_ago_seconds"]))
