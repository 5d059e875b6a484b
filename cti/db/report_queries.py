"""What the reports read from the history, streamed so that a month of it is never held
in memory. The arithmetic is in ``cti/reports/``; this module only reads rows.

Every query takes the period as [start, end) and reaches its rows through an index
(``0018_report_indexes`` adds the ones the history did not have).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from cti.reports.groups import QueuedCall
from cti.reports.outbound import DialRow
from cti.reports.seats import Offers, StateChange
from cti.reports.table import Row

#: Rows fetched per round trip when streaming.
BATCH = 5_000

# Per registered seat (the history writer registers every seat it logs): the change it
# entered the period in, then its changes within the period; the (seat_id, at) index
# serves both.
_SEAT_STATES = text("""
SELECT s.id AS seat_id, l.at, l.state, l.pause_reason
FROM seats s
CROSS JOIN LATERAL (
    (SELECT at, state, pause_reason, id FROM seat_state_log
     WHERE seat_id = s.id AND at < :start ORDER BY at DESC, id DESC LIMIT 1)
    UNION ALL
    (SELECT at, state, pause_reason, id FROM seat_state_log
     WHERE seat_id = s.id AND at >= :start AND at < :end)
) l
ORDER BY s.id, l.at, l.id
""")

_OFFERS = text("""
SELECT seat_id, kind, count(*) AS n FROM call_events
WHERE at >= :start AND at < :end AND kind IN ('answered', 'no_answer')
  AND seat_id IS NOT NULL
GROUP BY seat_id, kind
""")

_PAUSE_REASONS = text("SELECT code FROM pause_reasons ORDER BY code")

_QUEUED = text("""
SELECT skill_group, answered_at IS NOT NULL AS answered, abandoned, wait_seconds,
       talk_seconds, seat_id
FROM calls
WHERE started_at >= :start AND started_at < :end AND skill_group IS NOT NULL
  AND direction = 'inbound'
""")

_DIALS = text("""
SELECT a.campaign_id, c.name AS campaign_name, a.lead_id, a.phone, a.outcome,
       k.talk_seconds
FROM dial_attempts a
LEFT JOIN campaigns c ON c.id = a.campaign_id
LEFT JOIN calls k ON k.id = a.call_id
WHERE a.started_at >= :start AND a.started_at < :end
""")

_DISPOSITIONS = text("""
SELECT a.campaign_id, d.code, count(*) AS n
FROM dispositions d JOIN dial_attempts a ON a.call_id = d.call_id
WHERE a.started_at >= :start AND a.started_at < :end
GROUP BY a.campaign_id, d.code
""")

_CALLS_COUNT = text("SELECT count(*) FROM calls WHERE started_at >= :start AND started_at < :end")

_CALLS_PAGE = text("""
SELECT id, direction, state, customer_number, skill_group, seat_id, campaign_id,
       started_at, queued_at, answered_at, ended_at, wait_seconds, talk_seconds,
       abandoned::int, hangup_cause
FROM calls
WHERE started_at < :end AND (started_at, id) > (:after_at, :after_id)
ORDER BY started_at, id
LIMIT :limit
""")


async def _stream(session: AsyncSession, query: TextClause, start: datetime, end: datetime
                  ) -> AsyncIterator[Any]:
    """The rows of `query` over [start, end), fetched BATCH at a time."""
    result = await session.stream(query.execution_options(yield_per=BATCH),
                                  {"start": start, "end": end})
    async for row in result:
        yield row


async def seat_states(session: AsyncSession, start: datetime, end: datetime
                      ) -> AsyncIterator[StateChange]:
    async for seat_id, at, state, reason in _stream(session, _SEAT_STATES, start, end):
        yield StateChange(seat_id, at, state, reason)


async def offers(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Offers]:
    counts: dict[str, dict[str, int]] = {}
    for seat_id, kind, n in await session.execute(_OFFERS, {"start": start, "end": end}):
        counts.setdefault(seat_id, {})[kind] = n
    return {seat: Offers(answered=c.get("answered", 0), not_answered=c.get("no_answer", 0))
            for seat, c in counts.items()}


async def pause_reasons(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_PAUSE_REASONS)).all())


async def queued_calls(session: AsyncSession, start: datetime, end: datetime
                       ) -> AsyncIterator[QueuedCall]:
    async for group, answered, abandoned, wait, talk, seat in _stream(session, _QUEUED,
                                                                      start, end):
        yield QueuedCall(group, answered, abandoned, wait, talk, seat)


async def dials(session: AsyncSession, start: datetime, end: datetime
                ) -> AsyncIterator[DialRow]:
    async for campaign_id, name, lead_id, phone, outcome, talk in _stream(session, _DIALS,
                                                                          start, end):
        yield DialRow(campaign_id, name, lead_id, phone, outcome, talk)


async def dispositions(session: AsyncSession, start: datetime, end: datetime
                       ) -> dict[tuple[int | None, str], int]:
    rows = await session.execute(_DISPOSITIONS, {"start": start, "end": end})
    return {(campaign_id, code): n for campaign_id, code, n in rows}


async def count_calls(session: AsyncSession, start: datetime, end: datetime) -> int:
    return int((await session.execute(_CALLS_COUNT, {"start": start, "end": end})).scalar_one())


async def calls_after(session: AsyncSession, end: datetime, after: tuple[datetime, str],
                      limit: int = BATCH) -> list[Row]:
    """The next page of calls started before `end`, after (started_at, id) `after`."""
    rows = await session.execute(_CALLS_PAGE, {"end": end, "after_at": after[0],
                                               "after_id": after[1], "limit": limit})
    return [tuple(r) for r in rows]
