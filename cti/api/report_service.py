"""Reports (``GET /v1/reports/{kind}``): read the history for a period, reduce it with
the pure reports of ``cti/reports/``, write the format asked for.

The event loop only waits: PostgreSQL sums the history (``cti/db/report_queries.py``),
and the rest of the arithmetic and the writing of the file run in a worker thread, so
AMI events, the live stream and the dialer's ticks never wait behind a report.

The whole file is written (to memory, or to a temporary file past a few megabytes)
before the response starts: a database that fails halfway is a clean 503, never a
truncated download that looks complete.
"""

from __future__ import annotations

import asyncio
import enum
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import IO

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.errors import InvalidInput
from cti.api.sessions import db_session
from cti.db import report_queries as q
from cti.reports import calls
from cti.reports.formats import MEDIA_TYPES, XLSX_MAX_ROWS, About, Format, writer
from cti.reports.groups import group_table
from cti.reports.outbound import campaign_table
from cti.reports.period import Period, PeriodError, period
from cti.reports.seats import seat_table
from cti.reports.table import Table
from dialer.numbers import InvalidTimezone, iana_zone

#: Past this a report is written to a temporary file instead of memory.
_SPOOL_BYTES = 8 * 1024 * 1024
_CHUNK = 64 * 1024


class ReportKind(enum.StrEnum):
    AGENTS = "agents"
    SKILL_GROUPS = "skill-groups"
    CAMPAIGNS = "campaigns"
    CALLS = "calls"


#: The longest period each report covers, on the calendar of the report's zone (a month
#: of 31 days is 31 days, whatever the clocks did): the detail of every call is kept to
#: a month.
LONGEST = {
    ReportKind.AGENTS: timedelta(days=366),
    ReportKind.SKILL_GROUPS: timedelta(days=366),
    ReportKind.CAMPAIGNS: timedelta(days=366),
    ReportKind.CALLS: timedelta(days=31),
}


#: Where the calls report's keyset (started_at, call id) stands in its rows.
_STARTED = [c.name for c in calls.COLUMNS].index("started_at")
_ID = [c.name for c in calls.COLUMNS].index("call_id")


@dataclass(frozen=True, slots=True)
class Report:
    filename: str
    media_type: str
    body: AsyncIterator[bytes]


class ReportService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._sessions = sessionmaker
        self._clock = clock

    async def report(self, kind: ReportKind, fmt: Format, start: str | None,
                     end: str | None, tz: str, sl_seconds: int) -> Report:
        try:
            zone = iana_zone(tz)
        except InvalidTimezone as exc:
            raise InvalidInput("tz", str(exc)) from None
        now = self._clock()
        try:
            span = period(start, end, zone, now, LONGEST[kind])
        except PeriodError as exc:
            raise InvalidInput(exc.field, exc.message) from None
        about = About(kind.value, span.start, span.end, zone, tz)
        out = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115
        try:
            if kind is ReportKind.CALLS:
                await self._calls(out, fmt, span, about)
            else:
                make = await self._table(kind, span, now, sl_seconds)
                await asyncio.to_thread(_write_all, out, fmt, make, about)
        except BaseException:
            out.close()
            raise
        day = span.start.astimezone(zone).strftime("%Y%m%d")
        last = (span.end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y%m%d")
        return Report(f"{kind.value}-{day}-{last}.{fmt.value}", MEDIA_TYPES[fmt],
                      _read(out))

    async def _table(self, kind: ReportKind, span: Period, now: datetime,
                     sl_seconds: int) -> Callable[[], Table]:
        """The database's sums for the report; the table is made from them off the loop
        (``_write_all``)."""
        async with db_session(self._sessions) as session:
            if kind is ReportKind.AGENTS:
                # Time not yet lived is not counted: today's report runs up to now.
                until = max(span.start, min(span.end, now))
                return partial(seat_table, await q.seats(session, span.end),
                               await q.seat_seconds(session, span.start, span.end, until),
                               await q.offers(session, span.start, span.end),
                               await q.pause_reasons(session))
            if kind is ReportKind.SKILL_GROUPS:
                return partial(group_table, await q.group_totals(
                    session, span.start, span.end, sl_seconds), sl_seconds)
            return partial(campaign_table, await q.campaign_dials(session, span.start, span.end),
                           await q.outcome_dials(session, span.start, span.end),
                           await q.dispositions(session, span.start, span.end))

    async def _calls(self, out: IO[bytes], fmt: Format, span: Period, about: About) -> None:
        async with db_session(self._sessions) as session:
            if fmt is Format.XLSX:
                count = await q.count_calls(session, span.start, span.end)
                if count > XLSX_MAX_ROWS:
                    raise InvalidInput("to", f"{count} calls are more than a sheet holds "
                                             f"({XLSX_MAX_ROWS}): ask for a shorter "
                                             "period, or for csv or sav")
            report = await asyncio.to_thread(writer, fmt, out, calls.COLUMNS, about)
            after: tuple[datetime, str] = (span.start, "")  # every id sorts after ""
            while True:
                page = await q.calls_after(session, span.end, after)
                if not page:
                    break
                await asyncio.to_thread(report.write, page)
                last = page[-1]
                after = (last[_STARTED], str(last[_ID]))  # type: ignore[assignment]
            await asyncio.to_thread(report.finish)


def _write_all(out: IO[bytes], fmt: Format, make: Callable[[], Table], about: About
               ) -> None:
    """In a worker thread: the table from the database's sums, then the file."""
    table = make()
    report = writer(fmt, out, table.columns, about)
    report.write(table.rows)
    report.finish()


async def _read(out: IO[bytes]) -> AsyncIterator[bytes]:
    try:
        out.seek(0)
        while chunk := await asyncio.to_thread(out.read, _CHUNK):
            yield chunk
    finally:
        out.close()
