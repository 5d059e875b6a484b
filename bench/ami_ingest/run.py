"""Events per second through the whole pipeline against bare panoramisk, same stream, same run.

    .venv/bin/python -m bench.ami_ingest [--calls N] [--concurrency K] [--rounds R]
                                         [--mode filtered|raw] [--no-db] [--no-metrics]

Bare panoramisk: a ``Manager`` with one ``register_event('*')`` callback that counts.
Pipeline: the service's ``LiveCore`` (AMI adapter, tracker, bus) with the history writer
subscribed and, unless ``--no-db``, writing its batches to a real PostgreSQL started for
the run; and, unless ``--no-metrics``, the ``GET /metrics`` counters subscribed to the bus
as ``cti/runtime.py`` does. Rounds alternate between the two so machine noise hits both;
the figure is the median of the per-round ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from panoramisk import Manager

from bench.ami_ingest import server
from bench.ami_ingest.stream import count_events, stream
from cti.bus import Bus
from cti.config import AmiNode, AmiSettings, HistorySettings
from cti.domain.events import DomainEvent
from cti.live import LiveCore
from cti.metrics import Metrics


async def bare_panoramisk(port: int, expected: int) -> float:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()
    seen = 0

    def count(manager: Any, event: Any) -> None:
        nonlocal seen
        seen += 1
        if seen == expected and not done.done():
            done.set_result(None)

    manager = Manager(host="127.0.0.1", port=port, username="bench", secret="bench",
                      ping_delay=3600, loop=loop)
    manager.register_event("*", count)
    await manager.connect()
    while not manager.authenticated:
        await asyncio.sleep(0.01)
    t0 = time.perf_counter()
    await manager.send_action({"Action": "UserEvent", "UserEvent": "go"})
    await done
    elapsed = time.perf_counter() - t0
    manager.close()
    return elapsed


async def pipeline(port: int, expected: int, db_url: str | None,
                   metrics: bool = True) -> tuple[float, float]:
    """Seconds until the tracker applied every event, and until history was written too."""
    settings = AmiSettings(nodes=[AmiNode(name="bench", port=port, username="bench",
                                          secret="bench")], ping_interval=3600)
    bus = Bus()
    if metrics:
        bus.subscribe("metrics", Metrics().events.on_events)
    writer = None
    engine = None
    if db_url is not None:
        from sqlalchemy.ext.asyncio import create_async_engine

        from cti.history.writer import HistoryWriter

        engine = create_async_engine(db_url)
        spill = tempfile.mkdtemp(prefix="bench-spill-")
        writer = HistoryWriter(engine, HistorySettings(spill_dir=spill))
        submit = writer.submit

        def to_history(events: Sequence[DomainEvent]) -> None:
            for e in events:
                submit(e)

        bus.subscribe("history", to_history)
        await writer.start()
    core = LiveCore(settings, bus)
    await core.start()
    conn = core.connection("bench")
    while not conn.ready:
        await asyncio.sleep(0.01)
    base = core.events_applied
    t0 = time.perf_counter()
    await conn.send({"Action": "UserEvent", "UserEvent": "go"})
    while core.events_applied - base < expected:
        await asyncio.sleep(0.002)
    tracked = time.perf_counter() - t0
    if writer is not None:
        await writer.wait_idle()
    written = time.perf_counter() - t0
    await core.stop()
    if writer is not None:
        await writer.stop()
    if engine is not None:
        await engine.dispose()
    return tracked, written


def _truncate(db_url: str) -> None:
    async def go() -> None:
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine

        engine = create_async_engine(db_url)
        async with engine.begin() as c:
            await c.execute(text("TRUNCATE calls, call_events, seat_state_log"))
        await engine.dispose()

    asyncio.run(go())


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=8000)
    p.add_argument("--concurrency", type=int, default=200)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--mode", choices=["filtered", "raw"], default="filtered")
    p.add_argument("--no-db", action="store_true")
    p.add_argument("--no-metrics", action="store_true")
    p.add_argument("--compare-metrics", action="store_true",
                   help="each round also runs the pipeline without the /metrics counters")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)

    data = stream(args.calls, args.concurrency, raw=args.mode == "raw")
    expected = count_events(data)
    proc, port = server.start(data)
    cluster = None
    db_url = None
    if not args.no_db:
        from cti.db.migrate import upgrade
        from cti.stack.postgres import PostgresCluster

        cluster = PostgresCluster(tempfile.mkdtemp(prefix="bench-pg-"), durable=False)
        cluster.init()
        cluster.start()
        db_url = cluster.url
        upgrade(db_url)
    rows = []
    try:
        for r in range(args.rounds):
            gc.collect()
            bare = asyncio.run(bare_panoramisk(port, expected))
            if db_url:
                _truncate(db_url)
            gc.collect()
            tracked, written = asyncio.run(pipeline(port, expected, db_url,
                                                       not args.no_metrics))
            extra = {}
            if args.compare_metrics:
                if db_url:
                    _truncate(db_url)
                gc.collect()
                plain, _ = asyncio.run(pipeline(port, expected, db_url, False))
                extra = {"without_metrics_eps": expected / plain}
            row = {
                "round": r + 1,
                "bare_eps": expected / bare,
                "pipeline_eps": expected / tracked,
                "pipeline_with_history_eps": expected / written,
                **extra,
            }
            rows.append(row)
            ratio = row["pipeline_eps"] / row["bare_eps"]
            print(f"round {r + 1}: bare panoramisk {row['bare_eps']:,.0f} ev/s; pipeline "
                  f"{row['pipeline_eps']:,.0f} ev/s (x{ratio:.2f}); "
                  f"history written at {row['pipeline_with_history_eps']:,.0f} ev/s "
                  f"(x{row['pipeline_with_history_eps'] / row['bare_eps']:.2f})", flush=True)
    finally:
        proc.terminate()
        if cluster is not None:
            cluster.stop()
    summary = {
        "events": expected,
        "calls": args.calls,
        "concurrency": args.concurrency,
        "mode": args.mode,
        "history_db": not args.no_db,
        "metrics": not args.no_metrics,
        "ratio_tracked": statistics.median(r["pipeline_eps"] / r["bare_eps"] for r in rows),
        "ratio_history": statistics.median(
            r["pipeline_with_history_eps"] / r["bare_eps"] for r in rows),
        "bare_eps_median": statistics.median(r["bare_eps"] for r in rows),
        **({"ratio_metrics_vs_without": statistics.median(
            r["pipeline_eps"] / r["without_metrics_eps"] for r in rows)}
           if args.compare_metrics else {}),
        "rounds": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rounds"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
