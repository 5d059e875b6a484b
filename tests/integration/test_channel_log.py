"""The store's side of settling dials from Asterisk's channel event log (table cel, written
by Asterisk's cel_pgsql): a runner's own open attempts, a call's events in order, and the
sweep of old rows. Real PostgreSQL, rows written as cel_pgsql writes them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.db import campaign_repository as campaign_repo
from cti.db import dialer_repository as repo
from cti.db.campaign_models import DialAttempt, LeadRow
from cti.db.cel_models import CelEvent
from dialer.schedule import Outcome
from tests.support.dialer_core import stored_campaign

NOW = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _cel(linkedid: str, uniqueid: str, kind: str, at: datetime, **more: str) -> dict[str, object]:
    # cel_pgsql writes UTC without a zone (usegmtime)
    return {"linkedid": linkedid, "uniqueid": uniqueid, "eventtype": kind,
            "eventtime": at.astimezone(UTC).replace(tzinfo=None), **more}


async def test_a_runner_finds_its_open_attempts_and_their_calls_log(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    campaign = await stored_campaign(db_sessionmaker, "settle")
    async with db_sessionmaker() as s:
        lead = LeadRow(campaign_id=campaign.id, phone="+8613800138000",
                       timezones=["Asia/Shanghai"])
        s.add(lead)
        await s.flush()
        prefix = f"node_1:cti-dial-{campaign.id}-"

        def attempt(call_id: str, outcome: str | None = None) -> DialAttempt:
            return DialAttempt(phone=lead.phone, campaign_id=campaign.id, lead_id=lead.id,
                               call_id=call_id, started_at=NOW, outcome=outcome)

        s.add_all([
            attempt(prefix + "a"),  # open: this runner's
            attempt(prefix + "b", "busy"),  # has its outcome
            # '_' is a LIKE wildcard: another node's dial must not pass for this one's
            attempt(f"nodeX1:cti-dial-{campaign.id}-c"),
            attempt(f"node_1:cti-dial-{campaign.id}9-d"),  # campaign 19's, not 1's
            attempt("node_1:click-e"),  # click-to-dial's
        ])
        await s.execute(insert(CelEvent), [
            _cel("x-a", "x-a", "ANSWER", NOW + timedelta(seconds=3)),
            _cel("x-a", "x-a.2", "BRIDGE_ENTER", NOW + timedelta(seconds=5),
                 channame="PJSIP/2001-00000001"),
            _cel("x-a", "x-a", "HANGUP", NOW + timedelta(seconds=60),
                 extra='{"hangupcause":16,"hangupsource":"","dialstatus":""}'),
            _cel("x-z", "x-z", "CHAN_END", NOW - timedelta(days=40)),
        ])
        await s.commit()

    async with db_sessionmaker() as s:
        left = await repo.open_dials(s, prefix, campaign_id=campaign.id)
        assert [d.call_id for d in left] == [prefix + "a"]
        assert left[0].started_at == NOW and left[0].lead_id == lead.id
        logs = await repo.channel_events(s, ["x-a", "x-none"])
    assert logs["x-none"] == []
    assert [(e.uniqueid, e.kind, e.at) for e in logs["x-a"]] == [
        ("x-a", "ANSWER", (NOW + timedelta(seconds=3)).timestamp()),
        ("x-a.2", "BRIDGE_ENTER", (NOW + timedelta(seconds=5)).timestamp()),
        ("x-a", "HANGUP", (NOW + timedelta(seconds=60)).timestamp()),
    ]
    assert logs["x-a"][1].channel == "PJSIP/2001-00000001"

    async with db_sessionmaker() as s:
        assert await repo.sweep_channel_events(s, NOW - timedelta(days=30)) == 1
        kept = (await s.execute(select(CelEvent.linkedid).distinct())).scalars().all()
    assert kept == ["x-a"]


async def test_the_first_outcome_written_stands(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """A settlement from the log can race the write it stands in for (a runner whose
    last outcome is still being written when the campaign's next runner starts): the
    second write changes nothing, nor does voiding a call that has an outcome."""
    campaign = await stored_campaign(db_sessionmaker, "first-wins")
    async with db_sessionmaker() as s:
        lead = LeadRow(campaign_id=campaign.id, phone="+8613800138001",
                       timezones=["Asia/Shanghai"], attempts=1)
        s.add(lead)
        await s.flush()
        attempt = DialAttempt(phone=lead.phone, campaign_id=campaign.id, lead_id=lead.id,
                              call_id="node1:cti-dial-x", started_at=NOW)
        manual = DialAttempt(phone="+8613800138002", started_at=NOW, call_id="node1:c2d-y")
        s.add_all([attempt, manual])
        await s.commit()
        ids = (attempt.id, manual.id, lead.id)
    async with db_sessionmaker() as s:
        assert await campaign_repo.record_outcome(
            s, ids[0], Outcome.ANSWERED, NOW + timedelta(seconds=60)) is not None
    async with db_sessionmaker() as s:
        assert await campaign_repo.record_outcome(
            s, ids[0], Outcome.NO_ANSWER, NOW + timedelta(seconds=90)) is None
        await repo.void_attempt(s, ids[0])
        await repo.close_attempt(s, ids[1], Outcome.BUSY, NOW)
        await repo.close_attempt(s, ids[1], Outcome.FAILED, NOW)
    async with db_sessionmaker() as s:
        rows = {r.id: r for r in (await s.execute(select(DialAttempt))).scalars()}
        kept = await s.get(LeadRow, ids[2])
    assert rows[ids[0]].outcome == "answered"
    assert rows[ids[0]].ended_at == NOW + timedelta(seconds=60)
    assert rows[ids[1]].outcome == "busy"
    assert kept is not None and kept.attempts == 1 and kept.last_outcome == "answered"
