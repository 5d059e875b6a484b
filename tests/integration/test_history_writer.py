"""The history writer against a real PostgreSQL, including a real outage (cluster stopped)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from cti.api.schemas import TimelineEntryOut
from cti.api.timeline import merge_timeline
from cti.config import HistorySettings
from cti.db.engine import make_sessionmaker
from cti.db.models import CallEventRow, CallRow, Seat, SeatStateLogRow
from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    MirrorRebuilt,
    NodeConnectionChanged,
    SeatStateChanged,
)
from cti.domain.model import Call, CallDirection, CallState, SeatState
from cti.domain.model import Seat as DomainSeat
from cti.history import HistoryWriter
from cti.history.spill import SpillStore
from cti.stack.postgres import PostgresCluster

pytestmark = pytest.mark.integration

T0 = 1_764_000_000.0

Factory = Callable[[HistorySettings], HistoryWriter]


def call(n: int, state: CallState, *, seat: str | None = None) -> Call:
    return Call(
        id=f"node1:{T0 + n:.0f}.{n}",
        node="node1",
        linkedid=f"{T0 + n:.0f}.{n}",
        direction=CallDirection.INBOUND,
        state=state,
        customer_number=f"+49301234{n % 100:02d}",
        started_at=T0 + n,
        skill_group="support",
        seat_id=seat,
        queued_at=T0 + n + 1,
        answered_at=T0 + n + 5 if state in (CallState.ON_CALL, CallState.ENDED) else None,
        ended_at=T0 + n + 60 if state is CallState.ENDED else None,
        talk_seconds=55 if state is CallState.ENDED else None,
    )


class Stream:
    """Numbered events: every timeline entry carries its sequence number in ``detail``."""

    def __init__(self) -> None:
        self.seq = itertools.count()
        self.timeline = 0
        self.seat_changes = 0

    def lifecycle(self, n: int) -> list[DomainEvent]:
        """One call through queued -> ringing -> on_call -> ended, with its timeline."""
        seat = f"{1000 + n % 20}"
        events: list[DomainEvent] = []
        for i, state in enumerate((CallState.QUEUED, CallState.RINGING, CallState.ON_CALL)):
            at = T0 + n + i
            events.append(CallUpdated(call=call(n, state, seat=seat), at=at))
            events.append(self.entry(call(n, state).id, state.value, at))
        events.append(
            SeatStateChanged(
                seat=DomainSeat(
                    id=seat, node="node1", interface=f"PJSIP/{seat}", state=SeatState.ON_CALL
                ),
                previous=SeatState.RINGING,
                transition="answer",
                at=T0 + n + 2,
            )
        )
        self.seat_changes += 1
        events.append(CallEnded(call=call(n, CallState.ENDED, seat=seat), at=T0 + n + 60))
        events.append(self.entry(call(n, CallState.ENDED).id, "hangup", T0 + n + 60))
        return events

    def entry(self, call_id: str, kind: str, at: float) -> CallTimelineEntry:
        self.timeline += 1
        return CallTimelineEntry(
            call_id=call_id, kind=kind, at=at, skill_group="support", detail={"seq": next(self.seq)}
        )


def settings(tmp_path: Path, **overrides: object) -> HistorySettings:
    values: dict[str, object] = {
        "batch_size": 50,
        "flush_interval": 0.05,
        "buffer_limit": 10_000,
        "spill_dir": str(tmp_path / "spill"),
        "retry_initial": 0.05,
        "retry_max": 0.3,
    }
    values.update(overrides)
    return HistorySettings.model_validate(values)


@pytest.fixture
async def writer_factory(
    db_engine: AsyncEngine,
) -> AsyncIterator[Factory]:
    writers: list[HistoryWriter] = []

    def make(s: HistorySettings) -> HistoryWriter:
        w = HistoryWriter(db_engine, s, probe_interval=0.2)
        writers.append(w)
        return w

    yield make
    for w in writers:
        await w.stop(grace=2.0)


async def until(predicate: Callable[[], bool], what: str, within: float = 10.0) -> None:
    """Bounded polling (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def spill_files(directory: Path, kind: str) -> list[Path]:
    return sorted(directory.glob(f"{kind}-*.jsonl"))


async def count(engine: AsyncEngine, model: type[object]) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model)) or 0)


