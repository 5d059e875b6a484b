"""What a campaign runner's ticks cost PostgreSQL: statements and transactions per tick.

A runner on the real PostgreSQL with a fake live core (no Asterisk: its originates are
accepted, the test plays the customers' answers and hang-ups) and the clock in the
test's hands, ticked by hand. The abandon counters and the leads left are re-read every
``counts_reread_seconds`` (and on start), the callbacks booked for agents every
``callbacks_reread_seconds`` (and on start), not every tick: a tick between reads that
places nothing asks the store for nothing; a callback is placed once, at the first tick
its time has come (or, booked after the read before that, at the next read); and every
tick the in-memory counts equal what the store counts, while yesterday's answers roll out
of the windows.

Prints "queries per tick per campaign" with ``-s`` (the figure in the change notes).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.ami.events import AmiEvent
from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.db import dialer_repository as dialer_repo
from cti.db.campaign_models import DialAttempt, LeadRow
from cti.db.campaign_records import CampaignRecord
from cti.domain.model import Seat, SeatState, SkillGroup, SkillGroupMember
from cti.imports.pipeline import parse_stream
from cti.outbound.runner import LEADS_COUNTED, CampaignRunner
from cti.tracker.tracker import OutboundIntent
from dialer.campaign import State, cadences_to_json, delays_to_json, windows_to_json
from dialer.leads import ImportOptions
from dialer.pacing.snapshot import LOOKAHEAD_SECONDS
from dialer.schedule import DEFAULT_CADENCES, DEFAULT_RETRY_DELAYS, DEFAULT_WINDOWS

NOW = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Beijing: a window is open
TICKS = 180


class FakeConnection:
    async def send(self, action: Any, **_: Any) -> None:  # every originate is accepted
        return None


class FakeLive:
    """One agent, always free, in the campaign's group: progressive places one call at a
    time."""

    def __init__(self) -> None:
        self.conn = FakeConnection()
        member = SkillGroupMember("1001", "PJSIP/1001", 0, False, None, 1, 0, 0)
        self.group = SkillGroup("sales", "node1", members={"1001": member})
        self.seat = Seat("1001", "node1", "PJSIP/1001", SeatState.AVAILABLE,
                         skill_groups=frozenset({"sales"}), since=NOW.timestamp())

    def seats(self) -> dict[str, Seat]:
        return {"1001": self.seat}

    def skill_groups(self) -> dict[str, SkillGroup]:
        return {"sales": self.group}

    def connection(self, node: str) -> Any:
        return self.conn

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def tap(self, event_name: str, listener: Callable[[str, AmiEvent, float], None]) -> None:
        ...

    def channel_live(self, node: str, uniqueid: str) -> bool | None:
        return True  # Asterisk has each call until the test plays its hang-up


@dataclass
class Count:
    statements: int = 0
    transactions: int = 0  # each one BEGIN and one COMMIT or ROLLBACK
    checkouts: int = 0  # each pinged first (pool_pre_ping): BEGIN, ";", ROLLBACK

    @property
    def round_trips(self) -> int:
        """Round trips to PostgreSQL, once each statement is prepared on the connection."""
        return self.statements + 2 * self.transactions + 3 * self.checkouts


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[Count]:
    count = Count()

    def statement(*_: Any) -> None:
        count.statements += 1

    def begin(*_: Any) -> None:
        count.transactions += 1

    def checkout(*_: Any) -> None:
        count.checkouts += 1

    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", statement)
    event.listen(sync, "begin", begin)
    event.listen(sync.pool, "checkout", checkout)
    try:
        yield count
    finally:
        event.remove(sync, "before_cursor_execute", statement)
        event.remove(sync, "begin", begin)
        event.remove(sync.pool, "checkout", checkout)


async def _campaign(maker: async_sessionmaker[AsyncSession], leads: int) -> CampaignRecord:
    values = {
        "name": "queries", "mode": "progressive", "caller_id": "4008001234",
        "skill_group": "sales", "default_region": "CN", "default_timezone": "Asia/Shanghai",
        "windows": windows_to_json(DEFAULT_WINDOWS), "max_attempts": 3,
        "retry_delays": delays_to_json(DEFAULT_RETRY_DELAYS),
        "grade_cadences": cadences_to_json(DEFAULT_CADENCES), "cap_per_day": 1,
        "cap_per_week": 3,
    }
    body = "phone\n" + "".join(f"138001{n:05d}\n" for n in range(leads))
    async with maker() as s:
        campaign = await repo.create_campaign(s, values, [])

        async def chunks() -> AsyncIterator[bytes]:
            yield body.encode()

        batches = parse_stream(chunks(), ImportOptions(default_region="CN",
                                                        default_timezone="Asia/Shanghai"))
        await repo.import_leads(s, campaign.id, batches, now=NOW - timedelta(hours=1))
        running = await repo.change_state(s, campaign.id, State.DRAFT, State.RUNNING)
    assert running is not None
    return running


async def _history(maker: async_sessionmaker[AsyncSession], campaign_id: int) -> None:
    """Live answers (every other one abandoned) that leave the 24 h window, enter its
    hour of look-ahead, and leave the 30 days while the test ticks."""
    edges = [timedelta(days=1), timedelta(days=1) - timedelta(seconds=LOOKAHEAD_SECONDS),
             timedelta(days=30)]
    async with maker() as s:
        for n, edge in enumerate(edges):
            for k in range(8):
                started = NOW - edge + timedelta(seconds=5 + 25 * k)
                s.add(DialAttempt(phone=f"+86139{n}{k:07d}", campaign_id=campaign_id,
                                  started_at=started, ended_at=started,
                                  outcome="abandoned" if k % 2 else "answered",
                                  abandoned=bool(k % 2)))
        await s.commit()


async def _book_callback(maker: async_sessionmaker[AsyncSession], campaign_id: int,
                         at: datetime) -> str:
    """A lead not dialed yet called back at `at` by seat 1001 (a disposition's doing);
    its number."""
    async with maker() as s:
        lead = (await s.scalars(
            select(LeadRow).where(LeadRow.campaign_id == campaign_id, LeadRow.attempts == 0,
                                  LeadRow.callback_seat_id.is_(None))
            .order_by(LeadRow.id.desc()).limit(1))).one()
        lead.callback_at = lead.next_eligible_at = at
        lead.callback_seat_id = "1001"
        phone = lead.phone
        await s.commit()
    return phone


async def test_ticks_read_counts_and_callbacks_on_schedule_and_counts_match_the_store(
    db_engine: AsyncEngine, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    campaign = await _campaign(db_sessionmaker, leads=100)
    await _history(db_sessionmaker, campaign.id)
    clock = [NOW.timestamp()]
    tasks: set[asyncio.Task[None]] = set()

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    called_back: list[tuple[int, str, str]] = []

    async def callback(seat: str, number: str, campaign_id: int) -> None:
        called_back.append((round(clock[0] - NOW.timestamp()), seat, number))
        async with db_sessionmaker() as s:  # as the claim does: the callback is used up
            await s.execute(update(LeadRow).where(LeadRow.phone == number).values(
                attempts=LeadRow.attempts + 1, callback_at=None, callback_seat_id=None,
                next_eligible_at=datetime.fromtimestamp(clock[0], UTC) + timedelta(hours=1)))
            await s.commit()

    runner = CampaignRunner(campaign, cast(Any, FakeLive()), db_sessionmaker, DialerSettings(),
                            "node1", spawn, lambda *_: None, clock=lambda: clock[0],
                            callback=callback)  # as in production: callbacks are looked up
    # Booked before the run, due between two reads: the read before takes it ahead.
    early = await _book_callback(db_sessionmaker, campaign.id, NOW + timedelta(seconds=42.5))
    late = ""
    idle: list[Count] = []
    reads: list[Count] = []
    callback_reads: list[int] = []  # the ticks that read the callbacks
    callbacks_only: list[Count] = []  # of those, the ticks that did nothing else
    placing: list[Count] = []
    for n in range(TICKS):
        now = clock[0]
        if n == 61:  # booked after the read at 60 s, due before the next: seen at 65 s
            late = await _book_callback(db_sessionmaker, campaign.id,
                                        NOW + timedelta(seconds=62.5))
        # The customers answer after 2 s; every third waits for no agent (an abandon).
        for dial in list(runner.book.dials.values()):
            if now - dial.placed_at >= 2.0:
                runner.on_answer(dial.channel_id, now)
                if n % 3:
                    runner.on_connect(dial.channel_id, "1001", now)
                runner.on_hangup(dial.channel_id, 16, now)
        await asyncio.gather(*tasks)  # the outcomes are written
        placed, read_at = runner.placed + runner.callbacks, runner.counts.read_at
        callbacks_read_at = runner.due_callbacks.read_at
        with counting(db_engine) as count:
            await runner._tick()
        assert runner.problem is None
        did_place = runner.placed + runner.callbacks > placed
        if runner.due_callbacks.read_at != callbacks_read_at:
            callback_reads.append(n)
        if runner.counts.read_at != read_at:
            reads.append(count)
        elif runner.due_callbacks.read_at != callbacks_read_at:
            if not did_place:
                callbacks_only.append(count)
        else:
            (placing if did_place else idle).append(count)
        # What the pacer saw is what the store counts now.
        now_dt = datetime.fromtimestamp(now, UTC)
        midnight = runner._midnight(now_dt)
        async with db_sessionmaker() as s:
            stored = await dialer_repo.abandon_counters(s, campaign.id, now_dt, midnight)
            left = await dialer_repo.leads_left(s, campaign.id, LEADS_COUNTED)
        assert runner.counts.counters(now, midnight.timestamp()) == stored, n
        status = runner.status()  # what the tick's pacer saw, as the API reports it
        assert (status.abandon_rate_24h, status.abandon_rate_30d) == (
            stored.day.rate, stored.month.rate), n
        assert runner.counts.leads_left() == left, n
        clock[0] += 1.0
    assert runner.answered > 20 and runner.abandoned > 5, "the scenario made too few answers"
    assert len(reads) == TICKS // 60  # on start, then every minute
    callbacks_interval = DialerSettings().callbacks_reread_seconds
    assert callback_reads == list(range(0, TICKS, round(callbacks_interval)))  # on schedule
    # Each callback placed once, to its seat: at the first tick its time had come, or,
    # booked after the read before, at the next read.
    assert early != late and called_back == [(43, "1001", early), (65, "1001", late)], (
        called_back)
    assert idle and all((c.statements, c.transactions, c.checkouts) == (0, 0, 0)
                        for c in idle), idle  # between reads a tick asks nothing
    assert callbacks_only and all((c.statements, c.transactions) == (1, 1)
                                  for c in callbacks_only), callbacks_only
    callbacks_read = callbacks_only[0]
    with counting(db_engine) as reread:
        await runner._reread(clock[0], runner._midnight(NOW).timestamp())
    assert (reread.statements, reread.transactions) == (3, 1)  # counters, edge, leads
    interval = DialerSettings().counts_reread_seconds
    statements = (idle[0].statements + callbacks_read.statements / callbacks_interval
                  + reread.statements / interval)
    round_trips = (idle[0].round_trips + callbacks_read.round_trips / callbacks_interval
                   + reread.round_trips / interval)
    print(f"\nqueries per tick per campaign, a tick that places nothing: {statements:.3f} "
          f"statements, {round_trips:.3f} round trips ({idle[0].statements} between reads; "
          f"the due callbacks' {callbacks_read.statements} in {callbacks_read.round_trips} "
          f"round trips every {callbacks_interval:g} s; the re-read's {reread.statements} in "
          f"{reread.round_trips} round trips every {interval:g} s); {len(placing)} ticks "
          f"placed calls, {sum(c.statements for c in placing) / max(len(placing), 1):.1f} "
          f"statements each")
