"""What the campaign runner tells Asterisk per dial: the message an abandoned customer hears
(``[cti-dialer]``) and how long the customer rings."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import pytest

from cti.ami.events import AmiEvent
from cti.ami.values import ActionValue, check_action
from cti.config import DialerSettings
from cti.db.campaign_records import CampaignRecord
from cti.outbound.dials import Dial
from cti.outbound.runner import CampaignRunner
from cti.tracker.tracker import OutboundIntent
from dialer.pacing import Agents, Snapshot

SOUNDS = "/srv/asterisk/sounds"


class FakeConnection:
    def __init__(self) -> None:
        self.sent: list[dict[str, str | list[str]]] = []

    async def send(self, action: Mapping[str, ActionValue], **_: Any) -> None:
        self.sent.append(check_action(action))  # what the real connection checks first


class FakeLive:
    def __init__(self) -> None:
        self.conn = FakeConnection()

    def connection(self, node: str) -> Any:
        return self.conn

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None: ...

    def forget_outbound(self, call_id: str) -> None: ...

    def tap(self, event_name: str, listener: Callable[[str, AmiEvent, float], None]) -> None:
        ...


def campaign(abandon_message: str | None) -> CampaignRecord:
    now = datetime(2026, 11, 26, tzinfo=UTC)
    return CampaignRecord(
        id=7, name="acme", state="running", mode="progressive", caller_id="+862161234567",
        skill_group="sales", seats=(), default_region="CN", default_timezone="Asia/Shanghai",
        windows=[], max_attempts=3, retry_delays={}, grade_cadences={}, cap_per_day=1,
        cap_per_week=3, script="", abandon_message=abandon_message, created_at=now,
        updated_at=now,
    )


@pytest.mark.parametrize(("message", "played"), [
    (None, "tt-allbusy"),  # the service's default
    ("custom/acme-busy", "custom/acme-busy"),
    ("cti/campaigns/abandon-7", f"{SOUNDS}/campaigns/abandon-7"),
])
async def test_the_originate_carries_the_campaigns_message_or_the_default(
    message: str | None, played: str
) -> None:
    live = FakeLive()
    runner = CampaignRunner(campaign(message), cast(Any, live), cast(Any, None),
                            DialerSettings(), "node1", lambda _: None, lambda *_: None,
                            sounds_dir=SOUNDS + "/")
    dial = Dial(attempt_id=1, lead_id=1, call_id="node1:cti-dial-7-a", channel_id="cti-dial-7-a",
                number="+8613800138000", placed_at=0.0, ring_timeout=25.0)
    assert await runner._originate(dial)
    [action] = live.conn.sent
    assert f"CTI_ABANDON_MESSAGE={played}" in action["Variable"]


@pytest.mark.parametrize(("mode", "rings"), [("predictive", 17.0), ("progressive", 31.0)])
def test_a_campaign_rings_customers_as_long_as_its_mode_is_configured_to(
    mode: str, rings: float
) -> None:
    """Predictive campaigns ring CTI_DIALER__PREDICTIVE_RING_SECONDS, the others
    CTI_DIALER__CUSTOMER_RING_SECONDS: the pacer's decisions carry it to the Originate."""
    settings = DialerSettings(customer_ring_seconds=31, predictive_ring_seconds=17)
    record = dataclasses.replace(campaign(None), mode=mode)
    runner = CampaignRunner(record, cast(Any, FakeLive()), cast(Any, None), settings, "node1",
                            lambda _: None, lambda *_: None)
    snapshot = Snapshot(now=0.0, agents=Agents(free=1), settings=runner.pacing)
    assert runner.pacer.decide(snapshot).ring_timeout == rings
