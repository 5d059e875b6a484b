"""The reports' sums as PostgreSQL computes them (``cti/db/report_queries.py``), held
against figures worked out by hand and, for the seat-state log, against a plain model of
what the log means (each change lasts until the seat's next one, cut at the period's
ends) over generated logs. Each example runs in a transaction rolled back afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cti.db import report_queries as q
from cti.reports.groups import group_table
from cti.reports.outbound import NO_CAMPAIGN, campaign_table
from cti.reports.seats import seat_table
from cti.reports.table import Table

pytestmark = pytest.mark.integration

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
MADE = T0 - timedelta(days=30)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def as_dict(table: Table) -> list[dict[str, object]]:
    columns = [c.name for c in table.columns]
    return [dict(zip(columns, row, strict=True)) for row in table.rows]


@asynccontextmanager
async def rolled_back(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session in a transaction that is rolled back afterwards, whatever it wrote."""
    async with engine.connect() as conn:
        tx = await conn.begin()
        try:
            yield AsyncSession(bind=conn, expire_on_commit=False)
        finally:
            await tx.rollback()


async def seats(session: AsyncSession, *ids: str) -> None:
    await session.execute(text("INSERT INTO seats (id, node, interface, created_at) "
                               "VALUES (:id, 'node1', 'PJSIP/' || :id, :made)"),
                          [{"id": i, "made": MADE} for i in ids])


async def log(session: AsyncSession, changes: Sequence[tuple[str, float, str, str | None]]
              ) -> None:
    """Seat-state changes (seat, seconds after T0, state, pause reason), in this order."""
    for seat, second, state, reason in changes:  # one by one: ids in the order given
        await session.execute(text(
            "INSERT INTO seat_state_log (seat_id, node, state, previous, transition, "
            "pause_reason, at) VALUES (:seat, 'node1', :state, 'offline', 'test', "
            ":reason, :at)"), {"seat": seat, "state": state, "reason": reason,
                               "at": at(second)})


# -- seat workload ---------------------------------------------------------------------

async def test_a_seats_day_is_cut_at_the_periods_ends_and_split_by_state(
        db_engine: AsyncEngine) -> None:
    async with rolled_back(db_engine) as session:
        await seats(session, "1001", "1002", "1003")
        await log(session, [
            ("1001", -600, "on_call", None),  # on a call when the period began
            ("1001", 60, "wrap_up", None),
            ("1001", 90, "available", None),
            ("1001", 100, "ringing", None),
            ("1001", 105, "on_call", None),
            ("1001", 285, "wrap_up", None),
            ("1001", 315, "paused", "lunch"),
            ("1001", 2115, "available", None),
            ("1001", 3000, "offline", None),
            ("1001", 4000, "available", None),  # after the period
            ("1002", -7200, "offline", None),  # never logged in: no time
            ("1003", 1800, "available", "lunch"),  # a reason outside a pause: ignored
            ("1003", 1900, "paused", None),
        ])
        seconds = await q.seat_seconds(session, at(0), at(3600), at(3600))
        table = seat_table(await q.seats(session, at(3600)), seconds,
                           {"1001": q.Offers(answered=2, not_answered=1)},
                           ["lunch", "break"])
    rows = {r["seat_id"]: r for r in as_dict(table)}
    one = rows["1001"]
    assert (one["on_call_s"], one["wrap_up_s"], one["ringing_s"]) == (60 + 180, 30 + 30, 5)
    assert one["available_s"] == 10 + 885
    assert (one["paused_s"], one["paused_lunch_s"], one["paused_break_s"]) == (1800, 1800, 0)
    assert one["logged_in_s"] == 3000
    assert (one["answered"], one["not_answered"]) == (2, 1)
    assert one["handle_avg_s"] == 150.0  # (240 + 60) / 2
    assert one["occupancy"] == round(300 / 1200, 4)
    assert rows["1002"]["logged_in_s"] == 0 and rows["1002"]["occupancy"] is None
    three = rows["1003"]
    assert (three["logged_in_s"], three["paused_unspecified_s"]) == (1800, 1700)
    assert three["paused_lunch_s"] == 0


async def test_a_period_not_over_counts_up_to_now(db_engine: AsyncEngine) -> None:
    async with rolled_back(db_engine) as session:
        await seats(session, "1001")
        await log(session, [("1001", -60, "available", None), ("1001", 1200, "on_call", None)])
        got = await q.seat_seconds(session, at(0), at(3600), until=at(600))
    assert [(s.seat_id, s.state, s.seconds) for s in got] == [("1001", "available", 600.0)]


