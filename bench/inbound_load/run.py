"""Inbound load: SIPp callers at a steady rate into the skill groups, stepped up until
something gives.

    .venv/bin/python -m bench.inbound_load [--seats 200] [--steps 2,4,8,12,16]
                                           [--duration 30] [--talk 15] [--all]
    .venv/bin/python -m bench.inbound_load --quick      # a smoke run: 20 seats, one step

Real parts: Asterisk 22 (the shipped configuration, plus a minimal ``cti-record``
subroutine so every answered call is recorded, see ``traffic.py``), PostgreSQL, the
service as its own process (``tests/support/service.py``), SIPp. Every seat's AOR points
at ONE SIPp UAS that answers at once, plays audio and hangs up after ``--talk`` seconds;
seats are split between ``sales`` (200) and ``support`` (300) and logged in over REST.
Per step, two SIPp UACs (one per group number) place ``rate * duration`` calls at
``rate`` calls/s in total.

Per step: the most concurrent calls by Asterisk's count and by the mirror's; whether the
mirror matched Asterisk at sampled instants (``verdict.bracket``); calls placed vs calls
in PostgreSQL history and answered by a seat; recordings; CPU seconds per call of the
service and of Asterisk (``/proc/<pid>/stat``), the latter the baseline of the ratio.
The run stops after the first step that did not hold (``--all``: run every step).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import logging
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.inbound_load import traffic
from bench.inbound_load.verdict import (
    NO_DIVERGENCE,
    Divergence,
    StepResult,
    bracket,
    confirmed,
    problems,
)
from bench.stats import cpu_seconds
from cti.ami.connection import AmiConnection
from cti.config import AmiNode, AmiSettings
from cti.db.migrate import upgrade
from cti.stack.asterisk import AsteriskInstance, provision
from cti.stack.ports import free_port
from cti.stack.postgres import PostgresCluster
from cti.stack.render import Seat
from tests.support.service import CtiService, until
from tests.support.sipp import SippProcess

log = logging.getLogger("bench.inbound_load")

GROUPS = (("sales", "200"), ("support", "300"))
WRAPUP_SECONDS = 1
FIRST_SEAT = 1001
WAITING_STATES = frozenset({"queued", "ringing"})  # app_queue still holds the caller
SEAT_BUSY_STATES = frozenset({"ringing", "on_call", "busy"})
# app_queue member Status: 2 in use, 3 busy, 6 ringing, 7 ring in use, 8 on hold
MEMBER_BUSY_STATUS = frozenset({"2", "3", "6", "7", "8"})


@dataclass(frozen=True, slots=True)
class View:
    """Calls (by Linkedid), callers waiting in a queue and seats busy with a call (ringing
    or talking), as one side sees them."""

    calls: frozenset[str]
    waiting: frozenset[str]
    busy_seats: frozenset[str]
    channels: int = 0


# --- the two views -----------------------------------------------------------------------

async def asterisk_view(conn: AmiConnection) -> View:
    channels = await conn.send({"Action": "CoreShowChannels"}, multi=True, reply_within=15)
    queues = await conn.send({"Action": "QueueStatus"}, multi=True, reply_within=15)
    linked = {str(e["Uniqueid"]): str(e["Linkedid"]) for e in channels.events
              if e.get("Event") == "CoreShowChannel"}
    waiting = {linked.get(str(e["Uniqueid"]), str(e["Uniqueid"])) for e in queues.events
               if e.get("Event") == "QueueEntry"}
    busy = {str(e["Location"]).partition("/")[2] for e in queues.events
            if e.get("Event") == "QueueMember"
            and (e.get("InCall") == "1" or str(e.get("Status")) in MEMBER_BUSY_STATUS)}
    return View(frozenset(linked.values()), frozenset(waiting), frozenset(busy), len(linked))


async def mirror_view(client: httpx.AsyncClient) -> View:
    calls: set[str] = set()
    waiting: set[str] = set()
    offset = 0
    while True:
        r = await client.get("/v1/calls", params={"status": "active", "limit": 500,
                                                  "offset": offset})
        r.raise_for_status()
        page = r.json()
        for c in page["items"]:
            calls.add(c["linkedid"])
            if c["state"] in WAITING_STATES:
                waiting.add(c["linkedid"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    r = await client.get("/v1/seats")
    r.raise_for_status()
    busy = {s["id"] for s in r.json() if s["state"] in SEAT_BUSY_STATES}
    return View(frozenset(calls), frozenset(waiting), frozenset(busy))


@dataclass
class Sampler:
    """Brackets the mirror between two reads of Asterisk, and remembers the last sample's
    divergences to tell lasting ones from races (``verdict.confirmed``)."""

    conn: AmiConnection
    client: httpx.AsyncClient
    last: tuple[Divergence, ...] = (NO_DIVERGENCE,) * 3

    async def sample(self, step: StepResult) -> None:
        before = await asterisk_view(self.conn)
        mirror = await mirror_view(self.client)
        after = await asterisk_view(self.conn)
        now = (bracket(before.calls, mirror.calls, after.calls),
               bracket(before.waiting, mirror.waiting, after.waiting),
               bracket(before.busy_seats, mirror.busy_seats, after.busy_seats))
        lasting = tuple(confirmed(a, b) for a, b in zip(self.last, now, strict=True))
        self.last = now
        record(step, before, mirror, after, now, lasting)


def record(step: StepResult, before: View, mirror: View, after: View,
           now: tuple[Divergence, ...], lasting: tuple[Divergence, ...]) -> None:
    step.samples += 1
    if all(d.matched for d in now):
        step.samples_matched += 1
    if not all(d.matched for d in lasting):
        step.confirmed_divergences += 1
        log.warning("rate %s: mirror diverged for 2 samples: calls missing %s ghosts %s; "
                    "waiting missing %s ghosts %s; busy seats missing %s ghosts %s",
                    step.rate, *(sorted(s)[:5] for d in lasting for s in (d.missing, d.ghosts)))
    step.worst_missing = max(step.worst_missing, sum(len(d.missing) for d in lasting))
    step.worst_ghosts = max(step.worst_ghosts, sum(len(d.ghosts) for d in lasting))
    step.peak_asterisk_calls = max(step.peak_asterisk_calls, len(before.calls),
                                   len(after.calls))
    step.peak_asterisk_channels = max(step.peak_asterisk_channels, before.channels,
                                      after.channels)
    step.peak_mirror_calls = max(step.peak_mirror_calls, len(mirror.calls))
    step.peak_waiting = max(step.peak_waiting, len(before.waiting), len(after.waiting))


# --- SIPp statistics ---------------------------------------------------------------------

def sipp_counts(process: SippProcess) -> dict[str, int]:
    """Cumulative counters from SIPp's last statistics line."""
    path = process.workdir / "stats.csv"
    if not path.exists():
        return {}
    rows = list(csv.DictReader(path.read_text(errors="replace").splitlines(), delimiter=";"))
    if not rows:
        return {}
    last = rows[-1]
    keys = {"created": "TotalCallCreated", "ok": "SuccessfulCall(C)",
            "failed": "FailedCall(C)"}
    return {k: int(last.get(v) or 0) for k, v in keys.items()}


