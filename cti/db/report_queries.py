"""What the reports read from the history. PostgreSQL does the reduction: the workload
and outbound reports fetch sums per seat, group and campaign (a handful of rows), never
the month of history rows behind them, so neither the event loop nor memory carries a
million rows; the calls report, one row per call, is streamed a page at a time. The
arithmetic that remains (rates, averages) is in ``cti/reports/``.

Every query takes the period as [start, end) and reaches its rows through an index
(``0018_report_indexes`` adds the ones the history did not have).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cti.reports.groups import GroupTotals
from cti.reports.outbound import CampaignDials, OutcomeDials
from cti.reports.seats import Offers, StateSeconds
from cti.reports.table import Row

#: Rows fetched per round trip when streaming.
BATCH = 5_000

# Each seat's seconds per state within [start, until): per seat in the log (a seat
# deleted since keeps its history), the change it entered the period in, then its
# changes within the period; each change lasts until the seat's next one, cut at the
# period's ends. ``until`` is the period's end, or now for a period not over yet. The
# (seat_id, at) index serves it all: the seats in the log are found by skipping from one
# to the next (a loose index scan), not by reading the log.
_SEAT_SECONDS = text("""
WITH RECURSIVE logged AS (
    (SELECT seat_id FROM seat_state_log ORDER BY seat_id LIMIT 1)
    UNION ALL
    SELECT (SELECT n.seat_id FROM seat_state_log n WHERE n.seat_id > logged.seat_id
            ORDER BY n.seat_id LIMIT 1)
    FROM logged WHERE logged.seat_id IS NOT NULL
), log AS (
    SELECT s.seat_id, l.at, l.state, l.pause_reason,
           lead(l.at) OVER (PARTITION BY s.seat_id ORDER BY l.at, l.id) AS next_at
    FROM logged s
    CROSS JOIN LATERAL (
        (SELECT at, state, pause_reason, id FROM seat_state_log
         WHERE seat_id = s.seat_id AND at < :start ORDER BY at DESC, id DESC LIMIT 1)
        UNION ALL
        (SELECT at, state, pause_reason, id FROM seat_state_log
         WHERE seat_id = s.seat_id AND at >= :start AND at < :end)
    ) l
), spans AS (
    SELECT seat_id, state, CASE WHEN state = 'paused' THEN pause_reason END AS reason,
           greatest(at, :start) AS began, least(coalesce(next_at, :until), :until) AS ended
    FROM log
    WHERE state <> 'offline'
)
SELECT seat_id, state, reason, sum(extract(epoch FROM ended - began))::float8 AS seconds
FROM spans
WHERE ended > began
GROUP BY seat_id, state, reason
""")

# Every seat registered when the period ended, by its name now.
_SEATS = text("SELECT id, display_name FROM seats WHERE created_at < :end")

_OFFERS = text("""
SELECT seat_id, kind, count(*) AS n FROM call_events
WHERE at >= :start AND at < :end AND kind IN ('answered', 'no_answer')
  AND seat_id IS NOT NULL
GROUP BY seat_id, kind
""")

_PAUSE_REASONS = text("SELECT code FROM pause_reasons ORDER BY code")

# Per group, its inbound calls started in the period summed (cti/reports/groups.py says
# what each sum is); every group made before the period's end is a row, calls or not.
_GROUPS = text("""
WITH queued AS (
    SELECT skill_group,
           count(*) AS offered,
           count(*) FILTER (WHERE answered_at IS NOT NULL) AS answered,
           count(*) FILTER (WHERE answered_at IS NULL AND abandoned) AS abandoned,
           count(*) FILTER (WHERE answered_at IS NOT NULL
                            AND coalesce(wait_seconds, 0) <= :sl_seconds) AS within_sl,
           coalesce(sum(wait_seconds) FILTER (WHERE answered_at IS NOT NULL), 0)
               AS wait_answered,
           coalesce(sum(wait_seconds) FILTER (WHERE answered_at IS NULL AND abandoned), 0)
               AS wait_abandoned,
           coalesce(max(wait_seconds), 0) AS wait_max,
           coalesce(sum(talk_seconds) FILTER (WHERE answered_at IS NOT NULL), 0) AS talk,
           count(talk_seconds) FILTER (WHERE answered_at IS NOT NULL) AS talked,
           count(DISTINCT seat_id) FILTER (WHERE answered_at IS NOT NULL) AS seats
    FROM calls
    WHERE started_at >= :start AND started_at < :end AND skill_group IS NOT NULL
      AND direction = 'inbound'
    GROUP BY skill_group
)
SELECT coalesce(g.name, q.skill_group), g.display_name,
       coalesce(q.offered, 0), coalesce(q.answered, 0), coalesce(q.abandoned, 0),
       coalesce(q.within_sl, 0), coalesce(q.wait_answered, 0),
       coalesce(q.wait_abandoned, 0), coalesce(q.wait_max, 0), coalesce(q.talk, 0),
       coalesce(q.talked, 0), coalesce(q.seats, 0)