async def test_a_seat_deleted_since_keeps_its_time(db_engine: AsyncEngine) -> None:
    """The log outlives the seat: last month's report still has the seat's time."""
    async with rolled_back(db_engine) as session:
        await seats(session, "1001")
        await log(session, [("1001", 0, "available", None), ("1001", 60, "offline", None),
                            ("2002", 0, "on_call", None), ("2002", 90, "offline", None)])
        table = seat_table(await q.seats(session, at(3600)),
                           await q.seat_seconds(session, at(0), at(3600), at(3600)), {})
    rows = {r["seat_id"]: r for r in as_dict(table)}
    assert (rows["1001"]["logged_in_s"], rows["2002"]["on_call_s"]) == (60, 90)
    assert rows["2002"]["display_name"] is None


_STATES = st.sampled_from(["offline", "available", "ringing", "on_call", "wrap_up", "paused",
                           "busy"])
_LOGS = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(-500, 4000), _STATES,
                           st.sampled_from([None, "lunch", "break"])), max_size=30)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_LOGS, st.integers(0, 4000))
async def test_each_seats_seconds_are_what_its_log_says(
        db_engine: AsyncEngine, changes: list[tuple[str, int, str, str | None]],
        now: int) -> None:
    """Whatever the log, PostgreSQL's sums equal the plain model's, and a seat's states
    add up to its logged-in time within the period."""
    start, end = 0, 3600
    until = min(end, now)
    changes = sorted(changes, key=lambda c: (c[0], c[1]))
    async with rolled_back(db_engine) as session:
        await seats(session, "a", "b")
        await log(session, changes)
        got = await q.seat_seconds(session, at(start), at(end), at(until))
    expected: dict[tuple[str, str, str | None], float] = {}
    for seat in ("a", "b"):
        # The change the seat entered the period in, then its changes within it.
        mine = [c for c in changes if c[0] == seat]
        before = [c for c in mine if c[1] < start]
        mine = before[-1:] + [c for c in mine if start <= c[1] < end]
        for i, (_, second, state, reason) in enumerate(mine):
            ends = mine[i + 1][1] if i + 1 < len(mine) else until
            begin, finish = max(second, start), min(ends, until)
            if state != "offline" and finish > begin:
                key = (seat, state, reason if state == "paused" else None)
                expected[key] = expected.get(key, 0) + finish - begin
    assert {(s.seat_id, s.state, s.pause_reason): s.seconds for s in got} == \
        pytest.approx(expected)
    for seat in ("a", "b"):
        assert 0 <= sum(s.seconds for s in got if s.seat_id == seat) <= until - start


# -- skill groups ----------------------------------------------------------------------

async def _calls(session: AsyncSession, calls: list[dict[str, Any]]) -> None:
    await session.execute(text(
        "INSERT INTO calls (id, node, linkedid, direction, state, customer_number, "
        "skill_group, seat_id, started_at, answered_at, wait_seconds, talk_seconds, "
        "abandoned, updated_at) VALUES (:id, 'node1', :id, :direction, 'ended', '+4420', "
        ":group, :seat, :at, :answered, :wait, :talk, :abandoned, :at)"),
        [{"direction": "inbound", "seat": None, "answered": None, "talk": None, "wait": None,
          "abandoned": False, "at": at(i), "id": f"c{i}", **c} for i, c in enumerate(calls)])


