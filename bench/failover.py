"""Failover: how long the call centre is without a CTI when the leading replica dies, beside
how long a cold start of the service takes on the same machine in the same run.

    .venv/bin/python -m bench.failover [--rounds 5] [--check-interval 1.0] [--json PATH]

Real parts: Asterisk 22 (the test bench's), PostgreSQL, the service as its own processes.
Each round:

- cold start (the baseline): a lone replica is started; the time from its launch until
  ``/readyz`` answers 200 (AMI logged in, mirror rebuilt, database reachable, leading);
- failover: a second replica is started and stands by; the leader is killed (SIGKILL, a
  crash); the time from the kill until the standby's ``/readyz`` answers 200.

Reported: each figure's median and spread over the rounds, and the failover time as a
ratio to the cold start (this machine is shared and noisy: only the ratio travels).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from cti.db.migrate import upgrade
from cti.stack.postgres import PostgresCluster
from tests.support.bench import running_asterisk
from tests.support.service import CtiService, until

WRAPUP_SECONDS = 2


def ready_after(svc: CtiService, since: float, timeout: float = 60) -> float:
    until(lambda: svc.ready()[0] == 200, timeout, "the replica to be ready", every=0.01)
    return time.monotonic() - since


def one_round(asterisk: Any, url: str, workdir: Path, interval: float) -> dict[str, float]:
    env = {"CTI_CLUSTER__CHECK_INTERVAL": str(interval)}
    leader = CtiService(asterisk, url, workdir / "a", WRAPUP_SECONDS)
    leader.env.update(env, CTI_CLUSTER__REPLICA="a")
    standby = CtiService(asterisk, url, workdir / "b", WRAPUP_SECONDS)
    standby.env.update(env, CTI_CLUSTER__REPLICA="b")
    try:
        launched = time.monotonic()
        leader.start()
        cold = ready_after(leader, launched)
        standby.start()
        until(lambda: standby.ready()[0] == 503, 30, "the second replica standing by")
        killed = time.monotonic()
        leader.crash()
        takeover = ready_after(standby, killed)
    finally:
        standby.stop()
        leader.stop()
    return {"cold_start": cold, "failover": takeover}


def summary(rounds: list[dict[str, float]]) -> dict[str, Any]:
    cold = [r["cold_start"] for r in rounds]
    fail = [r["failover"] for r in rounds]
    ratios = [r["failover"] / r["cold_start"] for r in rounds]
    return {
        "rounds": rounds,
        "cold_start_median": statistics.median(cold),
        "failover_median": statistics.median(fail),
        "failover_range": [min(fail), max(fail)],
        "ratio_median": statistics.median(ratios),
        "ratio_range": [min(ratios), max(ratios)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--check-interval", type=float, default=1.0,
                        help="CTI_CLUSTER__CHECK_INTERVAL of both replicas (default 1 s)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cti-failover-"))
    cluster = PostgresCluster(tempfile.mkdtemp(prefix="cti-failover-pg-"), durable=False)
    cluster.start()
    try:
        upgrade(cluster.url)
        with running_asterisk(lambda: workdir, wrapup_seconds=WRAPUP_SECONDS) as asterisk:
            rounds = [one_round(asterisk, cluster.url, workdir / f"round{i}",
                                args.check_interval) for i in range(args.rounds)]
    finally:
        cluster.destroy()
    result = {"check_interval": args.check_interval, **summary(rounds)}
    for r in rounds:
        print(f"cold start {r['cold_start']:.2f} s   failover {r['failover']:.2f} s   "
              f"ratio {r['failover'] / r['cold_start']:.2f}")
    print(f"median: cold start {result['cold_start_median']:.2f} s, failover "
          f"{result['failover_median']:.2f} s, ratio {result['ratio_median']:.2f} "
          f"(range {result['ratio_range'][0]:.2f}-{result['ratio_range'][1]:.2f})")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
