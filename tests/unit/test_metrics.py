"""GET /metrics: the figures are right, and the page is what Prometheus parses.

Pages are read back with prometheus_client's own text parser, as a scraper would.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from cti.config import Settings
from cti.domain.events import CallEnded, CallTimelineEntry, SeatStateChanged
from cti.domain.model import (
    Call,
    CallDirection,
    CallState,
    Seat,
    SeatState,
    SkillGroup,
    SkillGroupMember,
)
from cti.health import ComponentStatus
from cti.metrics import Metrics
from cti.metrics.campaigns import CampaignCollector
from cti.metrics.probes import Probe
from cti.outbound.runner import RunnerStatus
from tests.unit._api_fakes import FakeLiveView, StaticHealth, bearer, make_app

NOW = 1_800_000_000.0


def samples(page: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a text page: (name, sorted labels) -> value."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(page) for s in family.samples}


def value(page: str, name: str, **labels: str) -> float | None:
    return samples(page).get((name, tuple(sorted(labels.items()))))


def seat(sid: str, state: SeatState, reason: str | None = None) -> Seat:
    return Seat(id=sid, node="node1", interface=f"PJSIP/{sid}", state=state,
                pause_reason=reason, paused=state is SeatState.PAUSED)


def member(sid: str) -> SkillGroupMember:
    return SkillGroupMember(seat_id=sid, interface=f"PJSIP/{sid}", penalty=0, paused=False,
                            pause_reason=None, status=1, calls_taken=0, wrapup_seconds=0)


def call(cid: str, state: CallState, group: str | None = None, queued_at: float | None = None,
         direction: CallDirection = CallDirection.INBOUND) -> Call:
    return Call(id=cid, node="node1", linkedid=cid, direction=direction, state=state,
                customer_number="+4930123456", started_at=NOW - 100, skill_group=group,
                queued_at=queued_at)


def live_view() -> FakeLiveView:
    return FakeLiveView(
        seat_map={"1001": seat("1001", SeatState.AVAILABLE),
                  "1002": seat("1002", SeatState.PAUSED, "lunch"),
                  "1003": seat("1003", SeatState.PAUSED, "lunch"),
                  "1004": seat("1004", SeatState.ON_CALL)},
        group_map={"sales": SkillGroup(name="sales", node="node1", calls_waiting=2,
                                       members={m: member(m) for m in ("1001", "1002", "1009")}),
                   "idle": SkillGroup(name="idle", node="node1")},
        call_map={"a": call("a", CallState.QUEUED, "sales", NOW - 42),
                  "b": call("b", CallState.RINGING, "sales", NOW - 7),
                  "c": call("c", CallState.ON_CALL, "sales", NOW - 90),
                  "d": call("d", CallState.DIALING, direction=CallDirection.OUTBOUND)},
    )


def render(metrics: Metrics) -> str:
    return metrics.render().decode()


def test_live_gauges_count_seats_groups_and_calls_now() -> None:
    page = render(Metrics(live_view(), clock=lambda: NOW))
    assert value(page, "cti_seats", state="available") == 1
    assert value(page, "cti_seats", state="paused") == 2
    assert value(page, "cti_seats", state="wrap_up") == 0  # every state, even at zero
    assert value(page, "cti_seats_paused", reason="lunch") == 2
    assert value(page, "cti_skill_group_calls_waiting", group="sales") == 2
    # the queued call, not the one already answered, is the oldest still waiting
    assert value(page, "cti_skill_group_oldest_wait_seconds", group="sales") == 42
    assert value(page, "cti_skill_group_oldest_wait_seconds", group="idle") == 0
    assert value(page, "cti_skill_group_agents", group="sales", state="available") == 1
    assert value(page, "cti_skill_group_agents", group="sales", state="paused") == 1
    # a member Asterisk lists whose seat the mirror does not have is not logged in
    assert value(page, "cti_skill_group_agents", group="sales", state="offline") == 1
    assert value(page, "cti_calls_active", direction="inbound", state="queued") == 1
    assert value(page, "cti_calls_active", direction="outbound", state="dialing") == 1


def entry(kind: str, group: str | None = "sales", **detail: object) -> CallTimelineEntry:
    return CallTimelineEntry("node1:1.1", kind, NOW, skill_group=group, detail=dict(detail))


def test_bus_events_count_queue_outcomes_and_bucket_waits() -> None:
    metrics = Metrics()
    metrics.events.on_events([
        entry("queued"), entry("queued"), entry("queued"),
        entry("answered", wait_seconds=12), entry("answered", wait_seconds=25),
        entry("abandoned", wait_seconds=40),
        entry("no_answer", ring_ms=15000),
        entry("completed", talk_seconds=95),
        entry("answered", group=None),  # an outbound answer is no queue's figure
        entry("abandoned", wait_seconds=None),  # no HoldTime: counted, not a 0 s wait
    ])
    page = render(metrics)
    assert value(page, "cti_skill_group_calls_queued_total", group="sales") == 3
    assert value(page, "cti_skill_group_calls_answered_total", group="sales") == 2
    assert value(page, "cti_skill_group_calls_abandoned_total", group="sales") == 2
    assert value(page, "cti_skill_group_offers_unanswered_total", group="sales") == 1
    assert value(page, "cti_skill_group_talk_seconds_total", group="sales") == 95
    # service level at 20 s: answered within 20 s over calls queued
    assert value(page, "cti_skill_group_answer_wait_seconds_bucket", group="sales",
                 le="20.0") == 1
    assert value(page, "cti_skill_group_answer_wait_seconds_count", group="sales") == 2
    assert value(page, "cti_skill_group_abandon_wait_seconds_count", group="sales") == 1
    assert value(page, "cti_skill_group_abandon_wait_seconds_sum", group="sales") == 40


def test_ended_calls_and_seat_changes_are_counted() -> None:
    metrics = Metrics()
    answered = call("x", CallState.ENDED)
    answered = Call(**{**{f: getattr(answered, f) for f in answered.__slots__},
                       "answered_at": NOW - 5})
    metrics.events.on_events([
        CallEnded(answered, NOW), CallEnded(call("y", CallState.ENDED), NOW),
        SeatStateChanged(seat("1001", SeatState.PAUSED, "lunch"), SeatState.AVAILABLE,
                         "pause", NOW),
    ])
    page = render(metrics)
    assert value(page, "cti_calls_ended_total", direction="inbound", answered="yes") == 1
    assert value(page, "cti_calls_ended_total", direction="inbound", answered="no") == 1
    assert value(page, "cti_seat_state_changes_total", state="paused") == 1


def test_a_failing_probe_is_left_out_and_counted_not_the_whole_page() -> None:
    metrics = Metrics()

    def broken() -> float:
        raise RuntimeError("part not built")

    metrics.add(Probe("cti_broken", "a part that fails", broken),
                Probe("cti_ami_connects", "logins", lambda: {("node1",): 3}, "counter",
                      ("node",)))
    page = render(metrics)
    assert value(page, "cti_ami_connects_total", node="node1") == 3
    assert "cti_broken" not in page
    assert value(page, "cti_metrics_probe_failures_total") == 1


def status(cid: int, **figures: object) -> RunnerStatus:
    base: dict[str, object] = dict(
        campaign_id=cid, dialing=True, mode="predictive", skill_group="campaign-1",
        agents_free=2, agents_talking=5, agents_wrapping=1, agents_paused=0, ringing=4,
        waiting=1, placed=120, answered=40, connected=39, abandoned=1,
        abandon_rate_24h=0.025, abandon_rate_30d=0.018, abandon_target=0.03,
        last_decision="", problem=None)
    return RunnerStatus(**{**base, **figures})  # type: ignore[arg-type]


def test_running_campaigns_expose_their_abandon_rates_against_the_target() -> None:
    metrics = Metrics()
    metrics.registry.register(CampaignCollector(lambda: {7: status(7),
                                                         9: status(9, dialing=False)}))
    page = render(metrics)
    assert value(page, "cti_campaign_abandon_rate", campaign="7", window="24h") == 0.025
    assert value(page, "cti_campaign_abandon_rate", campaign="7", window="30d") == 0.018
    assert value(page, "cti_campaign_abandon_target", campaign="7") == 0.03
    assert value(page, "cti_campaign_calls_placed_total", campaign="7") == 120
    assert value(page, "cti_campaign_calls_abandoned_total", campaign="7") == 1
    assert value(page, "cti_campaign_agents", campaign="7", state="talking") == 5
    assert value(page, "cti_campaign_dialing", campaign="9") == 0


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


async def test_the_page_counts_requests_by_route_template_and_reports_health() -> None:
    down = StaticHealth(ComponentStatus("ami:node1", ok=False))
    app = make_app(live_view(), health=[down])
    async with client(app) as http:
        for sid in ("1001", "1002", "nope"):
            await http.get(f"/v1/seats/{sid}", headers=bearer("supervisor-token"))
        await http.get("/no/such/path")
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    page = response.text
    # ids never become labels: three seats are one route
    assert value(page, "cti_http_requests_total", method="GET", route="/v1/seats/{seat_id}",
                 status="200") == 2
    assert value(page, "cti_http_requests_total", method="GET", route="/v1/seats/{seat_id}",
                 status="404") == 1
    assert value(page, "cti_http_requests_total", method="GET", route="unmatched",
                 status="404") == 1
    assert value(page, "cti_http_request_duration_seconds_count", method="GET",
                 route="/v1/seats/{seat_id}") == 3
    assert value(page, "cti_component_up", component="ami:node1") == 0
    assert value(page, "cti_seats", state="on_call") == 1


async def test_a_metrics_token_when_set_is_required() -> None:
    app = make_app(live_view())
    settings: Settings = app.state.settings
    app.state.settings = settings.model_copy(update={"api": settings.api.model_copy(
        update={"metrics_token": SecretStr("s3cret")})})
    async with client(app) as http:
        missing = await http.get("/metrics")
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer s3cre"})
        right = await http.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json()["code"] == "unauthenticated"
    assert "CTI_API__METRICS_TOKEN" in missing.json()["message"]
    assert right.status_code == 200
    assert value(right.text, "cti_seats", state="available") == 1


def test_a_wait_on_a_bucket_edge_counts_in_that_bucket() -> None:
    # Prometheus buckets are "less than or equal": 20 s answered is within a 20 s SL.
    metrics = Metrics()
    metrics.events.on_events([entry("answered", wait_seconds=w) for w in (0, 20, 20.5, 601)])
    page = render(metrics)
    got = {le: value(page, "cti_skill_group_answer_wait_seconds_bucket", group="sales", le=le)
           for le in ("5.0", "20.0", "30.0", "600.0", "+Inf")}
    assert got == {"5.0": 1, "20.0": 2, "30.0": 3, "600.0": 3, "+Inf": 4}
    assert value(page, "cti_skill_group_answer_wait_seconds_sum", group="sales") == 641.5
