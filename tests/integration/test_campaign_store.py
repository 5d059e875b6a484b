"""The campaign store against the real PostgreSQL: import, gate history, DNC, dispositions."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db import campaign_records as rec
from cti.db import campaign_repository as repo
from cti.db import dialer_repository as dialer_repo
from cti.db import dnc_repository as dnc_repo
from cti.db import lead_import_repository as jobs
from cti.db.campaign_models import DialAttempt, LeadRow
from cti.db.lead_import_repository import ParsedBatch
from cti.imports.pipeline import parse_stream, process_pool
from dialer.campaign import State, cadences_to_json, delays_to_json, windows_to_json
from dialer.compliance import Reason
from dialer.dispositions import DispositionCode, DispositionError
from dialer.leads import ImportOptions
from dialer.schedule import DEFAULT_CADENCES, DEFAULT_RETRY_DELAYS, DEFAULT_WINDOWS, Grade, Outcome

pytestmark = pytest.mark.integration

NOW = datetime(2025, 6, 2, 3, 0, tzinfo=UTC)  # Monday 11:00 in Beijing
CN = ImportOptions(default_region="CN", default_timezone="Asia/Shanghai")


def campaign_values(name: str, **kw: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "name": name,
        "mode": "progressive",
        "caller_id": "4008001234",
        "skill_group": "sales",
        "default_region": "CN",
        "default_timezone": "Asia/Shanghai",
        "windows": windows_to_json(DEFAULT_WINDOWS),
        "max_attempts": 3,
        "retry_delays": delays_to_json(DEFAULT_RETRY_DELAYS),
        "grade_cadences": cadences_to_json(DEFAULT_CADENCES),
        "cap_per_day": 1,
        "cap_per_week": 3,
    }
    values.update(kw)
    return values


async def stream(data: bytes, size: int = 4096) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def parsed(data: bytes, size: int = 4096, options: ImportOptions = CN,
           batch_rows: int = 3) -> AsyncIterator[ParsedBatch]:
    """The parser's output as the import job gets it (resolved in a thread here)."""
    return parse_stream(stream(data, size), options, batch_rows=batch_rows)


@pytest.fixture
async def campaign(db_session: AsyncSession) -> rec.CampaignRecord:
    return await repo.create_campaign(db_session, campaign_values("spring"), ["1001", "1002"])


async def test_campaign_round_trip(db_session: AsyncSession, campaign: rec.CampaignRecord) -> None:
    got = await repo.get_campaign(db_session, campaign.id)
    assert got is not None and got.seats == ("1001", "1002") and got.state == "draft"
    rules = got.rules()
    assert rules.cap.per_day == 1 and rules.cadence.windows == DEFAULT_WINDOWS
    with pytest.raises(rec.CampaignNameTaken):
        await repo.create_campaign(db_session, campaign_values("spring"), [])
    updated = await repo.update_campaign(db_session, campaign.id, {"max_attempts": 5}, ["1003"])
    assert updated is not None and updated.max_attempts == 5 and updated.seats == ("1003",)
    running = await repo.change_state(db_session, campaign.id, State.DRAFT, State.RUNNING)
    assert running is not None and running.state == "running"
    with pytest.raises(rec.StateConflict):
        await repo.change_state(db_session, campaign.id, State.DRAFT, State.RUNNING)


GBK_CSV = (
    "电话,姓名,等级,时区\n"
    "13800138000,张三,H,\n"
    "0991-5551234,李四,A,\n"
    "12345,坏号码,A,\n"
    "13800138001,王五,X,\n"
    "13800138002,赵六,B,Mars/Base\n"
    "13800138000,重复,A,\n"
    "13800138003,钱七,,\n"
).encode("gbk")


