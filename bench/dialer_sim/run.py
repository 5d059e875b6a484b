"""Every scenario of dialer.md x every pacing policy, side by side, common random numbers.

    .venv/bin/python -m bench.dialer_sim [--days 30] [--quick] [--workers 2]

Each (scenario, policy) run simulates `--days` consecutive 8-hour days of one campaign
(the pacer keeps learning across days) with the same seed, so every policy's i-th dial
of day d meets the same customer. Confidence intervals are 95% Student-t over days.
Writes bench/dialer_sim/RESULTS.md and bench/dialer_sim/last_run.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.dialer_sim.report import SEED
from dialer.pacing import Mode, PacingSettings
from dialer.sim.engine import RunResult, simulate
from dialer.sim.metrics import DayMetrics, Fate, mean_ci
from dialer.sim.scenario import SCENARIOS

HERE = Path(__file__).resolve().parent
#: Policies by name: the four baselines side by side, and on S0 the unreachable
#: reference of dialer.md, our rule told the agents' true finish times.
ORACLE = "oracle"
#: On S0, ours also rings 25 s like the baselines instead of its own 15 s
#: (`PacingSettings.predictive_ring_timeout`), to show what the shorter ring is worth.
RING_25 = "predictive-25"
POLICIES = ("progressive", "ratio", "adaptive", "predictive", RING_25, ORACLE)
MODES = {
    "progressive": Mode.PROGRESSIVE,
    "ratio": Mode.RATIO,
    "adaptive": Mode.ADAPTIVE,
    "predictive": Mode.PREDICTIVE,
    RING_25: Mode.PREDICTIVE,
    ORACLE: Mode.PREDICTIVE,
}
LABELS = {
    "progressive": "progressive",
    "ratio": "fixed ratio",
    "adaptive": "VICIdial-style adaptive",
    "predictive": "ours (predictive)",
    RING_25: "ours ringing 25 s like the baselines",
    ORACLE: "ours told true finish times (unreachable)",
}
#: Scenarios that also run the oracle and ours ringing 25 s.
ORACLE_SCENARIOS = ("S0 N=5", "S0 N=20", "S0 N=100")
#: The fixed-ratio baseline: lines per free agent, tuned once on S0 N=20 (3 days: 2.0 gave
#: 1.2% abandon and 0.86 occupancy, 2.3 gave 2.5% and 0.885, 2.6 gave 4.2%), used everywhere.
RATIO = 2.3
QUICK_SCENARIOS = ("S0 N=5", "S0 N=20", "drift N=20")

PER_DAY: dict[str, Callable[[DayMetrics], float]] = {
    "occupancy": lambda d: d.occupancy,
    "abandon_ftc": lambda d: d.abandon_rate,
    "abandon_uk": lambda d: d.abandon_rate_uk,
    "talk_min_per_agent_hour": lambda d: d.talk_minutes_per_agent_hour,
    "idle_gap_mean": lambda d: d.idle_gap_mean,
    "idle_gap_p90": lambda d: d.idle_gap_p90,
    "contacts_per_agent_hour": lambda d: d.contacts_per_agent_hour,
    "dials_per_agent_hour": lambda d: d.dials_per_agent_hour,
    "lines_mean": lambda d: d.lines_mean,
    "lines_peak": lambda d: float(d.line_peak),
}


@dataclass(frozen=True)
class Job:
    scenario: str
    policy: str
    days: int
    seed: int

    @property
    def mode(self) -> Mode:
        return MODES[self.policy]


def run_job(job: Job) -> dict[str, Any]:
    started = time.perf_counter()
    settings = PacingSettings(mode=job.mode, ratio=RATIO)
    if job.policy == RING_25:
        settings = replace(settings, predictive_ring_timeout=settings.ring_timeout)
    result = simulate(
        SCENARIOS[job.scenario], job.mode, job.days, job.seed, settings,
        oracle=job.policy == ORACLE,
    )
    return summarise(job, result, time.perf_counter() - started)


def summarise(job: Job, result: RunResult, seconds: float) -> dict[str, Any]:
    days: list[DayMetrics] = result.days
    per_day = {name: [f(d) for d in days] for name, f in PER_DAY.items()}
    dials = sum(d.dials for d in days)
    fates = {fate.value: sum(d.fates[fate] for d in days) for fate in Fate}
    return {
        "scenario": job.scenario,
        "policy": job.policy,
        "mode": job.mode.value,
        "days": job.days,
        "seed": job.seed,
        "seconds": seconds,
        "per_day": per_day,
        "dials": dials,
        "fates": fates,
        "abandon_pooled_uk": result.rate_over_days(),
        "abandon_worst_day_uk": max(per_day["abandon_uk"]),
        "abandon_worst_24h": result.log.worst_24h(),
        "abandon_worst_30d": result.worst_rolling_30d(),
    }


def _fmt(values: list[float], digits: int = 3, scale: float = 1.0) -> str:
    mean, half = mean_ci([v * scale for v in values])
    return f"{mean:.{digits}f} ± {half:.{digits}f}"


def _pct(value: float) -> str:
    return f"{100 * value:.2f}%"


def render(
    runs: list[dict[str, Any]],
    command: str,
    wall: float,
    days: int,
    kept: list[tuple[str, str]] | None = None,
    workers: int = 2,
) -> str:
    by_key = {(r["scenario"], r["policy"]): r for r in runs}
    scenarios = list(dict.fromkeys(r["scenario"] for r in runs))
    lines = [
        "# Predictive pacing: simulated campaigns (dialer.md scenarios)",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, wall time {wall / 60:.1f} min, "
        f"{days} simulated 8-hour days per (scenario, policy), Python "
        f"{platform.python_version()}, {workers} worker process{'es' if workers > 1 else ''} "
        "on a shared 2-core machine.",
        "",
        "Every policy meets the same customers (common random numbers keyed by the dial "
        "index). ± is the half-width of a 95% Student-t interval over days (days of one "
        "campaign: the pacer's learning carries over, so days are not fully independent). "
        "Abandon rates: `FTC` = abandoned / live answers; `UK` counts AMD false positives as "
        "abandoned (Ofcom); `pooled` = over all days (the 30-day figure), `worst day`, "
        "`worst 24 h` = worst rolling 24-hour window (checked at every abandon), `worst 30 d` "
        "= worst rolling 30-day window. Occupancy = (talk + wrap-up) / logged-in unpaused "
        "time. `ratio` = occupancy / progressive occupancy in the same run. Repeat calls are "
        "not modelled (every dial is a new number), so there are no 72-hour-rule violations "
        "to count. Fixed ratio: "
        f"{RATIO:g} lines per free agent in every scenario (tuned once on S0 N=20). "
        "Ours: one configuration (`dialer/pacing` defaults) in every scenario; it rings "
        "15 s (the regulators' minimum) where the baselines ring 25 s, and on S0 it also "
        "runs ringing 25 s.",
        "",
    ]
    if kept:
        lines += [
            "Rows kept from the previous run of the same days and seed (`--only`; the "
            "simulation is deterministic and their code did not change): "
            + ", ".join(f"{s} / {LABELS[p]}" for s, p in kept) + ".",
            "",
        ]
    for scenario in scenarios:
        base = by_key.get((scenario, "progressive"))
        base_occ = (
            sum(base["per_day"]["occupancy"]) / len(base["per_day"]["occupancy"]) if base else 0
        )
        lines += [
            f"## {scenario}",
            "",
            "| policy | occupancy | ratio | abandon UK pooled | worst day | worst 24 h | "
            "worst 30 d | abandon FTC (day mean) | talk min / agent-h | idle gap mean s | "
            "idle gap p90 s | contacts / agent-h | dials / agent-h | lines mean | lines peak |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for policy in POLICIES:
            r = by_key.get((scenario, policy))
            if r is None:
                continue
            pd = r["per_day"]
            occ = sum(pd["occupancy"]) / len(pd["occupancy"])
            ratio = f"{occ / base_occ:.3f}" if base_occ else "-"
            lines.append(
                f"| {LABELS[policy]} | {_fmt(pd['occupancy'])} | {ratio} | "
                f"{_pct(r['abandon_pooled_uk'])} | {_pct(r['abandon_worst_day_uk'])} | "
                f"{_pct(r['abandon_worst_24h'])} | {_pct(r['abandon_worst_30d'])} | "
                f"{_fmt(pd['abandon_ftc'], 2, 100)}% | {_fmt(pd['talk_min_per_agent_hour'], 1)} | "
                f"{_fmt(pd['idle_gap_mean'], 1)} | {_fmt(pd['idle_gap_p90'], 1)} | "
                f"{_fmt(pd['contacts_per_agent_hour'], 1)} | "
                f"{_fmt(pd['dials_per_agent_hour'], 1)} | "
                f"{_fmt(pd['lines_mean'], 1)} | {max(pd['lines_peak']):.0f} |"
            )
        lines.append("")
    lines += targets(by_key)
    return "\n".join(lines) + "\n"


def targets(by_key: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    """The issue's targets for ours, checked against this run."""

    def ours(scenario: str) -> dict[str, Any] | None:
        return by_key.get((scenario, "predictive"))

    def occ(run: dict[str, Any]) -> float:
        values: list[float] = run["per_day"]["occupancy"]
        return sum(values) / len(values)

    out = ["## Targets for ours (issue 5)", "", "| target | measured | met |", "|---|---|---|"]
    checks = (("S0 N=20", 0.90), ("S0 N=100", 0.96), ("S0 N=5", 0.82))
    for scenario, floor in checks:
        run = ours(scenario)
        if run is None:
            continue
        ok_occ = occ(run) >= floor
        ok_ab = run["abandon_pooled_uk"] <= 0.03 and run["abandon_worst_24h"] <= 0.03
        target = f"occupancy >= {floor:.2f}, 30-day abandon <= 3%, no 24 h window over 3%"
        if scenario == "S0 N=5":
            # The issue accepts progressive with no abandons for the smallest team.
            target += " (or progressive with no abandons)"
            ok_occ = ok_occ or run["fates"]["abandoned"] == 0
        out.append(
            # Four decimals: at three, 0.8996 would read "0.900" beside "no".
            f"| {scenario}: {target} | occupancy {occ(run):.4f}, pooled "
            f"{_pct(run['abandon_pooled_uk'])}, worst 24 h {_pct(run['abandon_worst_24h'])}, "
            f"{run['fates']['abandoned']} abandoned | {'yes' if ok_occ and ok_ab else 'no'} |"
        )
    for scenario, reference in (("S0 N=20", 0.90 / 0.92), ("S0 N=100", 0.963 / 0.973)):
        run, told = ours(scenario), by_key.get((scenario, ORACLE))
        if run is None or told is None:
            continue
        out.append(
            f"| {scenario}, for scale: ours / the oracle (dialer.md's reference simulation: "
            f"{reference:.3f}) | {occ(run):.4f} / {occ(told):.4f} = "
            f"**{occ(run) / occ(told):.3f}** (oracle abandon pooled "
            f"{_pct(told['abandon_pooled_uk'])}) | - |"
        )
    drift, stationary = ours("drift N=20"), ours("S0 N=20")
    if drift is not None and stationary is not None:
        gap = occ(stationary) - occ(drift)
        ok = gap <= 0.02 and drift["abandon_worst_24h"] <= 0.03
        out.append(
            f"| drift N=20: occupancy at most 2 points below S0 N=20, no 24 h window over 3% | "
            f"{occ(drift):.3f} vs {occ(stationary):.3f} ({100 * gap:+.1f} points below), "
            f"worst 24 h {_pct(drift['abandon_worst_24h'])} | {'yes' if ok else 'no'} |"
        )
    out.append("")
    return out


