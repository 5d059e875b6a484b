"""The retention sweep: expired recordings go in batches, file and row together.

One batch, crash-safe at every step::

    1. transaction: pick expired rows (not on legal hold), mark them ``deleting`` under a
       new audit entry (``recording_sweep_batches``, state ``deleting``), commit
    2. unlink their files (a file already gone counts as missing, not as an error)
    3. transaction: delete the batch's rows, mark the audit entry ``done``, commit

A crash after 1 leaves rows ``deleting`` (never served, never picked again) and an audit
entry ``deleting``: every sweep starts by finishing such batches (2 and 3 again, both
idempotent). A crash before 1 commits changes nothing. One sweep runs at a time, across
service replicas and the CLI, under a PostgreSQL advisory lock.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.domain.events import DomainEvent, RecordingsDeleted
from recordings import repository as repo
from recordings import retention
from recordings.storage import RecordingDirs

log = logging.getLogger(__name__)

SWEEP_LOCK_KEY = 0x43544952  # "CTIR": the advisory lock id of the sweep
ORPHAN_CHUNK = 2000
UNLINK_THREADS = 4  # of the loop's default executor (min(32, cores + 4) threads)


@dataclass(slots=True)
class SweepReport:
    dry_run: bool
    skipped: bool = False  # another sweep holds the lock
    batches: int = 0
    deleted: int = 0
    bytes: int = 0
    files_missing: int = 0
    resumed_batches: int = 0
    would_delete: int = 0
    would_free_bytes: int = 0
    examples: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    orphan_count: int = 0

    def as_dict(self) -> dict[str, object]:
        return {k: getattr(self, k) for k in self.__slots__}


class Sweeper:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        dirs: RecordingDirs,
        *,
        default_days: int = retention.DEFAULT_RETENTION_DAYS,
        batch_size: int = 1000,
        pause: float = 0.0,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        publish: Callable[[Sequence[DomainEvent]], None] | None = None,
    ) -> None:
        retention.check_retention(default_days)
        self._sessionmaker = sessionmaker
        self._dirs = dirs
        self._default = default_days
        self._batch_size = batch_size
        self._pause = pause  # between batches: lets the API's queries through
        self._clock = clock
        self._publish = publish  # each batch deleted, for the live event stream

    async def run(self, *, trigger: str, dry_run: bool = False, orphans: bool = True,
                  max_orphans_listed: int = 100) -> SweepReport:
        report = SweepReport(dry_run=dry_run)
        async with self._sessionmaker() as lock, lock.begin():
            if not await repo.try_lock(lock, SWEEP_LOCK_KEY):
                log.info("recording sweep skipped: another sweep is running")
                report.skipped = True
                return report
            now = self._clock()
            async with self._sessionmaker() as s:
                overrides = repo.overrides_of(await repo.policies(s))
            cutoff = retention.scan_cutoff(now, self._default, overrides)
            if dry_run:
                async with self._sessionmaker() as s:
                    count, size, examples = await repo.expired_summary(
                        s, now=now, scan_cutoff=cutoff, default_days=self._default,
                        examples=20)
                report.would_delete, report.would_free_bytes = count, size
                report.examples = examples
            else:
                await self._resume(report)
                await self._sweep(report, now, cutoff, trigger)
            if orphans:
                await self._orphans(report, max_orphans_listed)
        log.info("recording sweep (%s%s): %s", trigger, ", dry run" if dry_run else "",
                 {k: v for k, v in report.as_dict().items() if k not in {"examples", "orphans"}})
        return report

    async def _resume(self, report: SweepReport) -> None:
        async with self._sessionmaker() as s:
            pending = await repo.unfinished_batches(s)
        for claimed in pending:
            log.warning("finishing sweep batch %d left half done (%d recordings)",
                        claimed.batch_id, len(claimed.items))
            await self._delete(claimed, report)
            report.resumed_batches += 1

    async def _sweep(self, report: SweepReport, now: datetime, cutoff: datetime,
                     trigger: str) -> None:
        after: datetime | None = None  # oldest first: nothing before it is left to take
        while True:
            async with self._sessionmaker() as s, s.begin():
                claimed = await repo.claim_batch(
                    s, now=now, scan_cutoff=cutoff, default_days=self._default,
                    limit=self._batch_size, trigger=trigger, after=after)
            if claimed is None:
                return
            after = claimed.last_started
            await self._delete(claimed, report)
            if self._pause:
                await asyncio.sleep(self._pause)

    async def _delete(self, claimed: repo.Claimed, report: SweepReport) -> None:
        paths = [path for _, path, _ in claimed.items]
        # Unlinks wait on the disk (metadata I/O), not the CPU: several at once keep the
        # device busy (bench/recordings: one thread spent its time in submit_bio_wait).
        n = max(1, min(UNLINK_THREADS, len(paths)))
        missing = sum(await asyncio.gather(
            *(asyncio.to_thread(self._unlink_all, paths[i::n]) for i in range(n))))
        async with self._sessionmaker() as s, s.begin():
            deleted = await repo.finish_batch(s, claimed.batch_id, missing)
        report.batches += 1
        report.deleted += deleted
        report.bytes += sum(size for _, _, size in claimed.items)
        report.files_missing += missing
        if self._publish is not None and deleted:
            call_ids = tuple(call_id for call_id, _, _ in claimed.items)
            self._publish([RecordingsDeleted(claimed.batch_id, call_ids,
                                             self._clock().timestamp())])
        if missing:
            log.warning("sweep batch %d: %d of %d files were already gone",
                        claimed.batch_id, missing, len(paths))

    def _unlink_all(self, paths: list[str]) -> int:
        return sum(0 if self._dirs.unlink(p) else 1 for p in paths)

    async def _orphans(self, report: SweepReport, listed: int) -> None:
        """Files in the store that no row names: reported, never deleted (they may be
        evidence, or a catalogue step that has not finished)."""
        files = await asyncio.to_thread(lambda: list(self._dirs.store_files()))
        for i in range(0, len(files), ORPHAN_CHUNK):
            chunk = files[i : i + ORPHAN_CHUNK]
            async with self._sessionmaker() as s:
                known = await repo.known_paths(s, chunk)
            for path in chunk:
                if path not in known:
                    report.orphan_count += 1
                    if len(report.orphans) < listed:
                        report.orphans.append(path)
        if report.orphan_count:
            log.warning("%d recording files have no catalogue row, e.g. %s",
                        report.orphan_count, report.orphans[:5])