# --- one step ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Plan:
    seats: int
    rates: tuple[float, ...]
    duration: float
    talk: float
    patience: float
    sample_every: float
    run_all: bool


async def run_step(index: int, rate: float, plan: Plan, *, asterisk: AsteriskInstance,
                   db: AsyncEngine, service_pid: int, agents: SippProcess,
                   conn: AmiConnection, client: httpx.AsyncClient,
                   workdir: Path) -> tuple[StepResult, int]:
    sampler = Sampler(conn, client)
    step = StepResult(rate=rate)
    per_group = max(1, round(rate / len(GROUPS) * plan.duration))
    expected = per_group * len(GROUPS)
    prefix = f"86{index:02d}"
    agents_before = sipp_counts(agents).get("ok", 0)
    cpu_service, cpu_asterisk = cpu_seconds(service_pid), cpu_seconds(asterisk.pid or 0)
    started = time.monotonic()
    uacs = [
        traffic.customers(asterisk.params.sip_port, workdir / f"step{index:02d}-{exten}",
                          exten=exten, number_prefix=prefix + exten[0],
                          rate=rate / len(GROUPS), calls=per_group,
                          patience_seconds=plan.patience)
        for _, exten in GROUPS
    ]
    limit = plan.duration + plan.patience + 90
    while any(u.running for u in uacs):
        if time.monotonic() - started > limit:
            step.notes.append(f"customers' SIPp still running after {limit:.0f}s")
            break
        tick = time.monotonic()
        await sampler.sample(step)
        await asyncio.sleep(max(0.0, plan.sample_every - (time.monotonic() - tick)))
    results = [u.stop() for u in uacs]
    for u in uacs:
        counts = sipp_counts(u)
        step.placed += counts.get("created", 0)
    step.sipp_ok = sum(r.successful for r in results)
    step.sipp_failed = sum(r.failed for r in results)

    # Asterisk drained: every call of the step is over on its side.
    deadline = time.monotonic() + 30
    while (await asterisk_view(conn)).channels:
        if time.monotonic() > deadline:
            step.drained = False
            break
        await asyncio.sleep(0.2)
    drained_at = time.monotonic()
    # ... and so has the mirror (bounded: it may be a moment behind).
    deadline = time.monotonic() + 10
    while (await mirror_view(client)).calls:
        if time.monotonic() > deadline:
            step.mirror_emptied = False
            break
        await asyncio.sleep(0.2)
    step.asterisk_cpu = cpu_seconds(asterisk.pid or 0) - cpu_asterisk
    step.seconds = drained_at - started

    # Every call of the step ended in PostgreSQL history (bounded wait).
    query = text("SELECT count(*) FILTER (WHERE ended_at IS NOT NULL), "
                 "count(*) FILTER (WHERE ended_at IS NOT NULL AND answered_at IS NOT NULL "
                 "AND seat_id IS NOT NULL) FROM calls WHERE customer_number LIKE :prefix")
    deadline = time.monotonic() + 30
    while True:
        async with db.connect() as c:
            row = (await c.execute(query, {"prefix": f"{prefix}%"})).one()
        ended, answered = int(row[0]), int(row[1])
        if ended >= step.placed or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    step.in_history, step.answered_in_history = ended, answered
    if ended >= step.placed:
        step.history_lag_seconds = time.monotonic() - drained_at
    step.service_cpu = cpu_seconds(service_pid) - cpu_service
    step.agents_answered = sipp_counts(agents).get("ok", 0) - agents_before

    # Every seat back to available once its wrap-up is over: a seat the mirror still shows
    # busy after Asterisk drained is a divergence too (and would never be offered a call).
    step.stuck_seats = await seats_not_idle(client, within=WRAPUP_SECONDS + 10)

    # Recordings of the step (the shipped cti-record; catalogued files wherever the
    # catalogue keeps them, not those still being written): counted, then removed.
    for path in asterisk.recordings_dir.rglob("*.wav"):
        if "recording" in path.relative_to(asterisk.recordings_dir).parts[:-1]:
            continue
        if path.stat().st_size > 44:  # more than a WAV header: sound was recorded
            step.recordings += 1
        path.unlink()
    return step, expected


