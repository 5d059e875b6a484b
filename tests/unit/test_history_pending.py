"""The ended calls the history writer holds until their end is written (cti/history/pending.py).

Given/when/then examples on the pure index, the records that settle it, and the writer
noting what it takes (no database: nothing is written here). Settling on commit, through
an outage and its spill, runs against PostgreSQL in tests/integration/test_history_writer.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from cti.config import HistorySettings
from cti.domain.events import CallEnded, CallTimelineEntry, CallUpdated
from cti.domain.model import Call, CallDirection, CallState
from cti.history import HistoryWriter
from cti.history.pending import PendingCalls
from cti.history.records import ended_call_ids, to_record

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
