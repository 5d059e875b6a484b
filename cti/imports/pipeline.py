"""The lead parser over a byte stream, with the costly stage in worker processes.

:class:`dialer.leads.LeadParser` splits into three stages. Here the first (bytes to
candidate rows) runs in a thread; the second (phonenumbers, time zones:
:func:`dialer.leads.check_numbers`, on plain tuples because pickling dataclasses costs
more than the checks) in an executor, normally a process pool so the work uses the other
cores; the third (free-field size, counting, in-list dedupe) back here, in row order. At
most ``in_flight`` batches of ``batch_rows`` candidates are out at once: memory stays
bounded whatever the input size, and the pool never waits for the reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterable
from concurrent.futures import Executor, ProcessPoolExecutor

from cti.db.lead_import_repository import ParsedBatch
from dialer.leads import (
    Candidate,
    Checked,
    ImportOptions,
    Item,
    LeadParser,
    Record,
    RowError,
    check_numbers,
    to_lead,
    wire,
)

BATCH_ROWS = 2_000
IN_FLIGHT_PER_WORKER = 2


def process_pool(workers: int) -> ProcessPoolExecutor:
    """Spawned, not forked: the service's threads and event loop stay out of the workers."""
    return ProcessPoolExecutor(max_workers=workers,
                               mp_context=multiprocessing.get_context("spawn"))


async def parse_stream(
    chunks: AsyncIterable[bytes],
    options: ImportOptions,
    executor: Executor | None = None,
    *,
    workers: int = 1,
    batch_rows: int = BATCH_ROWS,
) -> AsyncGenerator[ParsedBatch, None]:
    """The parser's output for ``chunks``, in row order, in batches with running totals.

    ``executor`` None resolves in a thread of the event loop's default executor.
    """
    loop = asyncio.get_running_loop()
    parser = LeadParser(options)
    in_flight = max(1, workers) * IN_FLIGHT_PER_WORKER
    pending: deque[tuple[list[Record], asyncio.Future[list[Checked | RowError]], int]] = deque()
    records: list[Record] = []
    read = 0

    def settled(sent: list[Record], checked: list[Checked | RowError],
                bytes_read: int) -> ParsedBatch:
        back = iter(checked)
        items: list[Item] = []
        for r in sent:
            if isinstance(r, Candidate):
                c = next(back)
                items.append(c if isinstance(c, RowError) else to_lead(r, c))
            else:
                items.append(r)
        s = parser.stats
        return ParsedBatch(
            items=parser.settle(items), rows=s.rows, rejected=s.errors,
            duplicates_in_list=s.duplicates, errors_by_code=dict(s.counts_by_code),
            encoding=s.encoding, format=s.format, bytes_read=bytes_read,
        )

    def send() -> None:
        nonlocal records
        rows = [wire(r) for r in records if isinstance(r, Candidate)]
        future = loop.run_in_executor(executor, check_numbers, rows, options)
        pending.append((records, future, read))
        records = []

    try:
        async for chunk in chunks:
            read += len(chunk)
            records.extend(await asyncio.to_thread(parser.feed_records, chunk))
            if len(records) >= batch_rows:
                send()
            while len(pending) >= in_flight or (pending and pending[0][1].done()):
                sent, future, at = pending.popleft()
                yield settled(sent, await future, at)
        records.extend(parser.finish_records())
        send()
        while pending:
            sent, future, at = pending.popleft()
            yield settled(sent, await future, at)
    finally:
        for _, future, _ in pending:
            future.cancel()


async def prefetched(source: AsyncGenerator[ParsedBatch, None], depth: int = 4
                     ) -> AsyncGenerator[ParsedBatch, None]:
    """``source`` read ahead by an owned task into a bounded queue: parsing goes on while
    the consumer waits for PostgreSQL to commit a batch."""
    queue: asyncio.Queue[ParsedBatch | BaseException | None] = asyncio.Queue(depth)

    async def pump() -> None:
        try:
            async for batch in source:
                await queue.put(batch)
            await queue.put(None)
        except Exception as exc:  # handed to the consumer, raised there
            await queue.put(exc)

    task = asyncio.create_task(pump(), name="lead-import-parse")
    try:
        while (got := await queue.get()) is not None:
            if isinstance(got, BaseException):
                raise got
            yield got
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await source.aclose()