async def steps(plan: Plan, asterisk: AsteriskInstance, db_url: str, service: CtiService,
                service_pid: int, agents: SippProcess, workdir: Path) -> list[dict[str, Any]]:
    p = asterisk.params
    node = AmiNode(name="observer", port=p.ami_port, username=p.ami_username,
                   secret=SecretStr(p.ami_secret))

    async def events_off(c: AmiConnection) -> None:
        # The observer only asks; it must not double Asterisk's event traffic.
        await c.send({"Action": "Events", "EventMask": "off"})

    conn = AmiConnection(node, AmiSettings(nodes=[node], ping_interval=3600,
                                           action_timeout=15),
                         lambda _b: None, events_off, lambda _c, _r: None)
    conn.start()
    client = httpx.AsyncClient(base_url=service.base_url, timeout=30,
                               headers={"Authorization": f"Bearer {service.token}"})
    db = create_async_engine(db_url, pool_size=1)
    out: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 30
        while not conn.ready:
            if time.monotonic() > deadline:
                raise TimeoutError("observer AMI connection not ready")
            await asyncio.sleep(0.1)
        for index, rate in enumerate(plan.rates, start=1):
            step, expected = await run_step(
                index, rate, plan, asterisk=asterisk, db=db,
                service_pid=service_pid, agents=agents, conn=conn, client=client,
                workdir=workdir)
            broken = problems(step, expected)
            row = {**asdict(step), "expected": expected, "problems": broken,
                   "service_cpu_per_call_ms": step.service_cpu_per_call_ms,
                   "asterisk_cpu_per_call_ms": step.asterisk_cpu_per_call_ms,
                   "cpu_ratio": step.cpu_ratio}
            out.append(row)
            print(line(row), flush=True)
            if broken and not plan.run_all:
                break
    finally:
        await client.aclose()
        await conn.stop()
        await db.dispose()
    return out


