"""The lead parser over a byte stream, with the costly stage in worker processes.

:class:`dialer.leads.LeadParser` splits into three stages. Here the first (bytes to
candidate rows) runs in a thread, the second (phonenumbers, time zones:
:func:`dialer.leads.resolve_all`) in an executor, normally a process pool so the work
uses the other cores, and the third (counting, in-list dedupe) back in order. At most
``in_flight`` batches of ``batch_rows`` candidates are out at once: memory stays bounded
whatever the input size, and the pool never waits for the reader.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor

from cti.db.lead_import_repository import ParsedBatch
from dialer.leads import ImportOptions, Item, LeadParser, Record, resolve_all

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
) -> AsyncIterator[ParsedBatch]:
    """The parser's output for ``chunks``, in row order, in batches with running totals.

    ``executor`` None resolves in a thread of the event loop's default executor.
    """
    loop = asyncio.get_running_loop()
    parser = LeadParser(options)
    in_flight = max(1, workers) * IN_FLIGHT_PER_WORKER
    pending: deque[tuple[asyncio.Future[list[Item]], int]] = deque()
    records: list[Record] = []
    read = 0

    def settled(items: list[Item], bytes_read: int) -> ParsedBatch:
        s = parser.stats
        return ParsedBatch(
            items=parser.settle(items), rows=s.rows, rejected=s.errors,
            duplicates_in_list=s.duplicates, errors_by_code=dict(s.counts_by_code),
            encoding=s.encoding, format=s.format, bytes_read=bytes_read,
        )

    def send() -> None:
        nonlocal records
        pending.append((loop.run_in_executor(executor, resolve_all, records, options), read))
        records = []

    try:
        async for chunk in chunks:
            read += len(chunk)
            records.extend(await asyncio.to_thread(parser.feed_records, chunk))
            if len(records) >= batch_rows:
                send()
            while len(pending) >= in_flight or (pending and pending[0][0].done()):
                future, at = pending.popleft()
                yield settled(await future, at)
        records.extend(parser.finish_records())
        send()
        while pending:
            future, at = pending.popleft()
            yield settled(await future, at)
    finally:
        for future, _ in pending:
            future.cancel()
