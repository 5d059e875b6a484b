"""The history writer: domain events -> PostgreSQL in batches, nothing lost in an outage.

``submit`` sits on the hot event path: O(1), no I/O, it only appends to a buffer. One
owned task writes batches, each in one transaction:

- ``CallUpdated``/``CallEnded`` upsert ``calls`` (latest state per call; a row never goes
  back in time and an ended call never becomes active again),
- ``CallTimelineEntry`` inserts into ``call_events``,
- ``SeatStateChanged`` inserts into ``seat_state_log`` (and the seat into ``seats`` if
  missing).

When PostgreSQL is unreachable the batch stays, the writer retries with exponential
backoff and reports ``ok=False``. Past ``buffer_limit`` pending events the oldest move to
fsync'd spill files, which are replayed first (oldest first) once the database is back,
also after a crash. Order is kept: spill segments are always older than memory.

When the spill directory cannot be written (disk full, not writable) the events go back
to the front of the buffer, the writer reports ``ok=False`` naming the spill problem and
tries again later (backing off like the database retries). If the database and the disk
both stay unavailable, nothing is dropped: memory grows with the event rate until one of
them comes back, and health says so all along. Dropping history to cap memory would be a
silent loss; an operator can free the disk while /readyz fails. Only a stop in that state
loses the events still in memory (logged with their number).

Until a call's end is written, :attr:`HistoryWriter.pending_calls` has the call (see
:mod:`cti.history.pending`): the API answers for a call that has left the live mirror
but not yet reached the ``calls`` table from there. It also has every timeline entry not
written yet, so that the call's timeline is whole in that gap too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass

from sqlalchemy import Table, and_, or_, text
from sqlalchemy.dialects.postgresql import Insert as PgInsert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.config import HistorySettings
from cti.db.models import Base
from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent
from cti.domain.model import CallState
from cti.health import ComponentStatus
from cti.history.buffer import PendingBuffer
from cti.history.pending import PendingCalls
from cti.history.records import (
    STORED_EVENTS,
    Batch,
    Record,
    build_batch,
    ended_call_ids,
    to_record,
)
from cti.history.spill import SpillStore

log = logging.getLogger(__name__)

_CALLS: Table = Base.metadata.tables["calls"]
_SEATS: Table = Base.metadata.tables["seats"]
_CALL_EVENTS: Table = Base.metadata.tables["call_events"]
_SEAT_LOG: Table = Base.metadata.tables["seat_state_log"]


def _calls_upsert() -> PgInsert:
    stmt = pg_insert(_CALLS)
    excluded = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=[_CALLS.c.id],
        set_={c.name: excluded[c.name] for c in _CALLS.c if c.name != "id"},
        where=and_(
            _CALLS.c.updated_at <= excluded.updated_at,
            or_(_CALLS.c.state != CallState.ENDED.value, excluded.state == CallState.ENDED.value),
        ),
    )


_UPSERT_CALLS = _calls_upsert()
_INSERT_SEATS = pg_insert(_SEATS).on_conflict_do_nothing(index_elements=[_SEATS.c.id])


@dataclass(slots=True)
class _Job:
    """One batch on its way to the database: from memory (events) or a spill segment."""

    records: list[Record]
    events: list[DomainEvent] | None = None  # set when taken from memory
    segment: int | None = None  # set when read from a spill segment
    # This run's events numbered below it are in this job or in earlier ones; None for a
    # segment spilled by an earlier run.
    upto: int | None = None


class HistoryWriter:
    """Writes history from domain events; owns one background task (start/stop)."""

    def __init__(
        self,
        db: AsyncEngine | async_sessionmaker[AsyncSession],
        settings: HistorySettings,
        *,
        name: str = "history",
        probe_interval: float = 5.0,
    ) -> None:
        self._sessions = (
            async_sessionmaker(db, expire_on_commit=False) if isinstance(db, AsyncEngine) else db
        )
        self._settings = settings
        self._name = name
        self._probe_interval = probe_interval
        self._buffer: PendingBuffer[DomainEvent] = PendingBuffer(settings.buffer_limit)
        self._pending_calls = PendingCalls()
        self._spill = SpillStore(settings.spill_dir)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing: asyncio.Task[None] | None = None
        self._stopping = False
        self._flush_now = False
        self._in_flight = 0
        self._spilled_upto: dict[int, int] = {}  # this run's segments -> their _Job.upto
        self._delay = settings.retry_initial
        self._next_flush = 0.0
        self._last_contact = 0.0
        # figures for health()
        self._db_up = False
        # Also numbers the events: the buffer holds those numbered from
        # ``_submitted - len(buffer)`` up, in order (see _taken).
        self._submitted = 0
        self._written = 0
        self._spilled_total = 0
        self._rejected = 0
        self._last_error: str | None = None
        # The spill directory's last failure, until a write to it succeeds or (overflow)
        # nothing needs it any more; the next overflow spill waits until _spill_retry_at.
        self._spill_error: str | None = None
        self._park_error: str | None = None  # the same for parking a rejected batch
        self._spill_retry_at = 0.0
        self._spill_delay = settings.retry_initial

    # -- hot path --------------------------------------------------------------------

    def submit(self, event: DomainEvent) -> None:
        """Queue an event for history. O(1), no I/O; ignores events history does not keep."""
        if type(event) not in STORED_EVENTS:
            return
        if isinstance(event, CallEnded):
            self._pending_calls.add(event.call)
        elif isinstance(event, CallTimelineEntry):
            self._pending_calls.add_entry(self._submitted, event)
        n = self._buffer.append(event)
        self._submitted += 1
        # The first event after a quiet spell wakes the loop too: idle, it sleeps until its
        # next database probe (seconds), and the event would wait for that instead of
        # `flush_interval` (a lone CallEnded reached history up to 5 s late).
        if n == 1 or n == self._settings.batch_size or n > self._buffer.limit:
            self._wake.set()

    # -- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is not None:
            raise RuntimeError("history writer already started")
        leftover = await asyncio.to_thread(self._spill.load)
        if leftover:
            log.warning(
                "found %d history records spilled by a previous run in %s; replaying them first",
                leftover,
                self._spill.directory,
            )
        self._task = asyncio.create_task(self._run(), name=f"{self._name}-writer")
        self._task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or (exc := task.exception()) is None:
            return
        self._last_error = f"writer task died: {type(exc).__name__}: {exc}".splitlines()[0]
        log.error(
            "history writer task died; history is no longer written (pending=%d)",
            self.pending,
            exc_info=exc,
        )

    async def stop(self, grace: float = 10.0) -> None:
        """Write what can be written within ``grace`` seconds, spill the rest to disk.

        Shielded: cancelling the caller does not interrupt the shutdown.
        """
        if self._task is None:
            return
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(grace), name=f"{self._name}-close")
        await asyncio.shield(self._closing)

    async def _close(self, grace: float) -> None:
        assert self._task is not None
        self._stopping = True
        self._wake.set()
        done, _ = await asyncio.wait({self._task}, timeout=grace)
        if not done:
            log.warning("history writer did not finish within %.1fs; spilling the rest", grace)
            self._task.cancel()
            await asyncio.wait({self._task})
        log.info(
            "history writer stopped: written=%d spilled_on_disk=%d",
            self._written,
            self._spill.records,
        )

    async def wait_idle(self) -> None:
        """Wait until everything submitted so far is in the database (tests, shutdown).

        Writes partial batches at once instead of waiting for ``flush_interval``; bound it
        with ``asyncio.timeout``. Raises RuntimeError if the writer is not running.
        """
        try:
            while self.pending:
                if self._task is None or self._task.done():
                    raise RuntimeError("history writer is not running")
                self._flush_now = True
                self._wake.set()
                await asyncio.sleep(0.01)
        finally:
            self._flush_now = False

    # -- health ----------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Events submitted but not yet in the database (memory, in flight, on disk)."""
        return len(self._buffer) + self._in_flight + self._spill.records

    @property
    def spilled(self) -> int:
        """Events waiting on disk for the database."""
        return self._spill.records

    @property
    def written(self) -> int:
        return self._written

    @property
    def rejected(self) -> int:
        """Events the database refused as invalid and that were set aside."""
        return self._rejected

    @property
    def pending_calls(self) -> PendingCalls:
        """The ended calls among those events: read it, do not change it."""
        return self._pending_calls

    def health(self) -> ComponentStatus:
        running = self._task is not None and not self._task.done()
        spill_error = self._spill_error or self._park_error
        return ComponentStatus(
            name=self._name,
            ok=self._db_up and running and spill_error is None,
            detail={
                "running": running,
                "db_up": self._db_up,
                "spill_error": spill_error,
                "pending": self.pending,
                "spilled": self._spill.records,
                "spilled_total": self._spilled_total,
                "written": self._written,
                "rejected": self._rejected,
                "last_error": self._last_error,
            },
        )

    # -- the task --------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            await self._probe()
            while True:
                await self._spill_overflow()
                job = await self._next_job()
                if job is None:
                    if self._stopping:
                        return
                    await self._wait_for_work()
                    continue
                if not await self._write(job):
                    if self._stopping:
                        return
                    await self._backoff()
        finally:
            self._spill_all()

    async def _next_job(self) -> _Job | None:
        if self._spill:
            oldest = await asyncio.to_thread(self._spill.oldest)
            if oldest is not None:
                seq, records = oldest
                return _Job(records=records, segment=seq, upto=self._spilled_upto.get(seq))
        buffered = len(self._buffer)
        if not buffered:
            return None
        due = time.monotonic() >= self._next_flush
        if buffered < self._settings.batch_size and not (due or self._stopping or self._flush_now):
            return None
        events = self._buffer.take(self._settings.batch_size)
        # Spill segments are older than memory and all written by now: nothing this run
        # took before these events is left.
        return _Job(records=self._records(events), events=events, upto=self._taken())

    def _taken(self) -> int:
        """Events numbered below this have left the buffer (for a job or a segment).

        The buffer only takes from the front and gives back to the front what it took,
        so its items are always the last ``len(buffer)`` numbers given out.
        """
        return self._submitted - len(self._buffer)

    def _records(self, events: list[DomainEvent]) -> list[Record]:
        records: list[Record] = []
        for event in events:
            try:
                rec = to_record(event)
            except Exception:  # a bug, not an outage: keep going without this event
                log.exception("cannot convert %r for history; dropped", event)
                self._rejected += 1
                if isinstance(event, CallEnded):
                    self._pending_calls.settle(event.call.id)
                continue
            if rec is not None:
                records.append(rec)
        return records

    async def _write(self, job: _Job) -> bool:
        """Write one job in one transaction. False means: retry later."""
        n = len(job.events) if job.events is not None else 0
        self._in_flight += n
        try:
            batch = build_batch(job.records)
            async with self._sessions() as session, session.begin():
                await _execute(session, batch)
        except asyncio.CancelledError:
            self._give_back(job)
            raise
        except (ValueError, KeyError, TypeError) as exc:  # malformed records
            return await self._reject(job, exc)
        except Exception as exc:
            if _refused_data(exc):
                return await self._reject(job, exc)
            self._failed(job, exc)  # unreachable, restarting, timed out: keep and retry
            return False
        finally:
            self._in_flight -= n
        self._settle(job)  # committed: the tables have them now
        if job.segment is not None:
            await self._remove_segment(job.segment)
        self._written += len(job.records)
        self._next_flush = time.monotonic() + self._settings.flush_interval
        self._contact_ok()
        log.debug("wrote %d history records (%d rows)", len(job.records), batch.rows)
        return True

    def _settle(self, job: _Job) -> None:
        """``job`` is in the database, or never will be: its calls and timeline entries,
        and every entry taken before it, are not pending."""
        for call_id in ended_call_ids(job.records):
            self._pending_calls.settle(call_id)
        if job.segment is not None:
            self._spilled_upto.pop(job.segment, None)
        if job.upto is not None:
            self._pending_calls.settle_entries(job.upto)

    def _give_back(self, job: _Job) -> None:
        if job.events is not None:
            self._buffer.push_front(job.events)

    def _failed(self, job: _Job, exc: BaseException) -> None:
        self._give_back(job)
        self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        if self._db_up:
            log.warning("history database unreachable, keeping events: %s", self._last_error)
        else:
            log.debug("history write failed again: %s", self._last_error)
        self._db_up = False

    async def _reject(self, job: _Job, exc: BaseException) -> bool:
        """The database refused the data itself: retrying would block history forever.

        The batch is parked on disk for a human. False when it cannot be (the disk): then
        it is kept like a failed write and the writer tries the whole step again later.
        """
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        try:
            path = await asyncio.to_thread(self._spill.write_rejected, job.records, reason)
        except OSError as err:
            self._give_back(job)  # a segment stays where it is, in the spill store
            first = self._park_error is None
            self._park_error = _disk_problem(
                f"parking {len(job.records)} rejected history records", self._spill, err
            )
            if first:
                log.error("%s; keeping them, trying again (refused: %s)", self._park_error, reason)
            else:
                log.debug("%s again", self._park_error)
            return False
        if self._park_error is not None:
            log.info("history spill directory writable again: rejected records parked")
            self._park_error = None
        if job.segment is not None:
            await self._remove_segment(job.segment)
        self._settle(job)
        self._rejected += len(job.records)
        self._last_error = reason
        log.error(
            "history batch of %d records rejected (%s); saved to %s",
            len(job.records),
            reason,
            path,
        )
        return True

    async def _remove_segment(self, seq: int) -> None:
        """A segment's records are committed or parked: delete it."""
        try:
            await asyncio.to_thread(self._spill.remove, seq)
        except OSError as exc:
            # Forgotten by the store all the same: this run does not write it again.
            log.error(
                "history spill segment %d is written but could not be deleted (%s); delete it "
                "by hand or the next start writes its records again",
                seq,
                exc,
            )

    def _contact_ok(self) -> None:
        if not self._db_up:
            log.info("history database reachable; pending=%d", self.pending)
        self._db_up = True
        self._delay = self._settings.retry_initial
        self._last_contact = time.monotonic()

    async def _probe(self) -> None:
        try:
            async with self._sessions() as session:
                await session.execute(text("SELECT 1"))
        except Exception as exc:
            self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if self._db_up or self._last_contact == 0.0:
                log.warning("history database unreachable: %s", self._last_error)
            self._db_up = False
            self._last_contact = time.monotonic()
        else:
            self._contact_ok()

    async def _wait_for_work(self) -> None:
        now = time.monotonic()
        if self._buffer:
            timeout = max(0.0, self._next_flush - now)
        else:
            timeout = max(0.0, self._last_contact + self._probe_interval - now)
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            if not self._buffer and not self._spill:
                await self._probe()

    async def _backoff(self) -> None:
        delay = self._delay
        self._delay = min(delay * 2, self._settings.retry_max)
        deadline = time.monotonic() + delay
        while not self._stopping:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return
            await self._spill_overflow()

    async def _spill_overflow(self) -> None:
        if not self._buffer.over_limit():
            if self._spill_error is not None:
                log.info(
                    "history buffer back under its limit (%d events); no spill needed now",
                    len(self._buffer),
                )
                self._spill_error = None
            return
        if time.monotonic() < self._spill_retry_at:
            return  # the last spill failed: not on every event, the next try is scheduled
        events = self._buffer.overflow()
        upto = self._taken()
        records = self._records(events)
        seq = self._spill.allocate()
        self._in_flight += len(events)
        try:
            await asyncio.to_thread(self._spill.write, seq, records)
        except OSError as exc:
            # Back to the front, in order: nothing lost, and memory still only holds
            # events newer than every segment. The unused number is just a gap.
            self._buffer.push_front(events)
            self._spill_failed(exc)
            return
        finally:
            self._in_flight -= len(events)
        self._spilled_upto[seq] = upto
        self._spilled_total += len(records)
        if self._spill_error is not None:
            log.info("history spill directory writable again: %d records spilled", len(records))
        self._spill_error = None
        self._spill_delay = self._settings.retry_initial
        self._spill_retry_at = 0.0

    def _spill_failed(self, exc: OSError) -> None:
        first = self._spill_error is None
        self._spill_error = _disk_problem("spilling history", self._spill, exc)
        self._spill_retry_at = time.monotonic() + self._spill_delay
        self._spill_delay = min(self._spill_delay * 2, self._settings.retry_max)
        if first:
            log.error(
                "%s; keeping %d events in memory and trying again",
                self._spill_error,
                len(self._buffer),
            )
        else:
            log.debug("%s again; %d events in memory", self._spill_error, len(self._buffer))

    def _spill_all(self) -> None:
        """Last resort on stop or cancel: park whatever is still in memory on disk."""
        events = self._buffer.drain()
        if not events:
            return
        records = self._records(events)
        try:
            self._spill.write(self._spill.allocate(), records)
        except OSError:
            log.exception("could not spill %d history records; they are lost", len(records))
            return
        self._spilled_total += len(records)