async def seats_not_idle(client: httpx.AsyncClient, within: float) -> list[str]:
    """Seats (as ``id:state``) the mirror does not show available after ``within`` s."""
    deadline = time.monotonic() + within
    while True:
        seats = (await client.get("/v1/seats")).json()
        stuck = [f"{s['id']}:{s['state']}" for s in seats if s["state"] != "available"]
        if not stuck or time.monotonic() > deadline:
            return stuck
        await asyncio.sleep(0.5)


# --- set-up ------------------------------------------------------------------------------

def log_in_seats(service: CtiService, count: int, *, patience: float) -> None:
    ids = [str(FIRST_SEAT + i) for i in range(count)]
    until(lambda: len(service.get("/v1/seats")) >= count, 60, f"{count} seats registered")
    for group, _ in GROUPS:
        r = service.http.patch(f"/v1/skill-groups/{group}", json={
            "strategy": "leastrecent", "ring_seconds": 15, "retry_seconds": 1,
            "wrapup_seconds": WRAPUP_SECONDS, "max_wait_seconds": round(patience * 2),
            "no_answer_pause_after": 0})
        r.raise_for_status()
    for i, seat in enumerate(ids):
        group = GROUPS[i % len(GROUPS)][0]
        service.http.put(f"/v1/skill-groups/{group}/members/{seat}",
                         json={"level": 0}).raise_for_status()
        service.http.post(f"/v1/seats/{seat}/login",
                          json={"groups": [group]}).raise_for_status()

    def all_available() -> bool:
        return sum(1 for s in service.get("/v1/seats") if s["state"] == "available") >= count

    until(all_available, 60, "every seat logged in and available")


