"""The runner's placing of due leads, the store faked (no database, no sockets): a block
of leads the gate refuses does not hold the campaign to a few calls a tick."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import pytest

from cti.config import DialerSettings
from cti.db import campaign_repository, dialer_repository
from cti.db.campaign_records import ClaimResult, LeadRecord
from cti.outbound import runner as runner_module
from cti.outbound.dials import Dial
from cti.outbound.runner import CampaignRunner
from dialer.campaign import windows_to_json
from dialer.compliance import Decision, Reason
from dialer.schedule import DEFAULT_WINDOWS
from tests.unit.test_outbound_callbacks import T0, FakeSession, Live, campaign, lead_record

NOW = datetime.fromtimestamp(T0, UTC)


class Store:
    """Due leads in order; the first `refused` of them over the cap (another campaign
    called those numbers today)."""

    def __init__(self, leads: int, refused: int) -> None:
        self.leads = {
            i: replace(lead_record(i, None, T0 - 60), callback_at=None, phone=f"+8613{i:09d}")
            for i in range(1, leads + 1)}
        self.refused = refused
        self.claims = 0
        self.put_off: list[int] = []

    async def due_leads(self, session: object, campaign_id: int, now: datetime,
                        limit: int) -> list[LeadRecord]:
        due = [lead for lead in self.leads.values()
               if lead.next_eligible_at is not None and lead.next_eligible_at <= now]
        return sorted(due, key=lambda lead: lead.id)[:limit]

    async def claim_dial(self, session: object, lead_id: int, now: datetime,
                         **_: object) -> ClaimResult:
        self.claims += 1
        if lead_id <= self.refused:
            return ClaimResult(Decision((Reason.CAP_DAY,)), None)
        self.leads[lead_id] = replace(self.leads[lead_id], next_eligible_at=now + timedelta(
            hours=1))
        return ClaimResult(Decision(()), lead_id)

    async def defer_lead(self, session: object, lead_id: int, until: datetime | None, *,
                         seen: datetime | None) -> bool:
        if self.leads[lead_id].next_eligible_at != seen:
            return False
        self.put_off.append(lead_id)
        self.leads[lead_id] = replace(self.leads[lead_id], next_eligible_at=until)
        return True


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    fake = Store(leads=400, refused=250)
    monkeypatch.setattr(campaign_repository, "due_leads", fake.due_leads)
    monkeypatch.setattr(campaign_repository, "claim_dial", fake.claim_dial)
    monkeypatch.setattr(dialer_repository, "defer_lead", fake.defer_lead)
    return fake


def windowed_runner() -> CampaignRunner:
    """A runner of a campaign whose calling windows are open at T0, the store faked."""
    windowed = replace(campaign(), windows=windows_to_json(DEFAULT_WINDOWS))
    return CampaignRunner(windowed, cast(Any, Live()), cast(Any, FakeSession),
                          DialerSettings(), "node1", lambda coro: coro.close(),
                          lambda *_: None, clock=lambda: T0)


async def test_a_block_of_refused_leads_is_passed_in_a_few_ticks(store: Store) -> None:
    runner = windowed_runner()
    originated: list[int] = []

    async def originate(dial: Dial) -> bool:
        originated.append(dial.lead_id)
        return True

    runner._originate = originate  # type: ignore[method-assign]
    # Tick 1: the gate refuses every lead it is shown, up to the tick's bound.
    assert await runner._place(5, 15.0, T0) == 0
    assert store.claims == runner_module.MAX_TRIED == len(store.put_off)
    # Tick 2: the rest of the block, then five calls.
    assert await runner._place(5, 15.0, T0 + 1) == 5
    assert originated == [251, 252, 253, 254, 255]
    assert len(store.put_off) == 250 and store.claims == 255
    # The leads put off are out of the due list: the next tick starts where this one ended.
    assert await runner._place(2, 15.0, T0 + 2) == 2
    assert originated[-2:] == [256, 257] and store.claims == 257


async def test_a_refused_originate_ends_the_ticks_placing(store: Store) -> None:
    """Asterisk refusing one call (down, or the trunk gone) refuses the next: the tick
    stops there instead of claiming, and voiding, every due lead in turn."""
    store.refused = 0
    runner = windowed_runner()
    tried: list[int] = []

    async def refused(dial: Dial) -> bool:
        tried.append(dial.lead_id)
        return False

    runner._originate = refused  # type: ignore[method-assign]
    assert await runner._place(5, 15.0, T0) == 0
    assert tried == [1] and store.claims == 1


async def test_a_refusal_decided_on_a_stale_read_does_not_undo_the_leads_change(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the runner's read of the due leads and its claim, a supervisor finishes
    lead 1 (or an agent's click-to-dial claims it): the claim is refused as not due, and
    putting the lead off must not make it due again."""
    store.refused = 0
    runner = windowed_runner()
    claim = store.claim_dial

    async def changed_meanwhile(session: object, lead_id: int, now: datetime,
                                **kw: object) -> ClaimResult:
        if lead_id == 1:
            store.leads[1] = replace(store.leads[1], next_eligible_at=None)
            return ClaimResult(Decision((Reason.NOT_DUE,)), None)
        return await claim(session, lead_id, now, **kw)

    monkeypatch.setattr(campaign_repository, "claim_dial", changed_meanwhile)

    async def originate(dial: Dial) -> bool:
        return True

    runner._originate = originate  # type: ignore[method-assign]
    assert await runner._place(2, 15.0, T0) == 2
    assert store.leads[1].next_eligible_at is None and 1 not in store.put_off
    assert runner.counts._finished == 0
