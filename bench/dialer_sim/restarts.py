"""What a campaign loses when its pacer forgets: started each morning, three ways.

    .venv/bin/python -m bench.dialer_sim.restarts [--scenario "S0 N=20" ...] [--days 10]

The live runner lives only while its campaign runs. A campaign stopped each evening and
started each morning (or a service restarted) used to get a new pacer each run: it
dialed progressively until it had seen 100 dials and 30 handled calls, and its
abandon-rate loop started from nothing. Now the pacer outlives the run (saved in
PostgreSQL, taken back by the next run: `Pacer.state`, `dialer/pacing/state.py`). Same
customers each way (common random numbers, same seed as bench.dialer_sim):

- **kept**: one pacer all along (the simulator's default, and the baseline);
- **new pacer each morning**: what a campaign started each morning had before;
- **saved each evening, restored each morning**: the pacer through its JSON state, as
  the runner saves it at the end of a run and a new process takes it back.

Writes bench/dialer_sim/RESTARTS.md.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from bench.dialer_sim.report import INTERVAL, command_line, run_arguments, section, write_report
from dialer.pacing import Mode, Pacer, PacingSettings
from dialer.sim.engine import RunResult, Simulation
from dialer.sim.metrics import mean_ci
from dialer.sim.scenario import SCENARIOS

HERE = Path(__file__).resolve().parent
COLUMNS = ("each morning", "occupancy", "ratio", "abandon pooled", "worst 24 h", "learning ticks",
           "wall time")


def _through_json(pacer: Pacer) -> Pacer:
    return Pacer.restored(json.loads(json.dumps(pacer.state())))


MORNINGS: dict[str, Callable[[Pacer], Pacer]] = {
    "kept": lambda pacer: pacer,
    "new pacer each morning": lambda pacer: Pacer(),
    "saved each evening, restored each morning": _through_json,
}


def run(scenario: str, days: int, seed: int, morning: Callable[[Pacer], Pacer]) -> RunResult:
    sim = Simulation(SCENARIOS[scenario], PacingSettings(mode=Mode.PREDICTIVE), seed, Pacer())
    for _ in range(days):
        sim.pacer = morning(sim.pacer)
        sim.run(1)
    return sim.result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dialer_sim.restarts",
                                     description=__doc__)
    parser.add_argument("--scenario", nargs="+", default=["S0 N=20", "low answer 10% N=20"],
                        choices=tuple(SCENARIOS))
    run_arguments(parser, 10, HERE / "RESTARTS.md")
    args = parser.parse_args(argv)
    command = command_line("bench.dialer_sim.restarts", argv)
    tables: list[str] = []
    for scenario in args.scenario:
        rows, baseline = [], 0.0
        for label, morning in MORNINGS.items():
            started = time.perf_counter()
            result = run(scenario, args.days, args.seed, morning)
            occupancy, half = mean_ci([d.occupancy for d in result.days])
            baseline = baseline or occupancy
            learning = sum(d.decisions.rules.get("learning", 0) for d in result.days)
            ticks = sum(d.decisions.ticks for d in result.days)
            rows.append(
                f"| {label} | {occupancy:.4f} ± {half:.4f} | {occupancy / baseline:.4f} "
                f"| {result.rate_over_days():.2%} | {result.log.worst_24h():.2%} "
                f"| {learning / ticks:.2%} | {time.perf_counter() - started:.0f} s |")
            print(scenario, rows[-1], flush=True)
        tables += section(scenario, COLUMNS, rows)
    legend = (
        "`ratio`: occupancy over the kept pacer's in the same run. `learning ticks`: the "
        f"share of ticks dialed progressively while the rule learned. {INTERVAL}"
    )
    how = f"{args.days} simulated 8-hour days each way, seed {args.seed}."
    write_report(args.out, "Predictive pacing across restarts", command, how,
                 __doc__ or "", legend, tables)


if __name__ == "__main__":
    main()
