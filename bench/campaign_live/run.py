"""A live campaign run against the real bench, beside the simulator's prediction.

1. Runs ``tests/integration/test_campaign_live.py::test_a_campaign_runs_to_completion...``
   (real Asterisk 22, PostgreSQL, ten SIPp agents with 3 s talk and 2 s wrap-up, one SIPp
   UAS of called customers: 40% answer after 1 s, 20% busy or failing at once, 40% ring
   out at the 15 s minimum) and reads the figures it measured (abandon rate, occupancy).
2. Simulates the same campaign with ``dialer/sim`` (same pacing code, same mode, the same
   customer mix and times, a day as long as the live run) over many seeds, and reports
   the mean and 95% confidence interval of the same two figures.

The ratio live / simulated occupancy says how much of the model's promise the live
engine keeps (AMI and SIP latency, app_queue's distribution, the tick).

    .venv/bin/python -m bench.campaign_live [--seeds 40] [--talk 3 15]

With ``--predictive-history`` it runs the predictive variant instead (yesterday's
session seeded so the pacer over-dials): ``bench/campaign_live/predictive.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.campaign_live import predictive
from bench.campaign_live.scenario import bench_scenario
from dialer.pacing import Mode, PacingSettings
from dialer.sim.engine import simulate
from dialer.sim.metrics import mean_ci

HERE = Path(__file__).parent
TEST = ("tests/integration/test_campaign_live.py::"
        "test_a_campaign_runs_to_completion_within_every_rule")


def live_run(talk_seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "figures.json"
        env = {**os.environ, "CTI_CAMPAIGN_REPORT": str(report),
               "CTI_CAMPAIGN_TALK_SECONDS": str(talk_seconds),
               "CTI_CAMPAIGN_AGENTS": "10"}  # the recorded runs' ten (CI uses thirty)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               TEST], env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not report.exists():
            raise SystemExit(f"live run failed:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}")
        figures: dict[str, Any] = json.loads(report.read_text())
        return figures


def simulated(live: dict[str, Any], seeds: int) -> dict[str, Any]:
    scenario = bench_scenario(live, float(live["seconds"]))
    mode = Mode(live["mode"])
    ring = float(live["ring_seconds"])  # the live service rang this long in every mode
    settings = PacingSettings(mode=mode, ring_timeout=ring, predictive_ring_timeout=ring)
    occupancy: list[float] = []
    abandon: list[float] = []
    for seed in range(seeds):
        result = simulate(scenario, mode, days=1, seed=seed, settings=settings)
        day = result.days[0]
        occupancy.append(day.busy_seconds / day.available_seconds)
        abandon.append(day.abandon_rate)
    occ, occ_ci = mean_ci(occupancy)
    ab, ab_ci = mean_ci(abandon)
    return {"occupancy": occ, "occupancy_ci": occ_ci, "abandon_rate": ab,
            "abandon_rate_ci": ab_ci, "seeds": seeds}


def readable_json(value: Any, indent: str = "") -> str:
    """JSON indented by level, but a list of plain values on one line (the per-second
    samples stay a line each)."""
    inner = indent + " "
    if isinstance(value, dict) and value:
        items = [f"{inner}{json.dumps(k)}: {readable_json(v, inner)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value):
        items = [f"{inner}{readable_json(v, inner)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--talk", type=float, nargs="+", default=[3.0],
                        help="agents' talk seconds; one live run (and simulation) each")
    parser.add_argument("--predictive-history", action="store_true",
                        help="seed yesterday's session so the pacer over-dials "
                             "(bench/campaign_live/predictive.py)")
    parser.add_argument("--leads", type=int, default=1000,
                        help="leads of the --predictive-history run")
    parser.add_argument("--timeout", type=float, default=2400.0,
                        help="longest a --predictive-history live run may take (s)")
    parser.add_argument("--resimulate", action="store_true",
                        help="with --predictive-history: no live run, simulate again the "
                             "live runs saved in last_run_predictive.json")
    args = parser.parse_args(argv)
    command = "python -m bench.campaign_live " + " ".join(argv or sys.argv[1:])
    if args.predictive_history and args.resimulate:
        saved = json.loads((HERE / "last_run_predictive.json").read_text())
        for run in saved["runs"]:
            run.update(predictive.simulations(run["raw"], run["live"], args.seeds))
        saved["resimulated"] = command
        (HERE / "last_run_predictive.json").write_text(readable_json(saved) + "\n")
        print(json.dumps([{k: v for k, v in r.items() if k not in ("samples", "raw")}
                          for r in saved["runs"]], indent=2))
        return
    if args.predictive_history:
        runs = []
        for talk in args.talk:
            started = time.time()
            run = predictive.compare(talk, args.leads, args.seeds, args.timeout)
            runs.append({"wall_seconds": round(time.time() - started, 1), **run})
        out = {"runs": runs, "command": command}
        (HERE / "last_run_predictive.json").write_text(readable_json(out) + "\n")
        print(json.dumps([{k: v for k, v in r.items() if k not in ("samples", "raw")}
                          for r in runs], indent=2))
        return
    runs = []
    for talk in args.talk:
        started = time.time()
        live = live_run(talk)
        sim = simulated(live, args.seeds)
        runs.append({"live": live, "simulated": sim,
                     "wall_seconds": round(time.time() - started, 1),
                     "occupancy_live_over_simulated": live["occupancy"] / sim["occupancy"]
                     if sim["occupancy"] else None})
    out = {"runs": runs, "command": command}
    (HERE / "last_run.json").write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