async def test_import_streams_good_rows_and_reports_bad_ones(
    db_session: AsyncSession, campaign: rec.CampaignRecord
) -> None:
    seen: list[rec.ImportProgress] = []
    report = await repo.import_leads(
        db_session, campaign.id, parsed(GBK_CSV, 7), now=NOW, batch_size=2,
        progress=seen.append,
    )
    assert (report.rows, report.imported, report.rejected) == (7, 3, 3)
    assert report.duplicates_in_list == 1 and report.duplicates_in_campaign == 0
    assert report.encoding == "gb18030" and report.format == "csv"
    assert [(e.row, e.field, e.code) for e in report.errors] == [
        (4, "phone", "invalid_number"),
        (5, "grade", "invalid_grade"),
        (6, "timezone", "unknown_timezone"),
        (7, "phone", "duplicate_in_list"),
    ]
    assert seen and seen[-1].imported == 3  # progress after every batch

    urumqi = await repo.lead_by_phone(db_session, campaign.id, "+869915551234")
    assert urumqi is not None
    assert urumqi.timezones == ("Asia/Urumqi",) and urumqi.grade == "A"
    assert urumqi.fields == {"姓名": "李四"} and urumqi.next_eligible_at == NOW

    # The same list again: everything is already in the campaign, nothing is added.
    again = await repo.import_leads(db_session, campaign.id, parsed(GBK_CSV), now=NOW)
    assert again.imported == 0 and again.duplicates_in_campaign == 3
    total = await db_session.scalar(select(func.count()).select_from(LeadRow))
    assert total == 3
    # Rows get created_at from the database clock: two days on, none was called in time.
    soon = await repo.campaign_stats(db_session, campaign.id, datetime.now(UTC))
    later = await repo.campaign_stats(db_session, campaign.id,
                                      datetime.now(UTC) + timedelta(days=2))
    assert (soon.leads_overdue, later.leads_overdue) == (0, 3)


async def test_an_interrupted_job_resumes_without_adding_or_reporting_twice(
    db_session: AsyncSession, campaign: rec.CampaignRecord
) -> None:
    rows = [f"139{i:08d}" for i in range(100)]
    rows[10] = rows[20] = "12345"  # bad numbers
    rows[30] = rows[5]  # a duplicate within the list
    data = ("phone\n" + "\n".join(rows) + "\n").encode()
    job = await jobs.create_import(db_session, campaign.id, {}, "/nonexistent", len(data))

    async def broken() -> AsyncIterator[ParsedBatch]:
        async for batch in parsed(data, 256, batch_rows=10):
            yield batch
            if batch.rows >= 50:
                raise ConnectionResetError("the service stopped")

    with pytest.raises(ConnectionResetError):
        await repo.import_leads(db_session, campaign.id, broken(), now=NOW, import_id=job.id,
                                batch_size=10)
    half = await jobs.get_import(db_session, campaign.id, job.id)
    assert half is not None and 0 < half.items_done < 100 and half.accepted > 0
    committed = await db_session.scalar(select(func.count()).select_from(LeadRow))
    assert committed == half.accepted  # the job row says exactly what is committed
    await db_session.commit()

    report = await repo.import_leads(
        db_session, campaign.id, parsed(data, 256, batch_rows=10), now=NOW, import_id=job.id,
        resume=repo.ImportResume(half.items_done, half.accepted, half.duplicates_in_campaign),
        batch_size=10,
    )
    assert (report.rows, report.imported, report.rejected) == (100, 97, 2)
    assert report.duplicates_in_list == 1 and report.duplicates_in_campaign == 0
    assert await db_session.scalar(select(func.count()).select_from(LeadRow)) == 97
    errors, total = await jobs.errors_page(db_session, job.id, limit=10, offset=0)
    assert total == 3  # each bad row reported once, across the interruption
    assert [(e.row, e.code) for e in errors] == [
        (12, "invalid_number"), (22, "invalid_number"), (32, "duplicate_in_list")]
    done = await jobs.get_import(db_session, campaign.id, job.id)
    assert done is not None and (done.accepted, done.rejected, done.items_done) == (97, 2, 100)


async def test_a_pool_of_processes_gives_what_one_thread_gives(
    db_session: AsyncSession, campaign: rec.CampaignRecord
) -> None:
    data = GBK_CSV + "".join(f"139{i:08d},x,B,\n" for i in range(500)).encode("gbk")
    pool = process_pool(1)
    try:
        pooled = [i for b in [b async for b in parse_stream(stream(data, 100), CN, pool,
                                                              batch_rows=50)] for i in b.items]
    finally:
        pool.shutdown()
    threaded = [i for b in [b async for b in parsed(data, 100)] for i in b.items]
    assert pooled == threaded and len(pooled) == 507


