"""What Asterisk's channel event log costs: the same inbound step with and without it.

    .venv/bin/python -m bench.inbound_load.cel_cost [--rounds 2] [--rate 8] [--duration 30]

The product has Asterisk write its channel event log (CEL) into PostgreSQL
(``asterisk-conf/cel.conf``), from which the dialer settles calls it no longer hears
(``cti/outbound/settle.py``). Each round runs one step of ``bench.inbound_load`` (its own
Asterisk, PostgreSQL, service and SIPp; 200 seats, calls at ``--rate`` a second) with and
without the log and compares Asterisk's CPU seconds per call: the run without the log is
the baseline. Which side goes first alternates between rounds, so that a warm cache or a
noisy neighbour weighs on both sides. It also counts the rows the log got per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def _step(path: Path) -> dict[str, float]:
    run = json.loads(path.read_text())
    row = run["steps"][0]
    if row["problems"]:
        raise SystemExit(f"the step did not hold: {row['problems']}")
    return {"asterisk_ms": row["asterisk_cpu_per_call_ms"],
            "service_ms": row["service_cpu_per_call_ms"], "calls": row["placed"],
            "cel_rows": run["cel_rows"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--rate", type=float, default=8)
    p.add_argument("--duration", type=float, default=30)
    args = p.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-cel-cost-"))
    ratios: list[float] = []
    for n in range(1, args.rounds + 1):
        common = ["--steps", f"{args.rate:g}", "--duration", f"{args.duration:g}"]
        runs = [[*common, "--no-cel", "--json", str(out / f"{n}-without.json")],
                [*common, "--json", str(out / f"{n}-with.json")]]
        for argv in runs if n % 2 else runs[::-1]:  # each side goes first in turn
            # its own process, as when run alone (ports it handed out are not reused)
            subprocess.run([sys.executable, "-m", "bench.inbound_load", *argv], check=True)
        without = _step(out / f"{n}-without.json")
        with_log = _step(out / f"{n}-with.json")
        ratio = with_log["asterisk_ms"] / without["asterisk_ms"]
        ratios.append(ratio)
        print(f"round {n}: Asterisk CPU/call {without['asterisk_ms']:.1f} ms without the "
              f"log, {with_log['asterisk_ms']:.1f} ms with it: {ratio:.2f}x "
              f"({with_log['calls']:g} calls each; the log got "
              f"{with_log['cel_rows'] / with_log['calls']:.1f} rows a call, "
              f"{without['cel_rows']:g} without it)", flush=True)
    print(f"Asterisk CPU per call with the channel event log: "
          f"{statistics.median(ratios):.2f}x without it (median of {len(ratios)} rounds: "
          f"{', '.join(f'{r:.2f}' for r in ratios)}); raw figures in {out}")


if __name__ == "__main__":
    main()