FROM queued q
FULL JOIN skill_groups g ON g.name = q.skill_group
WHERE q.skill_group IS NOT NULL OR g.created_at < :end
""")

# Per campaign (null: click-to-dial outside campaigns), its dials started in the period
# and the leads and numbers they reached; every campaign made before the period's end is
# a row, dials or not.
_CAMPAIGNS = text("""
WITH dialed AS (
    SELECT campaign_id, count(*) AS dials, count(DISTINCT lead_id) AS leads,
           count(DISTINCT phone) AS numbers
    FROM dial_attempts
    WHERE started_at >= :start AND started_at < :end
    GROUP BY campaign_id
)
SELECT coalesce(c.id, d.campaign_id), c.name, coalesce(d.dials, 0), coalesce(d.leads, 0),
       coalesce(d.numbers, 0)
FROM dialed d
FULL JOIN campaigns c ON c.id = d.campaign_id
WHERE d.dials IS NOT NULL OR c.created_at < :end
""")

# Per campaign and outcome (null: in progress), the dials and, for the answered ones,
# the talk their calls had.
_OUTCOMES = text("""
SELECT a.campaign_id, a.outcome, count(*) AS dials,
       coalesce(sum(k.talk_seconds), 0) AS talk, count(k.talk_seconds) AS talked
FROM dial_attempts a
LEFT JOIN calls k ON k.id = a.call_id AND a.outcome = 'answered'
WHERE a.started_at >= :start AND a.started_at < :end
GROUP BY a.campaign_id, a.outcome
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


async def seat_seconds(session: AsyncSession, start: datetime, end: datetime,
                       until: datetime) -> list[StateSeconds]:
    """Each seat's seconds per state within [start, until); `until` at most `end`."""
    rows = await session.execute(_SEAT_SECONDS, {"start": start, "end": end,
                                                 "until": until})
    return [StateSeconds(seat, state, seconds, reason)
            for seat, state, reason, seconds in rows]


async def seats(session: AsyncSession, end: datetime) -> dict[str, str | None]:
    """The seats registered before `end`: id -> display name."""
    return {seat_id: name for seat_id, name in await session.execute(_SEATS, {"end": end})}


async def offers(session: AsyncSession, start: datetime, end: datetime) -> dict[str, Offers]:
    counts: dict[str, dict[str, int]] = {}
    for seat_id, kind, n in await session.execute(_OFFERS, {"start": start, "end": end}):
        counts.setdefault(seat_id, {})[kind] = n
    return {seat: Offers(answered=c.get("answered", 0), not_answered=c.get("no_answer", 0))
            for seat, c in counts.items()}


async def pause_reasons(session: AsyncSession) -> list[str]:
    return list((await session.scalars(_PAUSE_REASONS)).all())


async def group_totals(session: AsyncSession, start: datetime, end: datetime,
                       sl_seconds: int) -> list[GroupTotals]:
    rows = await session.execute(_GROUPS, {"start": start, "end": end,
                                           "sl_seconds": sl_seconds})
    return [GroupTotals(*row) for row in rows]


async def campaign_dials(session: AsyncSession, start: datetime, end: datetime
                         ) -> list[CampaignDials]:
    rows = await session.execute(_CAMPAIGNS, {"start": start, "end": end})
    return [CampaignDials(*row) for row in rows]


async def outcome_dials(session: AsyncSession, start: datetime, end: datetime
                        ) -> list[OutcomeDials]:
    rows = await session.execute(_OUTCOMES, {"start": start, "end": end})
    return [OutcomeDials(*row) for row in rows]


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