def _disk_problem(what: str, spill: SpillStore, exc: OSError) -> str:
    """One line for health and logs: what could not be written where, and why."""
    return f"{what} to {spill.directory} failed: {type(exc).__name__}: {exc}".splitlines()[0]


def _refused_data(exc: Exception) -> bool:
    """Whether PostgreSQL refused the data itself (SQLSTATE class 22 or 23).

    Such a batch fails the same way on every retry; anything else (connection lost,
    server shutting down, missing table before migration) is worth retrying. Errors come
    wrapped by SQLAlchemy (statements) or raw from asyncpg (COPY).
    """
    if isinstance(exc, IntegrityError | DataError):
        return True
    if isinstance(exc, StatementError) and not isinstance(exc, DBAPIError):
        return True  # the parameters could not even be encoded
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    return isinstance(sqlstate, str) and sqlstate[:2] in ("22", "23")


_CALL_EVENT_COLUMNS = ("call_id", "kind", "at", "seat_id", "skill_group", "detail")
_SEAT_LOG_COLUMNS = (
    "seat_id",
    "node",
    "state",
    "previous",
    "transition",
    "pause_reason",
    "call_id",
    "at",
)


async def _execute(session: AsyncSession, batch: Batch) -> None:
    """One batch, in the session's transaction: upserts via SQL, append-only rows via COPY.

    COPY (asyncpg ``copy_records_to_table`` on the same connection, hence the same
    transaction) is several times cheaper for PostgreSQL than multi-row INSERTs.
    """
    if batch.seats:
        await session.execute(_INSERT_SEATS, batch.seats)
    if batch.calls:
        await session.execute(_UPSERT_CALLS, batch.calls)
    if not (batch.call_events or batch.seat_log):
        return
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection  # the asyncpg connection
    assert driver is not None
    if batch.call_events:
        await driver.copy_records_to_table(
            _CALL_EVENTS.name,
            columns=_CALL_EVENT_COLUMNS,
            records=[
                (
                    r["call_id"],
                    r["kind"],
                    r["at"],
                    r["seat_id"],
                    r["skill_group"],
                    # SQLAlchemy's jsonb codec on the connection takes JSON text.
                    None if r["detail"] is None else json.dumps(r["detail"]),
                )
                for r in batch.call_events
            ],
        )
    if batch.seat_log:
        await driver.copy_records_to_table(
            _SEAT_LOG.name,
            columns=_SEAT_LOG_COLUMNS,
            records=[tuple(r[c] for c in _SEAT_LOG_COLUMNS) for r in batch.seat_log],
        )
