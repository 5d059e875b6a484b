"""Import jobs: run one at a time in the background, progress in PostgreSQL, resume.

A job is created ``queued`` with its upload spooled to disk (:mod:`cti.imports.spool`);
:meth:`ImportRunner.submit` hands it to the one consumer task, which claims it
(``running``), streams the file through :func:`cti.imports.pipeline.parse_stream` into
:func:`cti.db.campaign_repository.import_leads` (committed batches) and ends it ``done``
or ``failed``. A stop of the service leaves a running job ``running`` with its spool
file; :meth:`ImportRunner.recover` at the next start resumes it after its last commit
(or fails it if the file is gone). One runner per database: the service is one process.

States: queued -> claim -> running -> finish -> done | failed; running -> (stop) ->
running (resumed by recover).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db import campaign_repository as repo
from cti.db import lead_import_repository as jobs
from cti.db.campaign_repository import ImportResume
from cti.db.lead_import_repository import ImportJobRecord
from cti.imports.pipeline import parse_stream, prefetched, process_pool
from cti.imports.spool import read_file
from dialer.leads import ImportOptions, LeadParser

log = logging.getLogger(__name__)


class ImportRunner:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        workers: int,
        batch_size: int,
        default_region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessionmaker
        self._workers = workers
        self._batch_size = batch_size
        self._default_region = default_region
        self._clock = clock
        self._queue: asyncio.Queue[int] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pool: Executor | None = None
        self._ended: dict[int, asyncio.Event] = {}

    # -- control -------------------------------------------------------------------

    def submit(self, import_id: int) -> None:
        self._ended.setdefault(import_id, asyncio.Event())
        self._queue.put_nowait(import_id)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._consume(), name="lead-imports")

    async def wait(self, import_id: int, seconds: float) -> bool:
        """True if the job ended within ``seconds`` (or was not running here)."""
        event = self._ended.get(import_id)
        if event is None:
            return True
        try:
            async with asyncio.timeout(seconds):
                await event.wait()
        except TimeoutError:
            return False
        return True

    async def recover(self) -> None:
        """At start: resume the jobs a previous run left queued or running."""
        try:
            async with self._sessions() as session:
                left = await jobs.unfinished(session)
        except Exception:  # the database is down at start: the next start resumes them
            log.exception("could not look for interrupted lead imports")
            return
        for job in left:
            log.info("lead import %d: %s at start, resuming after %d items", job.id,
                     job.state, job.items_done)
            self.submit(job.id)

    async def close(self) -> None:
        """Stop: a running job stays ``running`` (resumed at the next start)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)

    # -- the consumer ----------------------------------------------------------------

    async def _consume(self) -> None:
        while True:
            import_id = await self._queue.get()
            try:
                await self._run(import_id)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away mid-job: the job stays resumable
                log.exception("lead import %d stopped", import_id)
            finally:
                event = self._ended.pop(import_id, None)
                if event is not None:
                    event.set()

    def _executor(self) -> Executor | None:
        if self._workers > 0 and self._pool is None:
            self._pool = process_pool(self._workers)
        return self._pool

    async def _run(self, import_id: int) -> None:
        async with self._sessions() as session:
            job = await jobs.claim(session, import_id)
            campaign = None if job is None else await repo.get_campaign(session, job.campaign_id)
        if job is None or campaign is None:
            return  # ended meanwhile, or deleted with its campaign
        path = None if job.spool_path is None else Path(job.spool_path)
        if path is None or not path.exists():
            await self._end(job, "failed", "the uploaded file is gone (lost with the server's "
                                           "disk?); upload it again")
            return
        given = job.options
        options = ImportOptions(
            default_region=given.get("default_region") or campaign.default_region
            or self._default_region,
            default_timezone=campaign.default_timezone,
            encoding=given.get("encoding"),
            format=given.get("format"),
            windows=campaign.rules().cadence.windows,
        )
        refused = _refused(options)
        if refused is not None:  # options the parser refuses (an encoding gone from Python?)
            await self._end(job, "failed", refused)
            return
        log.info("lead import %d (campaign %d): running, %d bytes", job.id, job.campaign_id,
                 job.bytes_total)
        try:
            batches = prefetched(parse_stream(read_file(path), options, self._executor(),
                                              workers=self._workers))
            async with self._sessions() as session:
                report = await repo.import_leads(
                    session, job.campaign_id, batches, now=self._clock(), import_id=job.id,
                    resume=ImportResume(job.items_done, job.accepted,
                                        job.duplicates_in_campaign),
                    batch_size=self._batch_size,
                )
        except asyncio.CancelledError:
            raise  # the service stops: the job stays running, resumed at the next start
        except Exception:
            log.exception("lead import %d failed", job.id)
            # If the database is what failed, this fails too: the job stays running and the
            # next start resumes it after its last commit. The client is told what it can
            # do, not the driver's words (they are in the service's log).
            await self._end(job, "failed", _unexpected(job.id))
            return
        log.info("lead import %d: done, %d of %d rows imported", job.id, report.imported,
                 report.rows)
        await self._end(job, "done", None)

    async def _end(self, job: ImportJobRecord, state: str, error: str | None) -> None:
        async with self._sessions() as session:
            await jobs.finish(session, job.id, state, error)
        if job.spool_path is not None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(Path(job.spool_path).unlink)
        if error:
            log.warning("lead import %d: failed: %s", job.id, error)


def _refused(options: ImportOptions) -> str | None:
    """Why the parser would refuse ``options`` (an unknown encoding or region), or None."""
    try:
        LeadParser(options)
        if options.encoding is not None:
            codecs.lookup(options.encoding)
    except (ValueError, LookupError) as exc:
        return str(exc)
    return None


def _unexpected(import_id: int) -> str:
    """A failed job's ``error`` for a failure nobody foresaw: what was kept, where to look."""
    return ("the import stopped on an unexpected error; the rows committed before it are "
            f"kept and counted; the service's log has the details (lead import {import_id})")
