"""Pure parts of the history writer: the pending buffer, records, batches, spill files."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    MirrorRebuilt,
    NodeConnectionChanged,
    SeatStateChanged,
)
from cti.domain.model import Call, CallDirection, CallState, Seat, SeatState
from cti.history.buffer import PendingBuffer
from cti.history.records import Record, build_batch, to_record
from cti.history.spill import SpillStore


def _call(state: CallState, **kw: object) -> Call:
    base: dict[str, object] = {
        "id": "node1:1.1",
        "node": "node1",
        "linkedid": "1.1",
        "direction": CallDirection.INBOUND,
        "state": state,
        "customer_number": "+4930123",
        "started_at": 1000.0,
    }
    base.update(kw)
    return Call(**base)  # type: ignore[arg-type]


class TestPendingBuffer:
    def test_take_returns_oldest_first(self) -> None:
        buf: PendingBuffer[int] = PendingBuffer(limit=10)
        for i in range(5):
            buf.append(i)
        assert buf.take(3) == [0, 1, 2]
        assert buf.take(10) == [3, 4]
        assert not buf

    def test_push_front_restores_order_after_failed_write(self) -> None:
        buf: PendingBuffer[int] = PendingBuffer(limit=10)
        for i in range(5):
            buf.append(i)
        taken = buf.take(3)
        buf.append(5)
        buf.push_front(taken)
        assert buf.drain() == [0, 1, 2, 3, 4, 5]

    def test_overflow_only_past_limit_and_down_to_low_water(self) -> None:
        buf: PendingBuffer[int] = PendingBuffer(limit=10)
        for i in range(10):
            buf.append(i)
        assert buf.overflow() == []
        buf.append(10)
        assert buf.over_limit()
        assert buf.overflow() == [0, 1, 2, 3, 4, 5]  # down to limit // 2
        assert buf.drain() == [6, 7, 8, 9, 10]

    def test_limit_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="limit"):
            PendingBuffer(limit=0)


class TestRecords:
    def test_ignored_events_have_no_record(self) -> None:
        assert to_record(MirrorRebuilt(node="node1", at=1.0)) is None
        assert to_record(NodeConnectionChanged(node="node1", connected=False, at=1.0)) is None

    def test_call_ended_is_stored_as_ended(self) -> None:
        rec = to_record(CallEnded(call=_call(CallState.ON_CALL), at=5.0))
        assert rec is not None
        assert rec["state"] == "ended"

    def test_records_survive_json(self) -> None:
        events: list[DomainEvent] = [
            CallUpdated(call=_call(CallState.QUEUED, queued_at=1001.0), at=1001.0),
            CallTimelineEntry(call_id="node1:1.1", kind="queued", at=1001.0, detail={"pos": 1}),
            SeatStateChanged(
                seat=Seat(id="1001", node="node1", interface="PJSIP/1001"),
                previous=SeatState.AVAILABLE,
                transition="logout",
                at=1002.0,
            ),
        ]
        records = [to_record(e) for e in events]
        assert [json.loads(json.dumps(r)) for r in records] == records

    def test_batch_keeps_latest_call_state_and_converts_times(self) -> None:
        records = [
            to_record(CallUpdated(call=_call(CallState.QUEUED), at=1001.0)),
            to_record(CallUpdated(call=_call(CallState.ON_CALL, answered_at=1005.0), at=1005.0)),
            to_record(CallEnded(call=_call(CallState.ENDED, ended_at=1060.0), at=1060.0)),
        ]
        batch = build_batch([r for r in records if r is not None])
        assert len(batch.calls) == 1
        row = batch.calls[0]
        assert row["state"] == "ended"
        assert row["started_at"] == datetime.fromtimestamp(1000.0, UTC)
        assert row["updated_at"] == datetime.fromtimestamp(1060.0, UTC)
        assert "t" not in row and "at" not in row

    def test_batch_never_reopens_an_ended_call_or_goes_back_in_time(self) -> None:
        records = [
            to_record(CallEnded(call=_call(CallState.ENDED), at=1060.0)),
            to_record(CallUpdated(call=_call(CallState.ON_CALL), at=1070.0)),  # late straggler
            to_record(CallUpdated(call=_call(CallState.QUEUED), at=1001.0)),  # out of date
        ]
        batch = build_batch([r for r in records if r is not None])
        assert [r["state"] for r in batch.calls] == ["ended"]

    def test_batch_keeps_every_timeline_and_seat_line_in_order(self) -> None:
        seat = Seat(id="1001", node="node1", interface="PJSIP/1001", state=SeatState.RINGING)
        records: list[Record | None] = []
        for i in range(3):
            records.append(to_record(CallTimelineEntry(call_id="c", kind=f"k{i}", at=float(i))))
            records.append(
                to_record(
                    SeatStateChanged(
                        seat=seat, previous=SeatState.AVAILABLE, transition="offer", at=float(i)
                    )
                )
            )
        batch = build_batch([r for r in records if r is not None])
        assert [r["kind"] for r in batch.call_events] == ["k0", "k1", "k2"]
        assert len(batch.seat_log) == 3
        assert batch.seats == [{"id": "1001", "node": "node1", "interface": "PJSIP/1001"}]
        assert batch.rows == 6


class TestSpillStore:
    def test_segments_come_back_oldest_first_and_survive_a_restart(self, tmp_path: Path) -> None:
        store = SpillStore(tmp_path / "spill")
        assert store.load() == 0
        first, second = store.allocate(), store.allocate()
        store.write(second, [{"n": 3}])
        store.write(first, [{"n": 1}, {"n": 2}])
        assert store.records == 3

        again = SpillStore(tmp_path / "spill")  # a new process after a crash
        assert again.load() == 3
        oldest = again.oldest()
        assert oldest == (first, [{"n": 1}, {"n": 2}])
        again.remove(first)
        assert again.oldest() == (second, [{"n": 3}])
        again.remove(second)
        assert again.oldest() is None
        assert not again
        assert again.allocate() > second

    def test_incomplete_and_corrupt_segments_are_set_aside(self, tmp_path: Path) -> None:
        spill = tmp_path / "spill"
        spill.mkdir()
        (spill / "spill-000000000001.jsonl.tmp").write_text('{"n": 0}\n')
        (spill / "spill-000000000002.jsonl").write_text("{not json\n")
        (spill / "spill-000000000003.jsonl").write_text('{"n": 3}\n')
        store = SpillStore(spill)
        store.load()
        assert store.oldest() == (3, [{"n": 3}])
        assert (spill / "spill-000000000002.jsonl.corrupt").exists()
        assert not (spill / "spill-000000000001.jsonl.tmp").exists()
