"""The predictive variant of bench/campaign_live: a campaign that ran yesterday over-dials.

1. Runs ``tests/integration/test_campaign_predictive.py`` (bench only): the live bench
   of ``run.py`` with its previous session (1,200 live answers, 2% abandoned, 14-22 h
   ago) written into PostgreSQL first, so the pacer over-dials once it has learned, and
   ``--leads`` shuffled leads. It reports the abandon rate, occupancy while there were
   leads to dial, the pacer's rules tick by tick (the runner's tally in
   ``GET /v1/campaigns/{id}/live``), what the abandoned customers heard, and where the
   time went between a customer's answer and an agent.
2. Simulates the same campaign with ``dialer/sim`` over many seeds: the same customer
   mix, the agents' talk and wrap-up as the live seat log measured them, a day as long
   as the live dialing, the same history as the simulator's yesterday, and app_queue's
   once-a-second recheck of a waiting customer (the pacer told the connect window it
   leaves, as the live runner is). Predictive mode; progressive mode as the baseline;
   and predictive with an ideal queue (agents handed over the moment they free up).

    .venv/bin/python -m bench.campaign_live --predictive-history [--leads 1000] [--seeds 40]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from statistics import fmean, median
from typing import Any

from bench.campaign_live.scenario import bench_scenario, prior_day
from bench.stats import percentile, wilson_interval
from cti.outbound.app_queue import RECHECK_SECONDS, connect_window
from dialer.pacing import Mode, PacingSettings
from dialer.sim.engine import simulate
from dialer.sim.metrics import Fate, mean_ci
from dialer.sim.scenario import Scenario

TEST = ("tests/integration/test_campaign_predictive.py::"
        "test_a_predictive_campaign_with_yesterdays_history_over_dials_within_every_rule")
PREDICTIVE_RULE = "predictive"


def live_run(talk_seconds: float, leads: int, timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "figures.json"
        env = {**os.environ, "CTI_CAMPAIGN_REPORT": str(report),
               "CTI_CAMPAIGN_TALK_SECONDS": str(talk_seconds),
               "CTI_CAMPAIGN_PREDICTIVE_LEADS": str(leads),
               "CTI_CAMPAIGN_PREDICTIVE_TIMEOUT": str(timeout)}
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               f"--timeout={round(timeout) + 600}", TEST],
                              env=env, capture_output=True, text=True, check=False)
        if not report.exists():
            raise SystemExit(f"live run failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        figures: dict[str, Any] = json.loads(report.read_text())
        # The figures are written before the last check (every abandon heard the
        # message): keep them, and say whether the run passed.
        figures["test_passed"] = done.returncode == 0
        if done.returncode != 0:
            figures["test_output"] = done.stdout[-3000:]
        return figures


def live_summary(live: dict[str, Any]) -> dict[str, Any]:
    """The live run's headline figures from its raw report."""
    pacer = live["pacer"]
    ticks = max(int(pacer["ticks"]), 1)
    low, high = wilson_interval(int(live["abandoned"]), int(live["live_answers"]))
    calls = live["live_calls"]

    def gaps(start: str, end: str, outcome: str | None = None) -> dict[str, float] | None:
        values = [c[end] - c[start] for c in calls
                  if c.get(start) is not None and c.get(end) is not None
                  and (outcome is None or c["outcome"] == outcome)]
        if not values:
            return None
        return {"n": len(values), "mean": fmean(values), "median": median(values),
                "p90": percentile(values, 90), "max": max(values)}

    abandoned = [c for c in calls if c["outcome"] == "abandoned"]
    return {
        "occupancy_dialing": live["occupancy_dialing"],
        "occupancy_whole_run": live["occupancy"],
        "abandon_rate": live["abandon_rate"],
        "abandon_rate_ci95": [low, high],
        "abandoned": live["abandoned"], "live_answers": live["live_answers"],
        "abandon_rate_24h_window": live["abandon_rate_24h"],
        "abandons_heard_message": live["abandons_heard_message"],
        "ticks": pacer["ticks"],
        "predictive_tick_share": pacer["rules"].get(PREDICTIVE_RULE, 0) / ticks,
        "rules": pacer["rules"],
        "placed": pacer["placed"],
        "over_dialed": pacer["over_dialed"],
        "over_dial_ticks": pacer["over_dial_ticks"],
        "over_dialed_share": pacer["over_dialed"] / max(int(pacer["placed"]), 1),
        "tick_work_seconds_mean": float(pacer["tick_work_seconds"]) / ticks,
        "seconds_per_tick": float(live["seconds"]) / ticks,
        "seat_states": live["seat_states"],
        "invite_lag_seconds": live["invite_lag_seconds"],
        "answer_to_queued": gaps("answer", "queued"),
        "queued_to_offered": gaps("queued", "offered", "answered"),
        "offered_to_connected": gaps("offered", "connected", "answered"),
        "answer_to_connected": gaps("answer", "connected", "answered"),
        "abandons_with_a_seat_free_when_queued": sum(
            1 for c in abandoned if (c.get("free_at_queued") or 0) > 0),
    }