async def test_a_groups_service_level_counts_every_call_queued(db_engine: AsyncEngine) -> None:
    async with rolled_back(db_engine) as session:
        await session.execute(text("INSERT INTO skill_groups (name, node, created_at) "
                                   "VALUES ('sales', 'node1', :made), "
                                   "('idle', 'node1', :made)"), {"made": MADE})
        await _calls(session, [
            {"group": "sales", "answered": at(5), "wait": 5, "talk": 100, "seat": "1001"},
            {"group": "sales", "answered": at(20), "wait": 20, "talk": 60, "seat": "1002"},
            {"group": "sales", "answered": at(21), "wait": 21, "seat": "1001"},  # talk unknown
            {"group": "sales", "abandoned": True, "wait": 3},
            {"group": "sales", "wait": 300},  # the maximum wait reached
            {"group": "support", "abandoned": True, "wait": None},  # a group since deleted
            {"group": "sales", "direction": "outbound", "wait": 1},  # not queued inbound
            {"group": "sales", "wait": 1, "at": at(-1)},  # before the period
        ])
        totals = await q.group_totals(session, at(0), at(3600), sl_seconds=20)
    rows = {r["skill_group"]: r for r in as_dict(group_table(totals, sl_seconds=20))}
    sales = rows["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["other"]) == \
        (5, 3, 1, 1)
    assert sales["answered_within_sl"] == 2
    assert sales["service_level"] == 0.4 and sales["abandon_rate"] == 0.2
    assert sales["wait_answered_avg_s"] == round(46 / 3, 1)
    assert (sales["wait_max_s"], sales["talk_s"], sales["talk_avg_s"]) == (300, 160, 80.0)
    assert sales["seats_answering"] == 2
    support = rows["support"]
    assert (support["abandon_rate"], support["wait_answered_avg_s"]) == (1.0, None)
    assert (rows["idle"]["offered"], rows["idle"]["service_level"]) == (0, None)


# -- campaigns -------------------------------------------------------------------------

DIALS: list[dict[str, Any]] = [
    {"phone": "+4420", "campaign": 1, "lead": 10, "call": "k1", "outcome": "answered"},
    {"phone": "+4420", "campaign": 1, "lead": 10, "call": None, "outcome": "busy"},
    # abandoned: its call's talk is not an answered dial's
    {"phone": "+4421", "campaign": 1, "lead": 11, "call": "k3", "outcome": "abandoned"},
    {"phone": "+4422", "campaign": 1, "lead": 12, "call": None, "outcome": "no_answer"},
    {"phone": "+4423", "campaign": 1, "lead": 13, "call": None, "outcome": None},  # ringing
    {"phone": "+4499", "campaign": None, "lead": None, "call": "k2", "outcome": "answered"},
]

async def test_the_outbound_report_counts_outcomes_rates_and_dispositions(
        db_engine: AsyncEngine) -> None:
    async with rolled_back(db_engine) as session:
        await session.execute(text(
            "INSERT INTO campaigns (id, name, mode, caller_id, windows, max_attempts, "
            "retry_delays, grade_cadences, cap_per_day, cap_per_week, created_at) VALUES "
            "(:id, :name, 'progressive', '+4410', '[]', 3, '{}', '{}', 1, 1, :made)"),
            [{"id": 1, "name": "Winter", "made": MADE}, {"id": 2, "name": "Spring",
                                                         "made": MADE}])
        await session.execute(text(
            "INSERT INTO leads (id, campaign_id, phone, timezones) VALUES "
            "(10, 1, '+4420', '{}'), (11, 1, '+4421', '{}'), (12, 1, '+4422', '{}'), "
            "(13, 1, '+4423', '{}')"))
        await _calls(session, [{"id": "k1", "direction": "outbound", "group": None,
                                "talk": 120},
                               {"id": "k2", "direction": "outbound", "group": None,
                                "talk": 30},
                               {"id": "k3", "direction": "outbound", "group": None,
                                "talk": 99}])
        await session.execute(text(
            "INSERT INTO dial_attempts (phone, campaign_id, lead_id, call_id, started_at, "
            "outcome) VALUES (:phone, :campaign, :lead, :call, :at, :outcome)"),
            [{**d, "at": at(i)} for i, d in enumerate(DIALS)])
        await session.execute(text(
            "INSERT INTO dispositions (call_id, campaign_id, code) VALUES "
            "('k1', 1, 'sale'), ('k2', NULL, 'callback')"))
        table = campaign_table(await q.campaign_dials(session, at(0), at(3600)),
                               await q.outcome_dials(session, at(0), at(3600)),
                               await q.dispositions(session, at(0), at(3600)))
    winter, spring, manual = as_dict(table)
    assert (winter["campaign_id"], winter["campaign"], winter["dials"]) == (1, "Winter", 5)
    assert (winter["answered"], winter["busy"], winter["abandoned"], winter["no_answer"],
            winter["in_progress"], winter["failed"]) == (1, 1, 1, 1, 1, 0)
    assert winter["live_answers"] == 2 and winter["abandon_rate"] == 0.5
    assert winter["contact_rate"] == 0.5  # 2 live of 4 ended
    assert (winter["talk_s"], winter["talk_avg_s"]) == (120, 120.0)
    assert (winter["leads_dialed"], winter["numbers_dialed"]) == (4, 4)
    assert (winter["dispositions_sale"], winter["dispositions_callback"]) == (1, 0)
    assert (spring["campaign"], spring["dials"], spring["contact_rate"]) == ("Spring", 0, None)
    assert (manual["campaign_id"], manual["campaign"]) == (None, NO_CAMPAIGN)
    assert manual["dispositions_callback"] == 1 and manual["abandon_rate"] == 0.0
    assert (manual["talk_s"], manual["leads_dialed"], manual["numbers_dialed"]) == (30, 0, 1)