async def _one_lead(session: AsyncSession, campaign_id: int, phone: str) -> rec.LeadRecord:
    await repo.import_leads(session, campaign_id, parsed(f"phone\n{phone}\n".encode()),
                            now=NOW - timedelta(hours=1))
    lead = await repo.lead_by_phone(session, campaign_id, "+86" + phone)
    assert lead is not None
    await session.commit()  # end the read's transaction: the next import commits its own
    return lead


async def test_gate_caps_count_dials_across_campaigns(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    async with db_sessionmaker() as s:
        other = await repo.create_campaign(s, campaign_values("autumn"), [])
        first = await _one_lead(s, campaign.id, "13800138000")
        second = await _one_lead(s, other.id, "13800138000")
    async with db_sessionmaker() as s:
        claim = await repo.claim_dial(s, first.id, NOW, call_id="node1:1.1")
        assert claim is not None and claim.decision.allowed and claim.attempt_id is not None
    async with db_sessionmaker() as s:
        again = await repo.claim_dial(s, first.id, NOW + timedelta(seconds=1))
        assert again is not None and Reason.NOT_DUE in again.decision.reasons  # call is on
    async with db_sessionmaker() as s:
        refused = await repo.claim_dial(s, second.id, NOW + timedelta(minutes=5))
        assert refused is not None and refused.attempt_id is None
        assert refused.decision.reasons == (Reason.CAP_DAY,)
        lead = await repo.get_lead(s, first.id)
        assert lead is not None and lead.attempts == 1
        # A day later the daily cap is free again.
        later = await repo.claim_dial(s, second.id, NOW + timedelta(days=1, minutes=1))
        assert later is not None and later.decision.allowed


async def test_outcomes_reschedule_and_abandoned_calls_block_72_hours(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    async with db_sessionmaker() as s:
        lead = await _one_lead(s, campaign.id, "13800138000")
        claim = await repo.claim_dial(s, lead.id, NOW, call_id="node1:2.1")
        assert claim is not None and claim.attempt_id is not None
        after = await repo.record_outcome(s, claim.attempt_id, Outcome.ABANDONED,
                                          NOW + timedelta(seconds=20))
        assert after is not None and after.last_outcome == "abandoned"
        assert after.next_eligible_at is not None
        assert after.next_eligible_at >= NOW + timedelta(hours=72)
    async with db_sessionmaker() as s:
        t = NOW + timedelta(days=2)  # caps are free; the 72 hours are not over
        decision = await repo.check_lead(s, lead.id, t)
        assert decision is not None and Reason.ABANDONED_72H in decision.reasons
        reserved = await repo.check_lead(s, lead.id, t, agent_reserved=True)
        assert reserved is not None and Reason.ABANDONED_72H not in reserved.reasons
        histories = await repo.number_histories(s, [lead.phone, "+8613900000000"], None, t)
        assert histories[lead.phone].last_abandoned_at == NOW
        assert histories["+8613900000000"].recent_dials == ()


async def test_dnc_global_and_per_campaign(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    async with db_sessionmaker() as s:
        lead = await _one_lead(s, campaign.id, "13800138000")
        assert await dnc_repo.add_dnc(s, lead.phone, reason="asked")
        assert not await dnc_repo.add_dnc(s, lead.phone)  # already there
        assert await dnc_repo.add_dnc(s, lead.phone, campaign_id=campaign.id)
    async with db_sessionmaker() as s:
        decision = await repo.check_lead(s, lead.id, NOW)
        assert decision is not None
        assert decision.reasons == (Reason.DNC_GLOBAL, Reason.DNC_CAMPAIGN)
        claim = await repo.claim_dial(s, lead.id, NOW)
        assert claim is not None and claim.attempt_id is None
        entries, total = await dnc_repo.list_dnc(s, limit=10, offset=0)
        assert total == 1 and entries[0].reason == "asked"
        assert await dnc_repo.remove_dnc(s, lead.phone)
        assert await dnc_repo.remove_dnc(s, lead.phone, campaign_id=campaign.id)
        decision = await repo.check_lead(s, lead.id, NOW)
        assert decision is not None and decision.allowed


async def test_dispositions(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    async with db_sessionmaker() as s:
        a = await _one_lead(s, campaign.id, "13800138000")
        b = await _one_lead(s, campaign.id, "13800138001")
        for lead, call in ((a, "node1:3.1"), (b, "node1:3.2")):
            claim = await repo.claim_dial(s, lead.id, NOW, call_id=call, seat_id="1001")
            assert claim is not None and claim.attempt_id is not None
            await repo.record_outcome(s, claim.attempt_id, Outcome.ANSWERED, NOW)
    async with db_sessionmaker() as s:
        refusal = await dnc_repo.record_disposition(
            s, "node1:3.1", DispositionCode.DO_NOT_CALL, NOW, notes="angry", user_id=None
        )
        assert refusal.added_to_dnc and refusal.next_eligible_at is None
        cb_at = NOW + timedelta(days=1)
        callback = await dnc_repo.record_disposition(
            s, "node1:3.2", DispositionCode.CALLBACK, NOW, callback_at=cb_at, grade=Grade.H,
            seat_id="1001",
        )
        assert callback.next_eligible_at == cb_at  # 11:00 Beijing, inside the window
        with pytest.raises(rec.UnknownCall):
            await dnc_repo.record_disposition(s, "node1:nope", DispositionCode.OTHER, NOW)
        with pytest.raises(DispositionError):
            await dnc_repo.record_disposition(s, "node1:3.2", DispositionCode.CALLBACK, NOW)
    async with db_sessionmaker() as s:
        decision = await repo.check_lead(s, a.id, NOW + timedelta(days=8))
        assert decision is not None and Reason.DNC_GLOBAL in decision.reasons
        lead_b = await repo.get_lead(s, b.id)
        assert lead_b is not None
        assert (lead_b.callback_at, lead_b.callback_seat_id, lead_b.grade) == (cb_at, "1001", "H")
        stats = await repo.campaign_stats(s, campaign.id, NOW)
        assert stats.leads == 2 and stats.attempts == 2
        assert stats.outcomes == {"answered": 2}
        assert stats.dispositions == {"do_not_call": 1, "callback": 1}
        assert stats.leads_finished == 1
        later = await repo.campaign_stats(s, campaign.id, datetime.now(UTC) + timedelta(days=2))
        assert later.leads_overdue == 0  # both were called


async def test_concurrent_claims_on_one_number_pass_the_cap_once(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    """Five campaigns hold the same number; five dialers claim it at once: one dial.

    (Without the per-number advisory lock in claim_dial this fails: each transaction sees
    no dial yet.)
    """
    leads = [await _one_lead_in_new_campaign(db_sessionmaker, i) for i in range(5)]

    async def claim(lead_id: int) -> rec.ClaimResult | None:
        async with db_sessionmaker() as s:
            return await repo.claim_dial(s, lead_id, NOW)

    results = await asyncio.gather(*(claim(lead_id) for lead_id in leads))
    allowed = [r for r in results if r is not None and r.decision.allowed]
    assert len(allowed) == 1
    refused = [r for r in results if r is not None and not r.decision.allowed]
    assert all(Reason.CAP_DAY in r.decision.reasons for r in refused) and len(refused) == 4


async def _one_lead_in_new_campaign(
    maker: async_sessionmaker[AsyncSession], i: int
) -> int:
    async with maker() as s:
        c = await repo.create_campaign(s, campaign_values(f"c{i}"), [])
        lead = await _one_lead(s, c.id, "13800138000")
    return lead.id


async def test_leads_left_counts_what_may_still_be_dialed_up_to_a_cap(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    async with db_sessionmaker() as s:
        phones = [f"1380013800{i}" for i in range(5)]
        leads = [await _one_lead(s, campaign.id, phone) for phone in phones]
        assert await dialer_repo.leads_left(s, campaign.id, cap=100) == 5
        assert await dialer_repo.leads_left(s, campaign.id, cap=3) == 3
        for lead, until in ((leads[0], None), (leads[1], NOW + timedelta(days=1))):
            # done for good, and later
            assert await dialer_repo.defer_lead(s, lead.id, until, seen=lead.next_eligible_at)
        # read before someone else moved it: the other change stands
        assert not await dialer_repo.defer_lead(s, leads[2].id, None,
                                                seen=NOW - timedelta(days=5))
        assert await dialer_repo.leads_left(s, campaign.id, cap=100) == 4
        other = await repo.create_campaign(s, campaign_values("autumn"), [])
        assert await dialer_repo.leads_left(s, other.id, cap=100) == 0
        assert await dialer_repo.leads_left(s, campaign.id, 100, exclude=[leads[2].id]) == 3


async def test_counters_and_the_edge_leave_out_the_attempts_asked(
    db_session: AsyncSession, campaign: rec.CampaignRecord
) -> None:
    """The runner's re-read: the windows at NOW, the live outcomes about to leave them
    (grouped by start), and both without the attempts whose writes it has under way."""
    day, month = timedelta(days=1), timedelta(days=30)
    starts = {  # start -> outcome
        NOW - timedelta(minutes=5): "answered", NOW - day + timedelta(seconds=30): "abandoned",
        NOW - day + timedelta(minutes=30): "answered",
        NOW - day + timedelta(minutes=61): "answered",  # within the hour and a minute
        NOW - day + timedelta(minutes=62): "answered",  # not yet
        NOW - month + timedelta(seconds=59): "abandoned", NOW - month - timedelta(seconds=1):
        "answered", NOW - timedelta(hours=2): "busy",
    }
    rows = [DialAttempt(phone=f"+861380013{i:04d}", campaign_id=campaign.id, started_at=at,
                        outcome=o, abandoned=o == "abandoned")
            for i, (at, o) in enumerate(starts.items())]
    db_session.add_all(rows)
    await db_session.commit()
    midnight = NOW - timedelta(hours=11)
    got = await dialer_repo.abandon_counters(db_session, campaign.id, NOW, midnight)
    assert (got.today.live, got.day.live, got.day.abandoned) == (1, 5, 1)
    assert (got.month.live, got.month.abandoned, got.day_leaving.live) == (6, 2, 2)
    edge = await dialer_repo.leaving_soon(db_session, campaign.id, NOW, timedelta(minutes=1))
    assert edge == [(NOW - month + timedelta(seconds=59), 1, 1),
                    (NOW - day + timedelta(seconds=30), 1, 1),
                    (NOW - day + timedelta(minutes=30), 1, 0),
                    (NOW - day + timedelta(minutes=61), 1, 0)]
    left_out = [rows[0].id, rows[1].id]
    got = await dialer_repo.abandon_counters(db_session, campaign.id, NOW, midnight, left_out)
    assert (got.today.live, got.day.live, got.day.abandoned, got.month.live) == (0, 3, 0, 4)
    edge = await dialer_repo.leaving_soon(db_session, campaign.id, NOW, timedelta(minutes=1),
                                          left_out)
    assert [at for at, _, _ in edge] == [NOW - month + timedelta(seconds=59),
                                         NOW - day + timedelta(minutes=30),
                                         NOW - day + timedelta(minutes=61)]


async def test_new_leads_inside_their_follow_up_deadline_are_dialed_first(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    """The handbooks: new leads followed up within 24 hours (a rate of at least 90%)."""
    w = NOW  # Monday 11:00 in Beijing, inside the calling windows
    shape = {  # phone: (created, next due, attempts, first dialed)
        "13800138001": (w - timedelta(hours=2), w - timedelta(hours=2), 0, None),  # fresh
        "13800138002": (w - timedelta(hours=1), w - timedelta(hours=1), 0, None),  # fresh
        "13800138003": (w - timedelta(hours=30), w - timedelta(hours=30), 0, None),  # overdue
        "13800138004": (w - timedelta(hours=10), w - timedelta(hours=3), 1,  # a retry
                        w - timedelta(hours=9)),
        "13800138005": (w - timedelta(hours=30), None, 0, None),  # DNC before any dial
        "13800138006": (w - timedelta(hours=1), w + timedelta(hours=1), 0, None),  # later
    }
    ids = {}
    async with db_sessionmaker() as s:
        for phone, (created, due, attempts, first) in shape.items():
            lead = await _one_lead(s, campaign.id, phone)
            ids[phone] = lead.id
            await s.execute(update(LeadRow).where(LeadRow.id == lead.id).values(
                created_at=created, next_eligible_at=due, attempts=attempts,
                first_attempt_at=first))
        await s.commit()

        async def order(limit: int) -> list[str]:
            due = await repo.due_leads(s, campaign.id, w, limit)
            return [lead.phone[-1] for lead in due]

        # Fresh ones oldest first, then the rest soonest due (an overdue new lead queues
        # with the retries).
        assert await order(10) == ["1", "2", "3", "4"]
        assert await order(1) == ["1"]
        assert await order(3) == ["1", "2", "3"]

        for phone in ("13800138001", "13800138003"):
            claim = await repo.claim_dial(s, ids[phone], w, call_id=f"node1:{phone}")
            assert claim is not None and claim.attempt_id is not None, claim
        stats = await repo.campaign_stats(s, campaign.id, w)
        # Dialed in time: 1 (2 h after import) and 4 (1 h); 3 came 30 h after its import.
        # Not judged: 2 and 6 (still inside their 24 h), 5 (finished undialed: DNC).
        assert (stats.followed_up_in_time, stats.follow_up_judged) == (2, 3)
        assert stats.follow_up_rate == pytest.approx(2 / 3)
        # A dial voided before the customer was dialed was no follow-up.
        first = await s.scalar(select(DialAttempt.id).where(
            DialAttempt.call_id == "node1:13800138001"))
        assert first is not None
        await dialer_repo.void_attempt(s, first)
        again = await repo.campaign_stats(s, campaign.id, w)
        assert (again.followed_up_in_time, again.follow_up_judged) == (1, 2)


async def test_a_disposition_made_on_the_call_survives_the_calls_outcome(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    """The agent says "not interested" (or books a callback) while the customer is still
    on the line; the call's outcome, written when it ends, must not make the lead due
    again on the cadence."""
    cb_at = NOW + timedelta(days=1)
    async with db_sessionmaker() as s:
        refused = await _one_lead(s, campaign.id, "13800138000")
        called_back = await _one_lead(s, campaign.id, "13800138001")
        other = await _one_lead(s, campaign.id, "13800138002")
        claims = {}
        for lead, call in ((refused, "node1:9.1"), (called_back, "node1:9.2"),
                           (other, "node1:9.3")):
            claim = await repo.claim_dial(s, lead.id, NOW, call_id=call, seat_id="1001")
            assert claim is not None and claim.attempt_id is not None
            claims[call] = claim.attempt_id
    async with db_sessionmaker() as s:
        await dnc_repo.record_disposition(s, "node1:9.1", DispositionCode.NOT_INTERESTED,
                                          NOW + timedelta(minutes=1), seat_id="1001")
        await dnc_repo.record_disposition(s, "node1:9.2", DispositionCode.CALLBACK,
                                          NOW + timedelta(minutes=1), callback_at=cb_at,
                                          seat_id="1001")
        await dnc_repo.record_disposition(s, "node1:9.3", DispositionCode.OTHER,
                                          NOW + timedelta(minutes=1), seat_id="1001")
    async with db_sessionmaker() as s:
        for attempt_id in claims.values():
            await repo.record_outcome(s, attempt_id, Outcome.ANSWERED, NOW + timedelta(minutes=2))
    async with db_sessionmaker() as s:
        after = {lead.id: await repo.get_lead(s, lead.id)
                 for lead in (refused, called_back, other)}
    assert after[refused.id] is not None and after[refused.id].next_eligible_at is None
    back = after[called_back.id]
    assert back is not None and (back.next_eligible_at, back.callback_at) == (cb_at, cb_at)
    # "other" leaves the schedule to the outcome: the grade's cadence after an answer
    assert after[other.id] is not None and after[other.id].next_eligible_at is not None
    assert after[other.id].next_eligible_at > NOW + timedelta(days=1)


async def _called_back(maker: async_sessionmaker[AsyncSession], campaign_id: int,
                       call_id: str) -> tuple[rec.LeadRecord, datetime]:
    """A lead called (`call_id`), answered, and booked by seat 1001 for a callback at
    11:30 in Beijing (inside a window): the lead and the callback's time."""
    cb_at = NOW + timedelta(minutes=30)
    async with maker() as s:
        lead = await _one_lead(s, campaign_id, "13800138000")
        claim = await repo.claim_dial(s, lead.id, NOW, call_id=call_id, seat_id="1001")
        assert claim is not None and claim.attempt_id is not None
        await repo.record_outcome(s, claim.attempt_id, Outcome.ANSWERED, NOW)
    async with maker() as s:
        await dnc_repo.record_disposition(s, call_id, DispositionCode.CALLBACK, NOW,
                                          callback_at=cb_at, seat_id="1001")
    return lead, cb_at


async def test_a_callback_the_gate_refuses_is_put_off_for_good_in_the_database(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    """The runner puts off a callback whose number went on DNC after it was booked; the
    put-off must reach the database (it was rolled back with the session that read the
    lead, so the callback came back at every read)."""
    from cti.config import DialerSettings
    from cti.outbound.errors import DialRefused
    from cti.outbound.runner import CampaignRunner
    from tests.unit.test_outbound_callbacks import Live

    lead, cb_at = await _called_back(db_sessionmaker, campaign.id, "node1:7.1")
    async with db_sessionmaker() as s:
        running = await repo.get_campaign(s, campaign.id)
    assert running is not None
    asked: list[str] = []

    async def dial(seat: str, number: str, campaign_id: int) -> None:
        asked.append(number)
        raise DialRefused(number, ["dnc_global"])

    at = cb_at.timestamp() + 1
    runner = CampaignRunner(running, Live(), db_sessionmaker, DialerSettings(), "node1",
                            lambda coro: coro.close(), lambda *_: None, clock=lambda: at,
                            callback=dial)
    await runner._callbacks(at)
    assert asked == [lead.phone]
    async with db_sessionmaker() as s:
        after = await repo.get_lead(s, lead.id)
    assert after is not None and after.next_eligible_at is None


async def test_a_voided_callback_dial_gives_the_callback_back(
    db_sessionmaker: async_sessionmaker[AsyncSession], campaign: rec.CampaignRecord
) -> None:
    """The callback's click-to-dial rings its agent, who does not answer: the customer
    was never called, so the callback is booked again for that agent, not dropped."""
    lead, cb_at = await _called_back(db_sessionmaker, campaign.id, "node1:8.1")
    async with db_sessionmaker() as s:
        claim = await repo.claim_dial(s, lead.id, cb_at, call_id="node1:cti-c2d-8",
                                      seat_id="1001", agent_reserved=True)
        assert claim is not None and claim.attempt_id is not None
        taken = await repo.get_lead(s, lead.id)
        assert taken is not None and taken.callback_at is None  # used up by the dial
    async with db_sessionmaker() as s:
        await dialer_repo.void_attempt(s, claim.attempt_id)
    async with db_sessionmaker() as s:
        back = await repo.get_lead(s, lead.id)
    assert back is not None
    assert (back.callback_at, back.callback_seat_id, back.attempts) == (cb_at, "1001", 1)



async def test_a_voided_requests_key_is_kept_until_swept(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A click-to-dial whose agent never answered is voided (no cap used); its
    Idempotency-Key still names the call for the request's retries, until swept."""
    from dialer.compliance import FrequencyCap

    async with db_sessionmaker() as s:
        claim = await dialer_repo.claim_manual(
            s, "+8613800138000", NOW, FrequencyCap(3, 5), campaign_id=None, windows=None,
            zones=(), call_id="node1:cti-c2d-k", seat_id="1001", request_key="k-1")
    assert claim.attempt_id is not None
    async with db_sessionmaker() as s:
        await dialer_repo.void_attempt(s, claim.attempt_id)
    async with db_sessionmaker() as s:
        found = await dialer_repo.request_by_key(s, "k-1")
        assert found == dialer_repo.KeyedRequest(claim.attempt_id, "node1:cti-c2d-k",
                                                 "+8613800138000", "1001", None)
        assert await dialer_repo.request_by_key(s, "k-2") is None
        assert await s.scalar(select(func.count()).select_from(DialAttempt)) == 0
    async with db_sessionmaker() as s:
        assert await dialer_repo.sweep_voided_requests(
            s, datetime.now(UTC) + timedelta(seconds=1)) == 1
    async with db_sessionmaker() as s:
        assert await dialer_repo.request_by_key(s, "k-1") is None
