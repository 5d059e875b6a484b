"""Event-stream fan-out: AMI event -> WebSocket client latency at 1, 100 and 1,000
subscribers, as a ratio to AMI event -> bus publish in the same round.

    .venv/bin/python -m bench.event_stream [--subscribers 1,100,1000] [--rounds R]
                                           [--rate EV_PER_S] [--calls N] [--probes P]
                                           [--transports loop,worker]

A paced AMI source (its own process) writes the bench's queue-call stream at ``--rate``
events/s, stamping each event with the time it writes it. The service's own parts run
here as ``cti/runtime.py`` wires them: the AMI adapter and consumer task, the tracker, the
bus, the ``EventHub`` and the FastAPI app with ``WS /v1/events`` under uvicorn. The
subscribers are supervisors (every delta goes to every subscriber: the worst case) in a
third process. They connect to the API's own ``/v1/events`` (transport ``loop``: sends on
the consumer's event loop) or to a ``StreamWorker``'s (transport ``worker``: sends on
the worker's thread and loop); each round runs every transport. Per round it records:

- **bus**: on a bus subscriber placed before the hub, ``publish time - event Timestamp``
  for the domain events that become seat/call/timeline/skill-group deltas (baseline);
- **client**: on ``--probes`` of the subscribers, ``receipt time - delta.at`` (the same
  Timestamp) for those deltas;
- the time the hub spent in ``publish`` (numbering, rendering, fan-out) per delta;
- **loop lag**: how late a 5 ms timer on the consumer's loop fires (p50/p99, max), the
  delay any task on that loop (the AMI consumer, the tracker) sees before it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import uvicorn
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.ami_ingest.stream import stream
from bench.event_stream import paced
from cti.api.app import create_app
from cti.api.auth import Authenticator, Caller, Role
from cti.bus import Bus
from cti.config import AmiNode, AmiSettings, Settings
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    SeatStateChanged,
    SkillGroupChanged,
)
from cti.live import LiveCore
from cti.stack.ports import free_port
from cti.stream.hub import EventHub
from cti.stream.worker import StreamWorker

MEASURED = (SeatStateChanged, CallUpdated, CallEnded, CallTimelineEntry, SkillGroupChanged)
BENCH_CALLER = Caller(user_id=0, username="bench", role=Role.SUPERVISOR, seat_id=None)


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _lookup(token: str) -> Caller | None:
    if token == "bench":
        return BENCH_CALLER
    if token.startswith("agent-"):
        seat = token.removeprefix("agent-")
        return Caller(user_id=seat, username=token, role=Role.AGENT, seat_id=seat)
    return None


LAG_TICK = 0.005


async def _loop_lag(out: list[float]) -> None:
    """How late a ``LAG_TICK`` sleep wakes up, in ms, until cancelled."""
    loop = asyncio.get_running_loop()
    while True:
        t0 = loop.time()
        await asyncio.sleep(LAG_TICK)
        out.append((loop.time() - t0 - LAG_TICK) * 1000.0)


async def one_round(
    ami_port: int, expected: int, subscribers: int, probes: int, viewers: str, coalesce: bool,
    transport: str = "loop",
) -> dict[str, Any]:
    settings = AmiSettings(nodes=[AmiNode(name="bench", port=ami_port, username="bench",
                                          secret=SecretStr("bench"))],
                           ping_interval=3600)
    bus = Bus()
    bus_ms: list[float] = []

    def probe(events: Sequence[DomainEvent]) -> None:
        now = time.time()
        for e in events:
            if isinstance(e, MEASURED):
                bus_ms.append((now - e.at) * 1000.0)

    bus.subscribe("probe", probe)
    core = LiveCore(settings, bus)
    hub = EventHub(core)
    publish_s = 0.0

    def timed_publish(events: Sequence[DomainEvent]) -> None:
        nonlocal publish_s
        t0 = time.perf_counter()
        hub.publish(events)
        publish_s += time.perf_counter() - t0

    bus.subscribe("events", timed_publish)
    # Nothing here touches the database: tokens are checked against one bench caller.
    engine = create_async_engine("postgresql+asyncpg://bench@127.0.0.1:1/bench")
    settings_ = Settings(environment="test")
    app = create_app(settings_, live=core,
                     sessionmaker=async_sessionmaker(engine), health=[], hub=hub)
    app.state.authenticator = Authenticator(_lookup)
    worker = None
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           ws="websockets-sansio"))
    serving = asyncio.create_task(server.serve())
    await core.start()
    clients = None
    lag_ms: list[float] = []
    lag_task: asyncio.Task[None] | None = None
    try:
        conn = core.connection("bench")
        while not conn.ready or not server.started:
            await asyncio.sleep(0.01)
        ws_port = port
        if transport == "worker":
            worker = StreamWorker(hub, settings_, port=free_port(), host="127.0.0.1")
            await worker.start(app.state.authenticator)
            ws_port = worker.port
        if subscribers:
            clients = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.event_stream.clients",
                f"ws://127.0.0.1:{ws_port}/v1/events?coalesce={str(coalesce).lower()}",
                str(subscribers), str(probes), viewers,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 26)
            assert clients.stdout is not None
            line = await clients.stdout.readline()
            assert line.strip() == b"ready", line
        bus_ms.clear()
        deltas_before = hub.deltas
        publish_s = 0.0
        base = core.events_applied
        lag_task = asyncio.create_task(_loop_lag(lag_ms))
        await conn.send({"Action": "UserEvent", "UserEvent": "go"})
        while core.events_applied - base < expected:
            await asyncio.sleep(0.05)
        lag_task.cancel()
        # Let the last deltas reach the clients: queues empty, then the last sends.
        deadline = time.monotonic() + 120
        while hub.backlog and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)
        deltas = hub.deltas - deltas_before
        result: dict[str, Any] = {"messages": 0, "resyncs": 0, "latencies": []}
        if clients is not None:
            assert clients.stdin is not None and clients.stdout is not None
            clients.stdin.write(b"stop\n")
            await clients.stdin.drain()
            result = json.loads(await clients.stdout.readline())
            await asyncio.wait_for(clients.wait(), 30)
    finally:
        if lag_task is not None:
            lag_task.cancel()
        if clients is not None and clients.returncode is None:
            clients.kill()
            await clients.wait()
        if worker is not None:
            await worker.stop()
        server.should_exit = True
        await serving
        await core.stop()
        await engine.dispose()
    client_ms: list[float] = result["latencies"]
    return {
        "subscribers": subscribers,
        "transport": transport,
        "loop_lag_p50_ms": percentile(lag_ms, 0.5),
        "loop_lag_p99_ms": percentile(lag_ms, 0.99),
        "loop_lag_max_ms": max(lag_ms, default=float("nan")),
        "deltas": deltas,
        "bus_p50_ms": percentile(bus_ms, 0.5),
        "bus_p99_ms": percentile(bus_ms, 0.99),
        "client_p50_ms": percentile(client_ms, 0.5),
        "client_p99_ms": percentile(client_ms, 0.99),
        "client_samples": len(client_ms),
        "messages_received": result["messages"],
        "messages_expected": deltas * subscribers if viewers == "supervisors" else None,
        "resyncs": result["resyncs"],
        "publish_us_per_delta": publish_s / deltas * 1e6 if deltas else float("nan"),
    }


def summarise(rows: list[dict[str, Any]], counts: list[int], transport: str) -> dict[str, Any]:
    """Medians over rounds of each round's figures and ratios. ``idle`` ratios divide by
    the bus latency of the same round with no subscriber (the pipeline's own latency);
    ``bus`` ratios divide by the bus latency measured in that very round."""
    idle = {row["round"]: row for row in rows if row["subscribers"] == 0}
    out: dict[str, Any] = {}
    for n in counts:
        mine = [row for row in rows if row["subscribers"] == n
                and (n == 0 or row["transport"] == transport)]
        entry: dict[str, Any] = {
            key: statistics.median(x[key] for x in mine)
            for key in ("bus_p50_ms", "bus_p99_ms", "publish_us_per_delta",
                        "loop_lag_p50_ms", "loop_lag_p99_ms", "loop_lag_max_ms")
        }
        if n:
            entry["client_p50_ms"] = statistics.median(x["client_p50_ms"] for x in mine)
            entry["client_p99_ms"] = statistics.median(x["client_p99_ms"] for x in mine)
            for q in ("p50", "p99"):
                entry[f"ratio_{q}_to_bus"] = statistics.median(
                    x[f"client_{q}_ms"] / x[f"bus_{q}_ms"] for x in mine)
                if idle:
                    entry[f"ratio_{q}_to_idle"] = statistics.median(
                        x[f"client_{q}_ms"] / idle[x["round"]][f"bus_{q}_ms"] for x in mine
                        if x["round"] in idle)
            entry["resyncs"] = sum(x["resyncs"] for x in mine)
            entry["delivered"] = sum(x["messages_received"] for x in mine)
        out[str(n)] = entry
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subscribers", default="0,1,100,1000")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rate", type=float, default=100.0, help="AMI events per second")
    p.add_argument("--calls", type=int, default=60)
    p.add_argument("--probes", type=int, default=5)
    p.add_argument("--viewers", choices=["supervisors", "agents"], default="supervisors")
    p.add_argument("--coalesce", action="store_true",
                   help="subscribers ask for ?coalesce=true (several deltas per message)")
    p.add_argument("--transports", default="loop,worker",
                   help="loop: the API's /v1/events; worker: a StreamWorker's (own thread)")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    counts = [int(n) for n in args.subscribers.split(",")]
    transports = args.transports.split(",")

    events = paced.split_events(stream(args.calls, 10, raw=False))
    proc, port = paced.start(events, args.rate)
    rows: list[dict[str, Any]] = []
    try:
        for r in range(args.rounds):
            for n, transport in [(c, t) for c in counts for t in (transports if c else ["-"])]:
                gc.collect()
                row = asyncio.run(one_round(port, len(events), n, min(args.probes, n),
                                           args.viewers, args.coalesce, transport))
                row["round"] = r + 1
                rows.append(row)
                print(
                    f"round {r + 1}, {transport:>6} {n:>4} subscribers: "
                    f"loop lag p50 {row['loop_lag_p50_ms']:.2f} ms p99 "
                    f"{row['loop_lag_p99_ms']:.2f} ms; bus p50 {row['bus_p50_ms']:.2f} ms "
                    f"p99 {row['bus_p99_ms']:.2f} ms; client p50 {row['client_p50_ms']:.2f} ms"
                    f" p99 {row['client_p99_ms']:.2f} ms; hub publish "
                    f"{row['publish_us_per_delta']:.0f} us/delta; "
                    f"{row['messages_received']}/{row['messages_expected'] or '-'} messages, "
                    f"{row['resyncs']} resyncs", flush=True)
    finally:
        proc.terminate()
    summary: dict[str, Any] = {"events": len(events), "rate": args.rate,
                               "viewers": args.viewers, "coalesce": args.coalesce,
                               "rounds": rows,
                               "by_transport": {t: summarise(rows, counts, t)
                                                for t in transports}}
    print(json.dumps(summary["by_transport"], indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