def _kept_rows(
    jobs: list[Job], only: list[str] | None, last_run: Path
) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of the last run for the jobs of policies not in `only` (none without it)."""
    if not only:
        return {}
    previous = {
        (r["scenario"], r["policy"]): r
        for r in json.loads(last_run.read_text())
        if r["days"] == jobs[0].days and r["seed"] == jobs[0].seed
    } if last_run.exists() else {}
    wanted = [j for j in jobs if j.policy not in only]
    missing = [f"{j.scenario}/{j.policy}" for j in wanted if (j.scenario, j.policy) not in previous]
    if missing:
        raise SystemExit(f"--only: no row of the same days and seed to keep for {missing}")
    return {(j.scenario, j.policy): previous[(j.scenario, j.policy)] for j in wanted}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dialer_sim", description=__doc__)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="3 days, 3 scenarios")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--workers", type=int, default=2, choices=(1, 2))
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--scenarios", nargs="+", choices=tuple(SCENARIOS), metavar="NAME",
                        help="only these scenarios (default: all)")
    parser.add_argument("--only", nargs="+", choices=POLICIES, metavar="POLICY",
                        help="run only these policies; the others' rows are kept from the "
                        "last run (last_run.json, same days and seed): the simulation is "
                        "deterministic, so rerunning unchanged policies gives the same rows")
    args = parser.parse_args(argv)
    days = 3 if args.quick else args.days
    scenarios = tuple(args.scenarios or (QUICK_SCENARIOS if args.quick else SCENARIOS))
    jobs = [
        Job(s, p, days, args.seed)
        for s in scenarios
        for p in POLICIES
        if p not in (ORACLE, RING_25) or s in ORACLE_SCENARIOS
    ]
    kept = _kept_rows(jobs, args.only, args.out.parent / "last_run.json")
    jobs = [j for j in jobs if (j.scenario, j.policy) not in kept]
    # Longest first, so two workers finish together.
    jobs.sort(
        key=lambda j: -(SCENARIOS[j.scenario].agents * (3 if j.mode is Mode.PREDICTIVE else 1))
    )
    started = time.perf_counter()
    with multiprocessing.get_context("fork").Pool(args.workers) as pool:
        runs = []
        for run in pool.imap_unordered(run_job, jobs):
            runs.append(run)
            print(f"{run['scenario']:24s} {run['policy']:12s} {run['seconds']:6.1f}s", flush=True)
    wall = time.perf_counter() - started
    runs += kept.values()
    order = {
        (s, p): i for i, (s, p) in enumerate((s, p) for s in scenarios for p in POLICIES)
    }
    runs.sort(key=lambda r: order[(r["scenario"], r["policy"])])
    command = ".venv/bin/python -m bench.dialer_sim " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    args.out.write_text(render(runs, command.strip(), wall, days, sorted(kept), args.workers))
    (args.out.parent / "last_run.json").write_text(json.dumps(runs, indent=1))
    print(f"wrote {args.out} in {wall / 60:.1f} min")
