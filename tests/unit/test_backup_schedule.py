"""The backup schedule's loop: runs when due, reports failures, stops a running backup.

The backups themselves are replaced by a job that writes a generation's manifest (what
the schedule reads back as "the last backup") or fails; the timing rules are in
test_backup_timing.py.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cti.backup import generations
from cti.backup.errors import BackupBusy, Cancelled
from cti.backup.manifest import FileEntry, Manifest
from cti.backup.run import BackupReport
from cti.backup.schedule import BackupSchedule, schedule_of
from cti.backup.timing import Daily, Every, Schedule
from cti.config import BackupSettings, Settings

ENTRY = FileEntry(1, 1, "0" * 64)


def _generation(target: Path) -> BackupReport:
    """What a real run leaves: a dated directory with a manifest."""
    target.mkdir(exist_ok=True)
    name = generations.name_for(datetime.now(UTC), set(p.name for p in target.iterdir()))
    (target / name).mkdir()
    manifest = Manifest(datetime.now(UTC).isoformat(), ENTRY)
    (target / name / "manifest.json").write_text(manifest.to_json())
    return BackupReport(name, target / name, 0, 0, 0, 0, 0, (), manifest)


def _schedule(job: Callable[[threading.Event], BackupReport], target: Path,
              when: Schedule | None = None, **kw: float) -> BackupSchedule:
    options = {"first_delay": 0.0, "retry": 0.05, "poll": 0.01, **kw}
    return BackupSchedule(job, target, when or Every(3600), **options)


async def _until(check: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """Bounded polling (no fixed sleeps)."""
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def _probes(schedule: BackupSchedule) -> dict[str, float]:
    return {p.name: float(p.read()) for p in schedule.probes()}  # type: ignore[arg-type]


def test_without_a_target_there_is_no_schedule() -> None:
    schedule = BackupSchedule.from_settings(Settings(backup=BackupSettings(target="")))
    assert not schedule.enabled and schedule.probes() == []


def test_the_settings_name_the_schedule() -> None:
    assert schedule_of(BackupSettings(target="/b")) == Daily(datetime.min.time().replace(hour=2))
    assert schedule_of(BackupSettings(target="/b", interval=3600)) == Every(3600)
    daily = schedule_of(BackupSettings(target="/b", at="23:30", timezone="Asia/Shanghai"))
    assert isinstance(daily, Daily) and str(daily) == "daily at 23:30 (Asia/Shanghai)"
    with pytest.raises(ValueError, match="not both"):
        BackupSettings(target="/b", at="01:00", interval=3600)
    with pytest.raises(ValueError, match="time zone"):
        BackupSettings(target="/b", timezone="Mars/Olympus")


async def test_a_first_backup_runs_at_once_then_the_next_when_due(tmp_path: Path) -> None:
    target = tmp_path / "backup"
    calls: list[int] = []

    def job(cancel: threading.Event) -> BackupReport:
        calls.append(1)
        return _generation(target)

    schedule = _schedule(job, target)
    schedule.start()
    try:
        await _until(lambda: schedule.runs == 1 and schedule.generations == 1, "a backup")
        await asyncio.sleep(0.1)  # ten looks at the clock: the next is an hour away
        assert len(calls) == 1
        probes = _probes(schedule)
        assert probes["cti_backup_failing"] == 0 and probes["cti_backup_generations"] == 1
        assert abs(probes["cti_backup_last_success_timestamp_seconds"]
                   - datetime.now(UTC).timestamp()) < 5
    finally:
        await schedule.stop()


async def test_a_recent_backup_made_by_hand_counts(tmp_path: Path) -> None:
    target = tmp_path / "backup"
    _generation(target)
    calls: list[int] = []
    schedule = _schedule(lambda cancel: calls.append(1) or _generation(target), target)
    schedule.start()
    try:
        await _until(lambda: schedule.generations == 1, "the directory read")
        await asyncio.sleep(0.1)
        assert calls == []
    finally:
        await schedule.stop()


async def test_a_failed_backup_is_counted_shown_and_tried_again(tmp_path: Path) -> None:
    target = tmp_path / "backup"
    outcomes: list[Exception | None] = [BackupBusy("another backup is running in x"), None]

    def job(cancel: threading.Event) -> BackupReport:
        failure = outcomes.pop(0)
        if failure is not None:
            raise failure
        return _generation(target)

    schedule = _schedule(job, target, retry=0.5)
    schedule.start()
    try:
        await _until(lambda: schedule.failures == 1, "the failure")
        probes = _probes(schedule)
        assert probes["cti_backup_failing"] == 1 and probes["cti_backup_runs"] == 0
        assert schedule.last_error == "BackupBusy: another backup is running in x"
        await _until(lambda: schedule.runs == 1, "the retry")
        assert _probes(schedule)["cti_backup_failing"] == 0 and schedule.last_error is None
    finally:
        await schedule.stop()


async def test_stopping_cancels_a_running_backup_and_waits_for_its_cleanup(
    tmp_path: Path,
) -> None:
    running, cleaned = threading.Event(), threading.Event()

    def job(cancel: threading.Event) -> BackupReport:
        running.set()
        assert cancel.wait(5), "never asked to stop"
        cleaned.set()  # as run.backup removes its partial generation
        raise Cancelled("backup cancelled")

    schedule = _schedule(job, tmp_path / "backup")
    schedule.start()
    await _until(running.is_set, "the backup to start")
    await schedule.stop()
    assert cleaned.is_set()