def line(row: dict[str, Any]) -> str:
    lag = row["history_lag_seconds"]
    return (f"{row['rate']:g} calls/s: placed {row['placed']}/{row['expected']}, "
            f"SIPp failed {row['sipp_failed']}, peak calls Asterisk {row['peak_asterisk_calls']}"
            f" / mirror {row['peak_mirror_calls']} (channels {row['peak_asterisk_channels']}, "
            f"waiting {row['peak_waiting']}), mirror matched {row['samples_matched']}/"
            f"{row['samples']} (lasting divergences {row['confirmed_divergences']}), "
            f"history {row['in_history']} (answered "
            f"{row['answered_in_history']}, lag {'-' if lag is None else f'{lag:.1f}s'}), "
            f"recordings {row['recordings']}, CPU/call service "
            f"{row['service_cpu_per_call_ms']:.1f} ms, Asterisk "
            f"{row['asterisk_cpu_per_call_ms']:.1f} ms (x{row['cpu_ratio']:.2f})"
            + (f"; PROBLEMS: {'; '.join(row['problems'])}" if row["problems"] else ""))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--seats", type=int, default=200)
    p.add_argument("--steps", default="2,4,8,12,16", help="calls per second, comma-separated")
    p.add_argument("--duration", type=float, default=30, help="seconds of calling per step")
    p.add_argument("--talk", type=float, default=15, help="seconds a seat talks")
    p.add_argument("--patience", type=float, default=60,
                   help="seconds after which a caller hangs up (queue wait + talk)")
    p.add_argument("--sample-every", type=float, default=2.0)
    p.add_argument("--all", action="store_true", help="run every step, even after a failure")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 seats, one 2/s step")
    p.add_argument("--json", type=Path)
    p.add_argument("--no-cel", action="store_true",
                   help="Asterisk without its channel event log (the product writes it into "
                        "PostgreSQL): to measure what the log costs")
    args = p.parse_args(argv)
    if args.quick:
        args.seats, args.steps, args.duration, args.talk = 20, "2", 8, 5
    plan = Plan(seats=args.seats, rates=tuple(float(s) for s in args.steps.split(",")),
                duration=args.duration, talk=args.talk, patience=args.patience,
                sample_every=args.sample_every, run_all=args.all)
    here = Path(__file__).parent
    target = args.json or here / ("last_quick.json" if args.quick else "last_run.json")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    for noisy in ("tests.support.sipp", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="bench-inbound-load-"))

    cluster = PostgresCluster(tempfile.mkdtemp(prefix="bench-pg-"), durable=False)
    cluster.init()
    cluster.start()
    uas_port = free_port(udp=True)
    seats = [Seat(str(FIRST_SEAT + i), contact_port=uas_port) for i in range(plan.seats)]
    try:
        # RTP: two channels a call, an RTP and an RTCP port each; room for ~600 calls.
        asterisk = AsteriskInstance.make(provision(), seats=seats,
                                         wrapup_seconds=WRAPUP_SECONDS,
                                         max_wait=round(plan.patience * 2), rtp_ports=2400,
                                         cel_database=None if args.no_cel
                                         else cluster.cel_database())
    except BaseException:
        cluster.destroy()
        raise
    service: CtiService | None = None
    agents: SippProcess | None = None
    try:
        upgrade(cluster.url)
        asterisk.start()
        service = CtiService(asterisk, cluster.url, workdir / "service", WRAPUP_SECONDS)
        service.env["CTI_HISTORY__FLUSH_INTERVAL"] = "0.5"  # the shipped default
        service.start()
        service.wait_ready()
        agents = traffic.agents(uas_port, workdir / "agents", talk_seconds=plan.talk)
        log_in_seats(service, plan.seats, patience=plan.patience)
        proc = service._proc  # the service's own process: its CPU is what is measured
        assert proc is not None
        rows = asyncio.run(steps(plan, asterisk, cluster.url, service, proc.pid, agents,
                                 workdir))
        # what Asterisk wrote to its channel event log over the run (0 without it)
        cel_rows = int(cluster.psql("SELECT count(*) FROM cel", database="cti").strip())
    finally:
        if agents is not None:
            agents.stop()
        if service is not None:
            service.stop()
        asterisk.stop()
        cluster.destroy()
    result = {"plan": asdict(plan), "cel": not args.no_cel, "cel_rows": cel_rows, "steps": rows,
              "held": [r["rate"] for r in rows if not r["problems"]]}
    target.write_text(json.dumps(result, indent=2))
    shutil.rmtree(asterisk.host_path(), ignore_errors=True)
    print(f"raw figures: {target}; logs: {workdir}")


if __name__ == "__main__":
    main()
