"""Ours on the terms of dialer.md's reference simulation: about 3% pooled, no 24 h margin.

    .venv/bin/python -m bench.dialer_sim.reference [--days 30] [--scenario "S0 N=20" ...]

dialer.md quotes one independent simulation of S0 "at about 3% pooled abandon": a
model-based rule at 0.83 / 0.90 / 0.963 occupancy for N = 5 / 20 / 100, and the same rule
told the agents' true finish times at 0.85 / 0.92 / 0.973. Our target adds a second
rule to the first: no rolling 24 hours over 3% either. As shipped, the rule holds back
for it (the loop steers under the target by what the window's own chance needs,
`setpoint` in dialer/pacing/controller.py, and a guard stops over-dialing at 0.97 of
the target), which puts S0 N=20 at about 2.54% pooled.

This runs the same customers (common random numbers, the seed of bench.dialer_sim)
three ways per scenario: ours as shipped; ours on the reference's terms (the loop
steers at 0.99 of the target, guards off, over-dialing even on a small day's budget);
and ours told the true finish times on the same terms. It reports each beside the
reference's figure, and what the 24 h margin costs as the ratio of the reference terms
to the shipped rule. The reference-terms runs are not a configuration to ship: their
rolling 24 hours go over 3%.

Writes bench/dialer_sim/REFERENCE.md.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.dialer_sim.report import INTERVAL, command_line, run_arguments, section, write_report
from dialer.pacing import Mode, Pacer, PacingSettings
from dialer.pacing.controller import ControllerConfig
from dialer.pacing.predictive import Predictive, PredictiveConfig
from dialer.sim.engine import Simulation
from dialer.sim.metrics import mean_ci
from dialer.sim.oracle import OraclePredictive, Truth
from dialer.sim.scenario import SCENARIOS

HERE = Path(__file__).resolve().parent
SHIPPED, TERMS, ORACLE = "shipped", "reference terms", "told finish times, reference terms"
WAYS = (SHIPPED, TERMS, ORACLE)
COLUMNS = ("ours", "occupancy", "ratio to shipped", "dialer.md's figure", "ours / dialer.md",
           "abandon pooled", "worst 24 h", "wall time")
#: dialer.md's reference figures: (model-based rule, the rule told true finish times).
QUOTED: dict[str, tuple[float, float]] = {
    "S0 N=5": (0.83, 0.85),
    "S0 N=20": (0.90, 0.92),
    "S0 N=100": (0.963, 0.973),
}
#: "About 3% pooled": the loop steers just under the target; nothing else holds back.
REFERENCE_TERMS = PredictiveConfig(
    min_budget=0.0,
    controller=ControllerConfig(
        min_setpoint_fraction=0.99, max_setpoint_fraction=0.99, guard_fraction=1.3
    ),
)


@dataclass(frozen=True, slots=True)
class Run:
    scenario: str
    way: str
    occupancy: float
    half: float  # of its 95% interval over days
    pooled: float
    worst: float  # rolling 24 h
    seconds: float


def run(scenario: str, way: str, days: int, seed: int) -> Run:
    started = time.perf_counter()
    truth = Truth() if way == ORACLE else None
    predictive = (
        Predictive() if way == SHIPPED
        else OraclePredictive(truth, REFERENCE_TERMS) if truth is not None
        else Predictive(REFERENCE_TERMS)
    )
    settings = PacingSettings(mode=Mode.PREDICTIVE)
    result = Simulation(
        SCENARIOS[scenario], settings, seed, Pacer(predictive=predictive), truth=truth
    ).run(days)
    occupancy, half = mean_ci([d.occupancy for d in result.days])
    return Run(scenario, way, occupancy, half, result.rate_over_days(),
               result.log.worst_24h(), time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dialer_sim.reference",
                                     description=__doc__)
    parser.add_argument("--scenario", nargs="+", default=list(QUOTED), choices=tuple(QUOTED))
    run_arguments(parser, 30, HERE / "REFERENCE.md", workers=True)
    args = parser.parse_args(argv)
    command = command_line("bench.dialer_sim.reference", argv)
    jobs = [(s, way, args.days, args.seed) for s in args.scenario for way in WAYS]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(run, *zip(*jobs, strict=True)))
    tables: list[str] = []
    for scenario in args.scenario:
        runs = {r.way: r for r in results if r.scenario == scenario}
        shipped = runs[SHIPPED].occupancy
        rule, told = QUOTED[scenario]
        quoted = {SHIPPED: rule, TERMS: rule, ORACLE: told}
        rows = []
        for way in WAYS:
            r = runs[way]
            rows.append(
                f"| {way} | {r.occupancy:.4f} ± {r.half:.4f} "
                f"| {r.occupancy / shipped:.4f} | {quoted[way]:.3f} "
                f"| {r.occupancy / quoted[way]:.3f} | {r.pooled:.2%} "
                f"| {r.worst:.2%} | {r.seconds:.0f} s |")
            print(scenario, rows[-1], flush=True)
        terms, oracle = runs[TERMS].occupancy, runs[ORACLE].occupancy
        tables += [
            *section(scenario, COLUMNS, rows),
            "",
            f"On the same terms, ours over ours told the finish times: **{terms / oracle:.3f}** "
            f"(dialer.md's: {rule / told:.3f}).",
        ]
    legend = (
        "`ratio to shipped`: occupancy over the shipped rule's in the same run. `ours / "
        "dialer.md`: over the figure dialer.md quotes for that rule (the model-based rule, "
        f"or the rule told the true finish times). {INTERVAL}"
    )
    how = f"{args.days} simulated 8-hour days per run, seed {args.seed}."
    write_report(args.out, "Predictive pacing on the terms of dialer.md's reference simulation",
                 command, how, __doc__ or "", legend, tables)


if __name__ == "__main__":
    main()
