"""The history writer when its spill directory cannot be written (disk full, not writable).

No database and no sockets: a stand-in session factory is up or down, and the statements a
batch would run are recorded in order instead (``_execute`` is replaced). The spill
directory is made unusable by putting a plain file where its parent directory should be,
which fails for root too (permissions would not). Against PostgreSQL, outages and spills
with a working disk run in tests/integration/test_history_writer.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from cti.config import HistorySettings
from cti.domain.events import CallTimelineEntry
from cti.history import HistoryWriter
from cti.history import writer as writer_module
from cti.history.records import Batch

T0 = 1_764_000_000.0


class FakeDb:
    """The writer's session factory: refuses connections while down; ``poison`` makes it
    refuse a batch's data (as PostgreSQL does for invalid values)."""

    def __init__(self) -> None:
        self.up = False
        self.poison = "bad"
        self.seqs: list[int] = []  # the timeline entries committed, by their number

    def __call__(self) -> FakeSession:
        return FakeSession(self)

    async def execute(self, session: object, batch: Batch) -> None:
        if any(row["kind"] == self.poison for row in batch.call_events):
            raise ValueError("invalid byte sequence")
        self.seqs.extend(row["detail"]["seq"] for row in batch.call_events)


class FakeSession:
    def __init__(self, db: FakeDb) -> None:
        self._db = db

    async def __aenter__(self) -> FakeSession:
        if not self._db.up:
            raise OSError("connection refused")
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def begin(self) -> FakeSession:
        return self

    async def execute(self, statement: object) -> None:  # the writer's probe
        return None


class Disk:
    """The spill directory ``<root>/volume/spill``, usable or not."""

    def __init__(self, root: Path) -> None:
        self.volume = root / "volume"
        self.spill_dir = self.volume / "spill"

    def fail(self) -> None:
        self.volume.write_text("not a directory\n")

    def repair(self) -> None:
        self.volume.unlink()
        self.volume.mkdir()


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> FakeDb:
    fake = FakeDb()
    monkeypatch.setattr(writer_module, "_execute", fake.execute)
    return fake


@pytest.fixture
def disk(tmp_path: Path) -> Disk:
    d = Disk(tmp_path)
    d.fail()
    return d


@pytest.fixture
async def make_writer(db: FakeDb, disk: Disk) -> AsyncIterator[Callable[[], HistoryWriter]]:
    writers: list[HistoryWriter] = []

    def make() -> HistoryWriter:
        settings = HistorySettings(
            batch_size=5,
            flush_interval=0.01,
            buffer_limit=10,
            spill_dir=str(disk.spill_dir),
            retry_initial=0.01,
            retry_max=0.05,
        )
        w = HistoryWriter(db, settings, probe_interval=0.05)
        writers.append(w)
        return w

    yield make
    for w in writers:
        await w.stop(grace=1.0)


def entry(seq: int, kind: str = "started") -> CallTimelineEntry:
    return CallTimelineEntry(f"node1:{seq}.1", kind, T0 + seq, detail={"seq": seq})


async def until(predicate: Callable[[], Any], what: str, within: float = 5.0) -> None:
    """Bounded polling (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def disk_failure_seen(writer: HistoryWriter, submitted: int) -> Callable[[], bool]:
    """Until the writer has met the broken disk: it reports it, or (the defect this guards
    against) events it had taken are gone."""
    return lambda: writer.pending != submitted or bool(writer.health().detail.get("spill_error"))


async def test_a_failed_spill_keeps_every_event_and_the_writer_alive(
    make_writer: Callable[[], HistoryWriter], db: FakeDb, disk: Disk
) -> None:
    """Given the database down and the spill directory unusable, when events pass the
    buffer limit, then none is lost, health names the spill problem, and once the database
    is back every event is written, in order, and health is ok again."""
    writer = make_writer()
    await writer.start()
    for seq in range(30):
        writer.submit(entry(seq))
    await until(disk_failure_seen(writer, 30), "the spill to be tried")

    assert writer.pending == 30
    health = writer.health()
    assert health.ok is False
    assert health.detail["running"] is True
    assert str(disk.spill_dir) in health.detail["spill_error"]
    assert health.detail["spilled"] == 0

    db.up = True
    for seq in range(30, 35):
        writer.submit(entry(seq))
    async with asyncio.timeout(5):
        await writer.wait_idle()
    assert db.seqs == list(range(35))
    await until(lambda: writer.health().ok, "health to recover")
    assert writer.health().detail["spill_error"] is None


async def test_the_spill_is_retried_and_resumes_once_the_disk_is_back(
    make_writer: Callable[[], HistoryWriter], db: FakeDb, disk: Disk
) -> None:
    writer = make_writer()
    await writer.start()
    for seq in range(30):
        writer.submit(entry(seq))
    await until(disk_failure_seen(writer, 30), "the spill to fail")
    assert writer.pending == 30
    assert writer.health().detail["spill_error"]
    assert not list(disk.volume.parent.glob("**/spill-*"))

    disk.repair()
    await until(lambda: writer.spilled > 0, "a spill once the disk is back")
    assert writer.health().detail["spill_error"] is None
    assert writer.pending == 30
    assert not list(disk.spill_dir.glob("*.tmp"))

    db.up = True
    async with asyncio.timeout(5):
        await writer.wait_idle()
    assert db.seqs == list(range(30))  # the spilled (oldest) first, then memory
    assert writer.health().ok


async def test_a_rejected_batch_that_cannot_be_parked_is_kept_until_it_can(
    make_writer: Callable[[], HistoryWriter], db: FakeDb, disk: Disk
) -> None:
    """The database refuses a batch as invalid and the disk cannot take it either: the
    batch must neither be lost nor kill the writer; it is parked once the disk is back."""
    db.up = True
    writer = make_writer()
    await writer.start()
    writer.submit(entry(0, "bad"))
    await until(disk_failure_seen(writer, 1), "parking to fail")

    assert writer.pending == 1 and writer.rejected == 0
    health = writer.health()
    assert health.ok is False
    assert health.detail["running"] is True
    assert "rejected" in health.detail["spill_error"]

    disk.repair()
    await until(lambda: writer.rejected == 1, "the batch parked once the disk is back")
    assert len(list(disk.spill_dir.glob("rejected-*.jsonl"))) == 1
    assert writer.pending == 0
    writer.submit(entry(1))
    async with asyncio.timeout(5):
        await writer.wait_idle()
    assert db.seqs == [1]
    assert writer.health().ok


async def test_health_is_not_ok_once_the_writer_task_has_died(
    make_writer: Callable[[], HistoryWriter],
    db: FakeDb,
    disk: Disk,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    disk.repair()  # the dying task spills what it holds: the event stays pending
    db.up = True
    writer = make_writer()
    await writer.start()
    await until(lambda: writer.health().ok, "the database to be seen")

    async def broken() -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(writer, "_next_job", broken)
    writer.submit(entry(0))
    with pytest.raises(RuntimeError, match="not running"):
        async with asyncio.timeout(5):
            await writer.wait_idle()
    health = writer.health()
    assert health.ok is False
    assert health.detail["db_up"] is True
    assert health.detail["running"] is False
    assert "RuntimeError" in health.detail["last_error"]
