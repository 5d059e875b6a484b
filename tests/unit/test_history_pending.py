"""The ended calls and timeline entries the history writer holds until they are written
(cti/history/pending.py).

Given/when/then examples on the pure index, the records that settle it, and the writer
noting what it takes (no database: nothing is written here). Settling on commit, through
an outage and its spill, runs against PostgreSQL in tests/integration/test_history_writer.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cti.config import HistorySettings
from cti.domain.events import CallEnded, CallTimelineEntry, CallUpdated
from cti.domain.model import Call, CallDirection, CallState
from cti.history import HistoryWriter
from cti.history.pending import PendingCalls
from cti.history.records import build_batch, ended_call_ids, to_record

T0 = 1_764_000_000.0


def call(n: int, state: CallState = CallState.ENDED) -> Call:
    return Call(
        id=f"node1:{n}.1",
        node="node1",
        linkedid=f"{n}.1",
        direction=CallDirection.INBOUND,
        state=state,
        customer_number="+4930123",
        started_at=T0 + n,
        ended_at=T0 + n + 60 if state is CallState.ENDED else None,
    )


def test_an_ended_call_is_pending_until_its_end_is_settled() -> None:
    pending = PendingCalls()
    assert pending.get("node1:1.1") is None
    pending.add(call(1))
    pending.add(call(2))
    assert pending.get("node1:1.1") == call(1)
    assert [c.id for c in pending.calls()] == ["node1:1.1", "node1:2.1"]
    pending.settle("node1:1.1")
    assert pending.get("node1:1.1") is None
    assert [c.id for c in pending.calls()] == ["node1:2.1"]
    pending.settle("node1:9.1")  # spilled by an earlier run: nothing to settle here
    assert len(pending) == 1


def test_a_call_ended_twice_stays_until_both_ends_are_settled_showing_the_last() -> None:
    pending = PendingCalls()
    first = call(1)
    again = dataclasses.replace(first, hangup_cause="ended while AMI was disconnected")
    pending.add(first)
    pending.add(again)
    pending.settle(first.id)
    assert pending.get(first.id) == again
    pending.settle(first.id)
    assert pending.get(first.id) is None


def test_past_the_limit_the_oldest_are_forgotten() -> None:
    pending = PendingCalls(limit=2)
    for n in range(3):
        pending.add(call(n))
    assert [c.id for c in pending.calls()] == ["node1:1.1", "node1:2.1"]
    with pytest.raises(ValueError):
        PendingCalls(limit=0)


def test_only_a_calls_end_settles_it() -> None:
    records = [
        to_record(CallUpdated(call(1, CallState.ON_CALL), T0 + 5)),
        to_record(CallTimelineEntry("node1:1.1", "ended", T0 + 61)),
        to_record(CallEnded(call(1), T0 + 61)),
        {"t": "call", "state": "ended"},  # malformed (a refused batch): no id, no claim
    ]
    assert ended_call_ids([r for r in records if r is not None]) == ["node1:1.1"]


def test_the_writer_holds_each_ended_call_it_takes(tmp_path: Path) -> None:
    engine = create_async_engine("postgresql+asyncpg://cti@127.0.0.1:1/cti")  # never used
    writer = HistoryWriter(engine, HistorySettings(spill_dir=str(tmp_path / "spill")))
    writer.submit(CallUpdated(call(1, CallState.ON_CALL), T0 + 5))
    assert writer.pending_calls.get("node1:1.1") is None  # live: the mirror has it
    writer.submit(CallEnded(call(1), T0 + 61))
    assert writer.pending_calls.get("node1:1.1") == call(1)
    assert writer.pending == 2


def entry(
    n: int,
    kind: str,
    at: float,
    *,
    seat_id: str | None = None,
    skill_group: str | None = None,
    detail: dict[str, Any] | None = None,
) -> CallTimelineEntry:
    return CallTimelineEntry(f"node1:{n}.1", kind, T0 + at, seat_id, skill_group, detail)


def test_timeline_entries_are_held_by_call_until_settled_by_number() -> None:
    """Given entries of two calls numbered as the writer takes them (other events between),
    when the writer settles what it wrote below a number, the rest stays, in order."""
    pending = PendingCalls()
    pending.add_entry(0, entry(1, "started", 1))
    pending.add_entry(2, entry(2, "started", 2))
    pending.add_entry(3, entry(1, "answered", 5, seat_id="1001"))
    pending.add_entry(7, entry(1, "ended", 61, detail={"cause": "Normal Clearing"}))
    assert [r["kind"] for r in pending.timeline("node1:1.1")] == ["started", "answered", "ended"]
    pending.settle_entries(3)  # events 0..2 written: the first entry of each call
    assert [r["kind"] for r in pending.timeline("node1:1.1")] == ["answered", "ended"]
    assert pending.timeline("node1:2.1") == []
    pending.settle_entries(1)  # an older job's end: nothing more to settle
    assert pending.entries == 2
    pending.settle_entries(8)
    assert pending.timeline("node1:1.1") == [] and pending.entries == 0


def test_unwritten_timeline_rows_are_the_rows_history_writes() -> None:
    """One conversion: the rows held for a call are those build_batch makes for them."""
    pending = PendingCalls()
    entries = [
        entry(1, "queued", 1, skill_group="sales", detail={"position": 1}),
        entry(1, "completed", 60.5, seat_id="1001", detail={"talk_seconds": 55}),
    ]
    for number, e in enumerate(entries):
        pending.add_entry(number, e)
    records = [r for r in map(to_record, entries) if r is not None]
    assert pending.timeline("node1:1.1") == build_batch(records).call_events


def test_past_the_entry_limit_the_oldest_entries_are_forgotten() -> None:
    pending = PendingCalls(entry_limit=2)
    for number, kind in enumerate(("started", "answered", "ended")):
        pending.add_entry(number, entry(1, kind, number))
    assert [r["kind"] for r in pending.timeline("node1:1.1")] == ["answered", "ended"]
    pending.settle_entries(3)
    assert pending.entries == 0
    with pytest.raises(ValueError):
        PendingCalls(entry_limit=0)


def test_the_writer_holds_each_timeline_entry_it_takes_before_and_after_the_end(
    tmp_path: Path,
) -> None:
    """Entries taken before the call's end (still in the buffer when it ends) and after
    it are all held, numbered among every event the writer took."""
    engine = create_async_engine("postgresql+asyncpg://cti@127.0.0.1:1/cti")  # never used
    writer = HistoryWriter(engine, HistorySettings(spill_dir=str(tmp_path / "spill")))
    writer.submit(entry(1, "started", 1))
    writer.submit(CallUpdated(call(1, CallState.ON_CALL), T0 + 5))
    writer.submit(entry(1, "ended", 61))
    writer.submit(CallEnded(call(1), T0 + 61))
    writer.submit(entry(1, "completed", 62, seat_id="1001"))
    assert [r["kind"] for r in writer.pending_calls.timeline("node1:1.1")] == [
        "started",
        "ended",
        "completed",
    ]
    writer.pending_calls.settle_entries(3)  # what a job of the first three events settles
    assert [r["kind"] for r in writer.pending_calls.timeline("node1:1.1")] == ["completed"]
