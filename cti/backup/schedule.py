"""Scheduled backups inside the service, on the leading replica only.

The composition root starts the schedule with the parts that drive Asterisk (when this
replica takes the lead) and stops it with them, as it does the recordings sweep: two
replicas never both back up, and a standby that takes over carries the schedule on,
catching up a slot the old leader missed (the last backup is read from the backup
directory, whoever made it).

A run is ``cti.backup.run.backup`` in a worker thread (pg_dump and file copies block),
taking the same lock as ``cti backup``: one made by hand meanwhile makes the scheduled one
fail at once, and it is tried again ``retry_seconds`` later. A failed run is logged and
counted on ``/metrics`` (``cti_backup_failing``, ``cti_backup_failures_total``,
``cti_backup_last_success_timestamp_seconds``); it does not fail ``/readyz``, which tells
a load balancer whether this replica can take calls: a full backup disk must not take
the call centre's only leader out of service.
Stopping asks a running backup to give up (pg_dump killed, the partial generation
removed) and waits a bounded time for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

from cti.backup import generations, store
from cti.backup.errors import BackupError
from cti.backup.run import BackupReport, backup
from cti.backup.sources import sources
from cti.backup.timing import Daily, Every, Schedule, next_due
from cti.config import BackupSettings, Settings
from cti.metrics.probes import Probe
from cti.tasks import Background

log = logging.getLogger(__name__)

DEFAULT_AT = "02:00"

Job = Callable[[threading.Event], BackupReport]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def schedule_of(settings: BackupSettings) -> Schedule:
    if settings.interval is not None:
        return Every(settings.interval)
    hours, minutes = (int(part) for part in (settings.at or DEFAULT_AT).split(":"))
    zone = ZoneInfo(settings.timezone) if settings.timezone else None
    return Daily(wall_time(hours, minutes), zone)


class BackupSchedule:
    """Runs ``job`` when ``schedule`` says the backup directory ``target`` is due (see
    :mod:`cti.backup.timing`); ``job`` None: no target, it never runs."""

    def __init__(self, job: Job | None, target: Path | None, schedule: Schedule, *,
                 first_delay: float = 60.0, retry: float = 900.0, poll: float = 60.0,
                 stop_timeout: float = 30.0,
                 clock: Callable[[], datetime] = _utcnow) -> None:
        self._job = job
        self._target = target
        self._schedule = schedule
        self._first_delay = first_delay
        self._retry = retry
        self._poll = poll  # the wall clock is looked at this often (suspend, clock steps)
        self._stop_timeout = stop_timeout
        self._clock = clock
        self._task = Background("backup-schedule", self._loop)
        self._last: datetime | None = None  # the newest complete generation
        self._failed_at: datetime | None = None  # the last attempt, when it failed
        self.generations = 0
        self.runs = 0
        self.failures = 0
        self.last_error: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> BackupSchedule:
        """The service's schedule; one that never runs without ``CTI_BACKUP__TARGET``."""
        b = settings.backup
        if not b.target:
            return cls(None, None, schedule_of(b))
        target = Path(b.target)
        taken = sources(settings.asterisk, recordings=settings.recordings.enabled)
        url = settings.database.url

        def job(cancel: threading.Event) -> BackupReport:
            return backup(url, taken, target, keep=b.keep, settle_seconds=b.settle_seconds,
                          cancel=cancel)

        return cls(job, target, schedule_of(b), first_delay=b.first_delay,
                   retry=b.retry_seconds)

    @property
    def enabled(self) -> bool:
        return self._job is not None

    def probes(self) -> list[Probe]:
        """What ``/metrics`` shows of the schedule (nothing when there is none). Read
        them on the leading replica (``cti_replica_leads``): a standby runs no schedule."""
        if not self.enabled:
            return []
        return [
            Probe("cti_backup_last_success_timestamp_seconds",
                  "Start of the newest complete backup generation (Unix time; 0: none).",
                  lambda: self._last.timestamp() if self._last is not None else 0.0),
            Probe("cti_backup_failing",
                  "1 while the last scheduled backup failed (the log says why), else 0.",
                  lambda: float(self._failed_at is not None)),
            Probe("cti_backup_runs", "Scheduled backups completed.", lambda: self.runs,
                  "counter"),
            Probe("cti_backup_failures", "Scheduled backups that failed.",
                  lambda: self.failures, "counter"),
            Probe("cti_backup_generations", "Complete generations in the backup directory.",
                  lambda: self.generations),
        ]

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled:
            log.info("no scheduled backups: CTI_BACKUP__TARGET is not set")
            return
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    # -- the loop --------------------------------------------------------------------------
    async def _loop(self) -> None:
        log.info("scheduled backups into %s: %s", self._target, self._schedule)
        await asyncio.sleep(self._first_delay)
        while True:
            await self._look()
            now = self._clock()
            due = next_due(self._schedule, last=self._last, now=now,
                           failed_at=self._failed_at, retry=self._retry)
            if due > now:
                await asyncio.sleep(min((due - now).total_seconds(), self._poll))
                continue
            await self._run_once()

    async def _look(self) -> None:
        """Read the backup directory's generations (a manual backup counts too)."""
        assert self._target is not None
        try:
            names = await asyncio.to_thread(store.complete, self._target)
        except OSError as exc:  # the attempt will fail, and say so
            log.warning("cannot read the backup directory %s: %s", self._target, exc)
            return
        self.generations = len(names)
        parsed = generations.parse(names[-1]) if names else None
        self._last = parsed[0] if parsed is not None else None
        if self._last is not None and self._last > self._clock() + timedelta(minutes=5):
            log.warning("the newest backup generation in %s is dated %s, in the future: "
                        "a clock was wrong when it was made", self._target, self._last)
        if self._failed_at is not None and self._last is not None \
                and self._last > self._failed_at:  # made by hand since
            self._failed_at = None

    async def _run_once(self) -> None:
        assert self._job is not None
        cancel = threading.Event()
        started = time.monotonic()
        running = asyncio.get_running_loop().run_in_executor(None, self._job, cancel)
        try:
            report = await asyncio.shield(running)
        except asyncio.CancelledError:
            cancel.set()  # the run gives up and removes its partial generation
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(running), self._stop_timeout)
            raise
        except Exception as exc:
            self.failures += 1
            self._failed_at = self._clock()
            self.last_error = f"{type(exc).__name__}: {exc}"
            if isinstance(exc, BackupError | OSError):
                log.error("scheduled backup into %s failed: %s", self._target, exc)
            else:
                log.exception("scheduled backup into %s failed", self._target)
            return
        self.runs += 1
        self._failed_at = None
        self.last_error = None
        log.info("scheduled backup %s done in %.0f s: %d files copied, %d unchanged, %d "
                 "left for the next run; %d old generations removed", report.generation,
                 time.monotonic() - started, report.copied, report.linked, report.deferred,
                 len(report.pruned))
