"""Is the predictive rule's risk right? Predicted against actual abandons, by state.

    .venv/bin/python -m bench.dialer_sim.calibration [--scenario "S0 N=20"] [--days 5]

Simulates the campaign with every dial's fate and the risk the rule gave it recorded
(`dialer/sim/calibration.py`), for ours and for the oracle (ours told the agents' true
finish times, so what remains off there is the model's structure, not its estimates).
Writes bench/dialer_sim/CALIBRATION.md. Same seed as bench.dialer_sim.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.dialer_sim.report import run_arguments
from bench.stats import wilson_interval
from dialer.pacing import Mode
from dialer.sim.calibration import Bin, calibration
from dialer.sim.engine import simulate
from dialer.sim.scenario import SCENARIOS

HERE = Path(__file__).resolve().parent
POLICIES = {"ours (predictive)": False, "ours told true finish times (oracle)": True}


def _ratio(actual: float, predicted: float) -> str:
    return f"{actual / predicted:.2f}" if predicted > 0 else "-"


def render_bins(bins: list[Bin]) -> list[str]:
    lines = ["| state | calls answered live | predicted | predicted exactly | actual (95% CI) "
             "| actual / predicted | actual / exact |",
             "|---|---|---|---|---|---|---|"]
    feature = ""
    for b in bins:
        if b.feature != feature:
            feature = b.feature
            lines.append(f"| **{feature}** | | | | | | |")
        low, high = wilson_interval(b.abandoned, b.calls)
        lines.append(
            f"| {b.label} | {b.calls} | {b.predicted:.2%} | {b.exact:.2%} | {b.actual:.2%} "
            f"({low:.2%}-{high:.2%}) | {_ratio(b.actual, b.predicted)} "
            f"| {_ratio(b.actual, b.exact)} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dialer_sim.calibration",
                                     description=__doc__)
    parser.add_argument("--scenario", default="S0 N=20", choices=tuple(SCENARIOS))
    run_arguments(parser, 5, HERE / "CALIBRATION.md")
    args = parser.parse_args(argv)
    command = ".venv/bin/python -m bench.dialer_sim.calibration " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    out = [
        f"# Predictive pacing: is the per-call risk right? ({args.scenario})",
        "",
        f"Command: `{command.strip()}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {args.days} simulated days, "
        f"seed {args.seed}.",
        "",
        "Each call the rule placed carries the risk it was placed at: the model's "
        "P(abandoned | answered live) for a call of its tick's batch. Of the calls a live "
        "person answered, `actual` is the share abandoned. A rule that is right on average "
        "but wrong by state spends the abandon budget where it buys the least occupancy: "
        "it under-dials where `actual / predicted` is low and over-dials where it is high "
        "(the abandon-rate loop only scales the threshold for all states at once). "
        "`predicted exactly` is the same model's risk without the normal approximation "
        "(`dialer/pacing/exact.py`): where it is right and the rule's is not, the "
        "approximation is to blame; where both are off, the model is.",
    ]
    for label, oracle in POLICIES.items():
        started = time.perf_counter()
        result = simulate(
            SCENARIOS[args.scenario], Mode.PREDICTIVE, args.days, args.seed,
            record_fates=True, oracle=oracle,
        )
        outcomes = result.calibration_outcomes()
        predicted = sum(o.placement.risk for o in outcomes) / len(outcomes)
        exact = sum(o.placement.exact for o in outcomes) / len(outcomes)
        actual = sum(o.abandoned for o in outcomes) / len(outcomes)
        occupancy = sum(d.occupancy for d in result.days) / len(result.days)
        out += [
            "",
            f"## {label}",
            "",
            f"{len(outcomes)} calls answered live; predicted {predicted:.2%} (exactly "
            f"{exact:.2%}), actual {actual:.2%}; occupancy {occupancy:.3f} "
            f"({time.perf_counter() - started:.0f} s).",
            "",
            *render_bins(calibration(outcomes)),
        ]
        print(f"{label}: predicted {predicted:.2%}, exactly {exact:.2%}, actual {actual:.2%}",
              flush=True)
    args.out.write_text("\n".join(out) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