async def timeline_seqs(engine: AsyncEngine) -> list[int]:
    async with engine.connect() as conn:
        rows = await conn.execute(text("SELECT (detail->>'seq')::int FROM call_events ORDER BY id"))
        return [r[0] for r in rows]


async def test_batches_land(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    writer = writer_factory(settings(tmp_path))
    await writer.start()
    stream = Stream()
    for n in range(40):
        for event in stream.lifecycle(n):
            writer.submit(event)
    writer.submit(MirrorRebuilt(node="node1", at=T0))  # not history
    writer.submit(NodeConnectionChanged(node="node1", connected=True, at=T0))
    async with asyncio.timeout(15):
        await writer.wait_idle()

    assert await count(db_engine, CallRow) == 40
    assert await count(db_engine, CallEventRow) == stream.timeline
    assert await count(db_engine, SeatStateLogRow) == stream.seat_changes
    assert await count(db_engine, Seat) == 20
    assert await timeline_seqs(db_engine) == list(range(stream.timeline))
    health = writer.health()
    assert health.ok
    assert health.detail["pending"] == 0
    assert health.detail["written"] == 40 * 9


async def test_a_lone_event_after_a_quiet_spell_lands_within_the_flush_interval(
    db_engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    # Idle, the writer sleeps until its next probe of the database (30 s here): a call
    # ending then must not wait for it, only for the flush interval (0.5 s).
    writer = HistoryWriter(db_engine, settings(tmp_path, flush_interval=0.5), probe_interval=30.0)
    await writer.start()
    try:
        await asyncio.sleep(1.0)  # quiet: the loop is asleep on its probe timer
        writer.submit(CallEnded(call=call(1, CallState.ENDED), at=T0 + 61))
        await until(
            lambda: writer.health().detail["pending"] == 0, "the lone event written", within=5.0
        )
        assert await count(db_engine, CallRow) == 1
    finally:
        await writer.stop(grace=2.0)


async def test_upsert_keeps_the_latest_state(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    writer = writer_factory(settings(tmp_path))
    await writer.start()
    ended = call(1, CallState.ENDED, seat="1001")
    writer.submit(CallUpdated(call=call(1, CallState.QUEUED), at=T0 + 1))
    writer.submit(CallEnded(call=ended, at=T0 + 61))
    async with asyncio.timeout(10):
        await writer.wait_idle()
    # Later batches: a stale update, then a straggler that would reopen the call.
    writer.submit(CallUpdated(call=call(1, CallState.RINGING, seat="1001"), at=T0 + 3))
    async with asyncio.timeout(10):
        await writer.wait_idle()
    writer.submit(CallUpdated(call=call(1, CallState.ON_CALL, seat="1001"), at=T0 + 99))
    async with asyncio.timeout(10):
        await writer.wait_idle()

    async with db_engine.connect() as conn:
        row = (await conn.execute(select(CallRow.__table__))).one()
    assert row.state == "ended"
    assert row.seat_id == "1001"
    assert row.talk_seconds == 55
    assert row.ended_at is not None and row.ended_at.timestamp() == T0 + 61
    assert row.updated_at.timestamp() == T0 + 61


async def test_an_ended_call_is_pending_or_in_history_at_every_moment(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    """What ``GET /v1/calls`` relies on: once a call's end is submitted, the writer holds
    the call until its row is ended in ``calls``, never a moment less."""
    writer = writer_factory(settings(tmp_path, batch_size=7))
    stream = Stream()
    for n in range(60):
        for event in stream.lifecycle(n):
            writer.submit(event)
    ended = {call(n, CallState.ENDED).id for n in range(60)}
    assert {c.id for c in writer.pending_calls.calls()} == ended
    await writer.start()
    checks = 0
    async with asyncio.timeout(15):
        while True:
            held = {c.id for c in writer.pending_calls.calls()}  # first, as the API does
            async with db_engine.connect() as conn:
                written = set(
                    (await conn.execute(text("SELECT id FROM calls WHERE state = 'ended'")))
                    .scalars()
                    .all()
                )
            checks += 1
            assert ended <= held | written, sorted(ended - held - written)
            if written == ended:
                break
    assert checks > 1
    await until(lambda: len(writer.pending_calls) == 0, "the last call settled")


async def timelines_now(
    writer: HistoryWriter, engine: AsyncEngine, call_ids: list[str]
) -> dict[str, list[TimelineEntryOut]]:
    """Each call's timeline as ``GET /v1/calls/{id}`` builds it: the writer's unwritten
    entries first, then history's (one query for all calls, the repository's order)."""
    held = {
        cid: [
            TimelineEntryOut.from_history(
                r["kind"], r["at"], r["seat_id"], r["skill_group"], r["detail"]
            )
            for r in writer.pending_calls.timeline(cid)
        ]
        for cid in call_ids
    }
    stored: dict[str, list[TimelineEntryOut]] = {cid: [] for cid in call_ids}
    async with make_sessionmaker(engine)() as session:
        rows = await session.scalars(
            select(CallEventRow).order_by(CallEventRow.at, CallEventRow.id)
        )
        for r in rows:
            stored[r.call_id].append(
                TimelineEntryOut.from_history(r.kind, r.at, r.seat_id, r.skill_group, r.detail)
            )
    return {cid: merge_timeline(stored[cid], held[cid]) for cid in call_ids}


async def test_a_calls_timeline_is_whole_at_every_moment(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    """What the call detail relies on: the writer's unwritten timeline entries merged with
    history's give, at every moment, the timeline history has once it has them all; each
    entry settles as its batch commits, never before (missing) nor long after."""
    writer = writer_factory(settings(tmp_path, batch_size=7))
    stream = Stream()
    for n in range(60):
        for event in stream.lifecycle(n):
            writer.submit(event)
    call_ids = [call(n, CallState.ENDED).id for n in range(60)]
    assert writer.pending_calls.entries == stream.timeline
    seen: list[dict[str, list[TimelineEntryOut]]] = []
    await writer.start()
    async with asyncio.timeout(15):
        while writer.pending:
            seen.append(await timelines_now(writer, db_engine, call_ids))
        await writer.wait_idle()
    assert writer.pending_calls.entries == 0
    final = await timelines_now(writer, db_engine, call_ids)
    assert all(len(final[cid]) == 4 for cid in call_ids)
    assert len(seen) > 1
    for moment in seen:
        assert moment == final


async def test_timeline_is_ordered_by_time_then_arrival(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    from cti.db.repositories import call_timeline

    writer = writer_factory(settings(tmp_path))
    await writer.start()
    cid = "node1:42.1"
    for kind, at in (("joined", 10.0), ("rang", 12.0), ("no_answer", 12.0), ("answered", 11.0)):
        writer.submit(CallTimelineEntry(call_id=cid, kind=kind, at=T0 + at))
    async with asyncio.timeout(10):
        await writer.wait_idle()
    async with make_sessionmaker(db_engine)() as session:
        kinds = [e.kind for e in await call_timeline(session, cid)]
    assert kinds == ["joined", "answered", "rang", "no_answer"]


async def test_outage_loses_nothing_and_keeps_order(
    db_engine: AsyncEngine,
    pg_cluster: PostgresCluster,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    s = settings(tmp_path, buffer_limit=200)
    writer = writer_factory(s)
    await writer.start()
    stream = Stream()
    n = itertools.count()

    for _ in range(10):
        for event in stream.lifecycle(next(n)):
            writer.submit(event)
    async with asyncio.timeout(10):
        await writer.wait_idle()
    assert writer.health().ok

    await asyncio.to_thread(pg_cluster.stop)
    try:
        # Events keep coming while PostgreSQL is down: well past buffer_limit.
        for _ in range(20):
            for _ in range(10):
                for event in stream.lifecycle(next(n)):
                    writer.submit(event)
            await asyncio.sleep(0.02)
        await until(lambda: not writer.health().ok, "health to report the outage")
        await until(lambda: writer.health().detail["spilled"] > 0, "a spill to disk")
        # Every call that ended in the outage is still pending, spilled to disk or not.
        assert {c.id for c in writer.pending_calls.calls()} == {
            call(i, CallState.ENDED).id for i in range(10, 210)
        }
        # So is each of their timeline entries, in order (4 a call, numbered from 40).
        held = [
            r["detail"]["seq"]
            for i in range(10, 210)
            for r in writer.pending_calls.timeline(call(i, CallState.ENDED).id)
        ]
        assert held == list(range(40, 840))
        health = writer.health()
        assert health.detail["last_error"]
        assert health.detail["pending"] >= 200 * 9
        assert spill_files(tmp_path / "spill", "spill")
        assert await _unreachable(db_engine)
    finally:
        await asyncio.to_thread(pg_cluster.start)

    for _ in range(10):  # and more after the restart, which must land after the backlog
        for event in stream.lifecycle(next(n)):
            writer.submit(event)
    async with asyncio.timeout(30):
        await writer.wait_idle()

    calls = next(n)
    assert writer.health().ok
    assert len(writer.pending_calls) == 0
    assert writer.pending_calls.entries == 0
    assert writer.health().detail["spilled"] == 0
    assert not spill_files(tmp_path / "spill", "spill")
    assert writer.health().detail["spilled_total"] > 0
    assert await timeline_seqs(db_engine) == list(range(stream.timeline))  # once, in order
    assert await count(db_engine, CallRow) == calls
    assert await count(db_engine, SeatStateLogRow) == stream.seat_changes
    async with db_engine.connect() as conn:
        states = (await conn.execute(text("SELECT DISTINCT state FROM calls"))).scalars().all()
    assert states == ["ended"]


async def _unreachable(engine: AsyncEngine) -> bool:
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception:
        return True
    return False


async def test_stop_while_down_spills_and_next_start_replays_first(
    db_engine: AsyncEngine,
    pg_cluster: PostgresCluster,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    stream = Stream()
    first = writer_factory(s)
    await first.start()
    await asyncio.to_thread(pg_cluster.stop)
    try:
        for n in range(30):
            for event in stream.lifecycle(n):
                first.submit(event)
        await until(lambda: not first.health().ok, "the outage to be seen")
        await first.stop(grace=0.5)
        assert SpillStore(s.spill_dir).load() == 30 * 9  # a fresh look, as after a crash
    finally:
        await asyncio.to_thread(pg_cluster.start)

    second = writer_factory(s)
    await second.start()
    for n in range(30, 40):
        for event in stream.lifecycle(n):
            second.submit(event)
    async with asyncio.timeout(15):
        await second.wait_idle()
    assert await timeline_seqs(db_engine) == list(range(stream.timeline))
    assert await count(db_engine, CallRow) == 40
    assert not spill_files(Path(s.spill_dir), "spill")


async def test_rejected_batch_is_parked_not_retried_forever(
    db_engine: AsyncEngine,
    writer_factory: Factory,
    tmp_path: Path,
) -> None:
    writer = writer_factory(settings(tmp_path))
    await writer.start()
    writer.submit(CallTimelineEntry(call_id="node1:1.1", kind="bad\x00byte", at=T0))
    async with asyncio.timeout(10):
        await writer.wait_idle()
    writer.submit(CallTimelineEntry(call_id="node1:1.1", kind="fine", at=T0))
    async with asyncio.timeout(10):
        await writer.wait_idle()
    assert writer.health().detail["rejected"] == 1
    assert spill_files(tmp_path / "spill", "rejected")
    assert await count(db_engine, CallEventRow) == 1
