"""Throughput of the history writer against a real PostgreSQL started for the run.

Usage: .venv/bin/python bench/bench_history_writer.py [--events 200000] [--durable]

Submits a stream of domain events as fast as the loop allows, then waits until all are
written; reports records (events) per second and table rows per second. Workloads:
``timeline`` (only CallTimelineEntry -> call_events inserts) and ``mixed`` (per call:
3 CallUpdated + CallEnded upserts, 4 timeline entries, 1 seat state change).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time

from sqlalchemy import text

from cti.config import DatabaseSettings, HistorySettings
from cti.db.engine import make_engine
from cti.db.migrate import upgrade
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    SeatStateChanged,
)
from cti.domain.model import Call, CallDirection, CallState, Seat, SeatState
from cti.history import HistoryWriter
from cti.stack.postgres import PostgresCluster

T0 = 1_764_000_000.0


def timeline(n: int) -> list[DomainEvent]:
    return [CallTimelineEntry(call_id=f"node1:{n}", kind="queued", at=T0 + n, detail={"seq": n})]


def mixed(n: int) -> list[DomainEvent]:
    def call(state: CallState) -> Call:
        return Call(
            id=f"node1:{n}",
            node="node1",
            linkedid=str(n),
            direction=CallDirection.INBOUND,
            state=state,
            customer_number="+4930123456",
            started_at=T0 + n,
            seat_id="1001",
        )

    seat = Seat(
        id=f"{1000 + n % 200}",
        node="node1",
        interface=f"PJSIP/{1000 + n % 200}",
        state=SeatState.ON_CALL,
    )
    events: list[DomainEvent] = []
    for i, state in enumerate((CallState.QUEUED, CallState.RINGING, CallState.ON_CALL)):
        events.append(CallUpdated(call=call(state), at=T0 + n + i))
        events.append(CallTimelineEntry(call_id=f"node1:{n}", kind=state.value, at=T0 + n + i))
    events.append(
        SeatStateChanged(seat=seat, previous=SeatState.RINGING, transition="answer", at=T0 + n + 2)
    )
    events.append(CallEnded(call=call(CallState.ENDED), at=T0 + n + 60))
    events.append(CallTimelineEntry(call_id=f"node1:{n}", kind="hangup", at=T0 + n + 60))
    return events


async def run(url: str, workload: str, events: int, batch_size: int) -> None:
    engine = make_engine(DatabaseSettings(url=url))
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE calls, call_events, seat_state_log, seats CASCADE"))
    make = timeline if workload == "timeline" else mixed
    stream: list[DomainEvent] = []
    n = 0
    while len(stream) < events:
        stream.extend(make(n))
        n += 1
    spill = tempfile.mkdtemp(prefix="cti-bench-spill-")
    writer = HistoryWriter(engine, HistorySettings(batch_size=batch_size, spill_dir=spill))
    await writer.start()
    t = time.perf_counter()
    for i, event in enumerate(stream):
        writer.submit(event)
        if i % 5000 == 4999:
            await asyncio.sleep(0)  # let the writer run, as a live loop would
    submit_s = time.perf_counter() - t
    await writer.wait_idle()
    total_s = time.perf_counter() - t
    await writer.stop()
    async with engine.connect() as conn:
        rows = {
            table: await conn.scalar(text(f"SELECT count(*) FROM {table}"))
            for table in ("calls", "call_events", "seat_state_log")
        }
    await engine.dispose()
    print(
        f"{workload:8s} batch={batch_size:5d} events={len(stream):7d} "
        f"submit={len(stream) / submit_s:9.0f}/s  written={len(stream) / total_s:7.0f} events/s  "
        f"rows={rows}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--durable", action="store_true", help="fsync on (default: off)")
    args = parser.parse_args()
    cluster = PostgresCluster(tempfile.mkdtemp(prefix="cti-bench-pg-"), durable=args.durable)
    cluster.start()
    try:
        upgrade(cluster.url)
        for workload in ("timeline", "mixed"):
            for batch_size in (500, 2000):
                asyncio.run(run(cluster.url, workload, args.events, batch_size))
    finally:
        cluster.destroy()


if __name__ == "__main__":
    main()