def as_live(live: dict[str, Any], queue: bool = True) -> Scenario:
    """The live campaign with the agents' talk and wrap-up as the seat log measured them
    (a seat ringing for its call, 0.1 s, counts as talk: the pacer counts it so) and,
    with ``queue``, app_queue's once-a-second recheck of a waiting customer.

    The measured times matter more than they look at this bench's 5 s handle time: the
    pacer's handle-time estimator has 2 s bins, and app_queue's 2 s wrap-up really
    lasts 1-2 s (whole seconds: cti/tracker TrackerConfig.wrap_up_end)."""
    states = live["seat_states"]
    talk = states["on_call"]["mean"] + states.get("ringing", {"mean": 0.0})["mean"]
    wrap = states["wrap_up"]["mean"]
    return replace(
        bench_scenario(live, float(live["dialing_seconds"])),
        name="live bench, as measured" + (", app_queue rechecks" if queue else ""),
        talk_mean=talk, talk_cv=states["on_call"]["sd"] / talk,
        wrap_mean=wrap, wrap_cv=states["wrap_up"]["sd"] / wrap,
        recheck_seconds=RECHECK_SECONDS if queue else 0.0,
    )


def simulated(live: dict[str, Any], mode: Mode, seeds: int,
              scenario: Scenario) -> dict[str, Any]:
    """The same campaign in the simulator, with the same yesterday, over ``seeds``; the
    pacer told the connect window the scenario's queue leaves, as the live runner is."""
    window = (connect_window(float(live["connect_seconds"]), scenario.recheck_seconds)
              if scenario.recheck_seconds else float(live["connect_seconds"]))
    ring = float(live["ring_seconds"])  # the live service rang this long in every mode
    settings = PacingSettings(mode=mode, ring_timeout=ring, predictive_ring_timeout=ring,
                              connect_window=window)
    prior = prior_day(live["history"])
    occupancy: list[float] = []
    rates: list[float] = []
    shares: list[float] = []
    over: list[float] = []
    live_answers = abandoned = 0
    for seed in range(seeds):
        day = simulate(scenario, mode, days=1, seed=seed, settings=settings,
                       prior=prior).days[0]
        occupancy.append(day.occupancy)
        rates.append(day.abandon_rate)
        tally = day.decisions
        shares.append(tally.rules.get(PREDICTIVE_RULE, 0) / max(tally.ticks, 1))
        over.append(tally.over_dialed / max(tally.placed, 1))
        live_answers += day.live
        abandoned += day.fates[Fate.ABANDONED]
    occ, occ_ci = mean_ci(occupancy)
    rate, rate_ci = mean_ci(rates)
    share, share_ci = mean_ci(shares)
    over_share, over_ci = mean_ci(over)
    return {"scenario": {"talk_mean": scenario.talk_mean, "talk_cv": scenario.talk_cv,
                         "wrap_mean": scenario.wrap_mean, "wrap_cv": scenario.wrap_cv,
                         "day_seconds": scenario.day_seconds,
                         "recheck_seconds": scenario.recheck_seconds,
                         "connect_window": window},
            "mode": mode.value, "seeds": seeds, "occupancy": occ, "occupancy_ci": occ_ci,
            "abandon_rate": rate, "abandon_rate_ci": rate_ci,
            "abandon_rate_pooled": abandoned / live_answers if live_answers else 0.0,
            "predictive_tick_share": share, "predictive_tick_share_ci": share_ci,
            "over_dialed_share": over_share, "over_dialed_share_ci": over_ci}


def _ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def compare(talk_seconds: float, leads: int, seeds: int, timeout: float) -> dict[str, Any]:
    live = live_run(talk_seconds, leads, timeout)
    summary = live_summary(live)
    return {
        "live": summary,
        **simulations(live, summary, seeds),
        "raw": {k: v for k, v in live.items() if k not in ("samples", "live_calls")},
        "samples": table(live["samples"]),
    }


def simulations(live: dict[str, Any], summary: dict[str, Any], seeds: int) -> dict[str, Any]:
    """The three simulations of a live run (its raw report, or the ``raw`` part of a
    saved run: ``--resimulate``), and the live figures over theirs."""
    predictive = simulated(live, Mode.PREDICTIVE, seeds, as_live(live))
    progressive = simulated(live, Mode.PROGRESSIVE, seeds, as_live(live))
    ideal = simulated(live, Mode.PREDICTIVE, seeds, as_live(live, queue=False))
    occupancy, abandon = summary["occupancy_dialing"], summary["abandon_rate"]
    return {
        "simulated_predictive": predictive,
        "simulated_progressive": progressive,
        "simulated_predictive_ideal_queue": ideal,
        "occupancy_live_over_simulated": _ratio(occupancy, predictive["occupancy"]),
        "abandon_live_over_simulated": _ratio(abandon, predictive["abandon_rate"]),
        "occupancy_live_over_simulated_progressive": _ratio(occupancy,
                                                            progressive["occupancy"]),
        "occupancy_simulated_predictive_over_progressive": _ratio(
            predictive["occupancy"], progressive["occupancy"]),
        "occupancy_live_over_simulated_ideal_queue": _ratio(occupancy, ideal["occupancy"]),
        "abandon_live_over_simulated_ideal_queue": _ratio(abandon, ideal["abandon_rate"]),
    }


def table(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The runner's status, sampled once a second, as columns and rows (a tenth of the
    size of a list of records); the per-rule tick counts are left to the last row's
    summary."""
    columns = [k for k in (samples[0] if samples else {}) if k != "rules"]

    def cell(value: Any) -> Any:
        return round(value, 4) if isinstance(value, float) else value

    return {"columns": columns,
            "rows": [[cell(row[c]) for c in columns] for row in samples]}
