"""Seats, skill groups and calls over HTTP: live mirror merged with configuration/history.

History here is an in-memory stand-in (see _api_fakes.FakeHistory); the same behaviour is
checked against the real PostgreSQL in tests/integration/test_api_db.py.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI

from cti.api.schemas import CallOut, TimelineEntryOut
from cti.api.store import ConfiguredSeat, ConfiguredSkillGroup
from cti.domain.events import CallTimelineEntry
from cti.domain.model import (
    Call,
    CallDirection,
    CallState,
    Seat,
    SeatState,
    SkillGroup,
    SkillGroupMember,
)
from cti.history.pending import PendingCalls
from tests.unit._api_fakes import FakeHistory, FakeLiveView, bearer, make_app, with_history

T0 = 1_717_200_000.0  # 2024-06-01T00:00:00Z


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


def live_call(
    call_id: str, started: float, *, seat: str | None = None, number: str = "+3312345678"
) -> Call:
    return Call(
        id=call_id,
        node="node1",
        linkedid=call_id.split(":", 1)[1],
        direction=CallDirection.INBOUND,
        state=CallState.ON_CALL if seat else CallState.QUEUED,
        customer_number=number,
        started_at=T0 + started,
        skill_group="sales",
        seat_id=seat,
    )


def past_call(
    call_id: str, started: float, *, seat: str | None = "1001", number: str = "+3312345678"
) -> CallOut:
    return CallOut(
        id=call_id,
        node="node1",
        linkedid=call_id.split(":", 1)[1],
        direction=CallDirection.INBOUND,
        state=CallState.ENDED,
        active=False,
        customer_number=number,
        started_at=at(started),
        ended_at=at(started + 60),
        seat_id=seat,
        skill_group="sales",
    )


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


@pytest.fixture
def live() -> FakeLiveView:
    return FakeLiveView(
        call_map={
            "node1:100.1": live_call("node1:100.1", 100, seat="1002"),
            "node1:90.1": live_call("node1:90.1", 90, number="+3399999999"),
        }
    )


@pytest.fixture
def history() -> FakeHistory:
    # node1:100.1 is also in history (written at its start, then the seat changed).
    return FakeHistory(
        calls=[
            past_call("node1:100.1", 100, seat="1001").model_copy(
                update={"state": CallState.RINGING, "ended_at": None}
            ),
            past_call("node1:80.1", 80),
            past_call("node1:70.1", 70, seat="1002"),
            past_call("node1:60.1", 60, number="+3399999999"),
        ],
        timelines={
            "node1:100.1": [TimelineEntryOut(kind="queued", at=at(100), skill_group="sales")],
            "node1:80.1": [
                TimelineEntryOut(kind="queued", at=at(80), skill_group="sales"),
                TimelineEntryOut(kind="answered", at=at(85), seat_id="1001"),
            ],
        },
        seats=[
            ConfiguredSeat(id="1001", node="node1", interface="PJSIP/1001", display_name="Ann"),
            ConfiguredSeat(id="1003", node="node1", interface="PJSIP/1003", display_name=None),
        ],
        skill_groups=[
            ConfiguredSkillGroup(
                name="sales", node="node1", display_name="Sales", penalties={"1001": 0}
            ),
            ConfiguredSkillGroup(
                name="support", node="node1", display_name=None, penalties={"1003": 2, "1001": 1}
            ),
        ],
    )


@pytest.fixture
def app(live: FakeLiveView, history: FakeHistory) -> FastAPI:
    return with_history(make_app(live), live, history)


async def get(app: FastAPI, path: str, token: str = "supervisor-token") -> httpx.Response:
    """``path`` as a supervisor sees it (every seat's calls), or as ``token`` does."""
    async with client(app) as http:
        return await http.get(path, headers=bearer(token))


async def test_active_calls_come_first_and_a_live_call_is_shown_once(app: FastAPI) -> None:
    response = await get(app, "/v1/calls")
    assert response.status_code == 200
    page = response.json()
    assert [(c["id"], c["active"]) for c in page["items"]] == [
        ("node1:100.1", True),
        ("node1:90.1", True),
        ("node1:80.1", False),
        ("node1:70.1", False),
        ("node1:60.1", False),
    ]
    assert (page["total"], page["limit"], page["offset"]) == (5, 50, 0)
    live_wins = page["items"][0]
    assert (live_wins["state"], live_wins["seat_id"]) == ("on_call", "1002")
    assert live_wins["started_at"] == "2024-06-01T00:01:40Z"


async def test_pages_across_the_live_history_boundary_add_up(app: FastAPI) -> None:
    everything = [c["id"] for c in (await get(app, "/v1/calls")).json()["items"]]
    for limit in range(1, 7):
        for offset in range(7):
            page = (await get(app, f"/v1/calls?limit={limit}&offset={offset}")).json()
            assert [c["id"] for c in page["items"]] == everything[offset : offset + limit]
            assert page["total"] == 5


async def test_history_is_asked_to_leave_out_every_live_call(
    app: FastAPI, history: FakeHistory
) -> None:
    live_ids = frozenset({"node1:100.1", "node1:90.1"})
    await get(app, "/v1/calls?limit=1&offset=3")
    assert history.requests == [(live_ids, 1, 1)]
    await get(app, "/v1/calls?limit=1&offset=0")  # only for the total
    assert history.requests[1] == (live_ids, 0, 0)


@pytest.mark.parametrize(
    ("query", "ids", "total"),
    [
        ("status=active", ["node1:100.1", "node1:90.1"], 2),
        ("status=ended", ["node1:80.1", "node1:70.1", "node1:60.1"], 3),
        # live wins: history says node1:100.1 was on seat 1001; it is on 1002 now
        ("seat_id=1001", ["node1:80.1", "node1:60.1"], 2),
        ("seat_id=1002", ["node1:100.1", "node1:70.1"], 2),
        ("customer_number=%2B3399999999", ["node1:90.1", "node1:60.1"], 2),
        (
            "since=2024-06-01T00:01:10Z&until=2024-06-01T00:01:30Z",  # [since, until)
            ["node1:80.1", "node1:70.1"],
            2,
        ),
        ("since=2024-06-01T00:01:35", ["node1:100.1"], 1),  # naive times are UTC
        ("status=active&limit=1&offset=1", ["node1:90.1"], 2),
    ],
)
async def test_filters_apply_to_live_and_history_alike(
    app: FastAPI, query: str, ids: list[str], total: int
) -> None:
    page = (await get(app, f"/v1/calls?{query}")).json()
    assert [c["id"] for c in page["items"]] == ids
    assert page["total"] == total


async def test_an_active_call_has_its_live_record_and_timeline_so_far(app: FastAPI) -> None:
    body = (await get(app, "/v1/calls/node1:100.1")).json()
    assert (body["active"], body["state"], body["seat_id"]) == (True, "on_call", "1002")
    assert [e["kind"] for e in body["timeline"]] == ["queued"]


async def test_a_finished_call_comes_from_history_with_its_timeline(app: FastAPI) -> None:
    body = (await get(app, "/v1/calls/node1:80.1")).json()
    assert (body["active"], body["state"]) == (False, "ended")
    assert body["timeline"] == [
        {
            "kind": "queued",
            "at": "2024-06-01T00:01:20Z",
            "seat_id": None,
            "skill_group": "sales",
            "detail": {},
        },
        {
            "kind": "answered",
            "at": "2024-06-01T00:01:25Z",
            "seat_id": "1001",
            "skill_group": None,
            "detail": {},
        },
    ]


@pytest.mark.parametrize(
    ("path", "resource", "resource_id"),
    [
        ("/v1/calls/node1:1.1", "call", "node1:1.1"),
        ("/v1/seats/9999", "seat", "9999"),
        ("/v1/skill-groups/billing", "skill group", "billing"),
    ],
)
async def test_unknown_resources_are_404_naming_them(
    app: FastAPI, path: str, resource: str, resource_id: str
) -> None:
    response = await get(app, path)
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": f"{resource} {resource_id!r} not found",
        "details": {"resource": resource, "id": resource_id},
    }


async def test_seats_merge_live_and_configured_ones(live: FakeLiveView, app: FastAPI) -> None:
    live.seat_map["1001"] = Seat(
        id="1001",
        node="node1",
        interface="PJSIP/1001",
        state=SeatState.PAUSED,
        pause_reason="lunch",
        skill_groups=frozenset({"support", "sales"}),
        since=T0,
    )
    live.seat_map["1002"] = Seat(id="1002", node="node1", interface="PJSIP/1002")
    seats = (await get(app, "/v1/seats")).json()
    assert [(s["id"], s["state"], s["live"], s["display_name"]) for s in seats] == [
        ("1001", "paused", True, "Ann"),
        ("1002", "offline", True, None),
        ("1003", "offline", False, None),
    ]
    assert seats[0]["skill_groups"] == ["sales", "support"]
    assert seats[0]["pause_reason"] == "lunch"
    assert seats[0]["since"] == "2024-06-01T00:00:00Z"

    configured_only = (await get(app, "/v1/seats/1003")).json()
    assert (configured_only["state"], configured_only["live"]) == ("offline", False)
    assert (await get(app, "/v1/seats/1001")).json()["state"] == "paused"


async def test_skill_groups_show_live_members_and_waiting_calls(
    live: FakeLiveView, app: FastAPI
) -> None:
    def member(seat_id: str, penalty: int, paused: bool, status: int) -> SkillGroupMember:
        return SkillGroupMember(
            seat_id=seat_id,
            interface=f"PJSIP/{seat_id}",
            penalty=penalty,
            paused=paused,
            pause_reason="lunch" if paused else None,
            status=status,
            calls_taken=3,
            wrapup_seconds=10,
        )

    live.group_map["sales"] = SkillGroup(
        name="sales",
        node="node1",
        strategy="rrmemory",
        calls_waiting=2,
        members={"1002": member("1002", 1, False, 2), "1001": member("1001", 0, True, 1)},
    )
    groups = (await get(app, "/v1/skill-groups")).json()
    assert [(g["name"], g["live"]) for g in groups] == [("sales", True), ("support", False)]

    sales = (await get(app, "/v1/skill-groups/sales")).json()
    assert (sales["display_name"], sales["calls_waiting"], sales["strategy"]) == (
        "Sales",
        2,
        "rrmemory",
    )
    assert [
        (m["seat_id"], m["penalty"], m["paused"], m["status_name"]) for m in sales["members"]
    ] == [("1001", 0, True, "not_in_use"), ("1002", 1, False, "in_use")]

    support = (await get(app, "/v1/skill-groups/support")).json()
    assert [(m["seat_id"], m["penalty"]) for m in support["members"]] == [("1001", 1), ("1003", 2)]


def ended_call(call_id: str, started: float, *, seat: str | None = "1001") -> Call:
    """A call as the tracker ends it: gone from the mirror, its CallEnded to the writer."""
    return dataclasses.replace(
        live_call(call_id, started, seat=seat), state=CallState.ENDED, ended_at=T0 + 130
    )


async def test_a_call_that_just_ended_is_found_before_history_has_it(
    live: FakeLiveView, history: FakeHistory
) -> None:
    """Between the mirror dropping a call and the history writer committing its end, the
    call is answered from the writer's pending calls, as ended; it was a 404 before."""
    pending = PendingCalls()
    app = with_history(make_app(live), live, history, pending)
    assert (await get(app, "/v1/calls/node1:95.1")).status_code == 404
    pending.add(ended_call("node1:95.1", 95))
    body = (await get(app, "/v1/calls/node1:95.1")).json()
    assert (body["active"], body["state"], body["seat_id"]) == (False, "ended", "1001")
    assert body["ended_at"] == "2024-06-01T00:02:10Z"
    # Once written, history has it and the writer no longer does: the same answer.
    history.write(past_call("node1:95.1", 95).model_copy(update={"ended_at": at(130)}))
    pending.settle("node1:95.1")
    assert (await get(app, "/v1/calls/node1:95.1")).json() == body


async def test_a_call_that_just_ended_has_its_whole_timeline_before_history_has_it(
    live: FakeLiveView, history: FakeHistory
) -> None:
    """History has the call's first entries; the writer holds the rest, taken before the
    call's end and after it. The detail shows them all, each once, also when the writer
    commits some of them while history is read, and the same once history has them all."""
    pending = PendingCalls()
    pending.add(ended_call("node1:80.1", 80))
    held = [
        CallTimelineEntry("node1:80.1", "answered", T0 + 85, seat_id="1001"),  # in history
        CallTimelineEntry("node1:80.1", "ended", T0 + 130, detail={"cause": "Normal Clearing"}),
        CallTimelineEntry("node1:80.1", "completed", T0 + 130, seat_id="1001",
                          skill_group="sales", detail={"talk_seconds": 45}),
    ]
    for number, entry in enumerate(held):
        pending.add_entry(number, entry)
    pending.settle_entries(1)  # the writer committed "answered" (history has it)
    app = with_history(make_app(live), live, history, pending)
    body = (await get(app, "/v1/calls/node1:80.1")).json()
    whole = [
        ("queued", "2024-06-01T00:01:20Z", None, {}),
        ("answered", "2024-06-01T00:01:25Z", "1001", {}),
        ("ended", "2024-06-01T00:02:10Z", None, {"cause": "Normal Clearing"}),
        ("completed", "2024-06-01T00:02:10Z", "1001", {"talk_seconds": 45}),
    ]
    assert [(e["kind"], e["at"], e["seat_id"], e["detail"]) for e in body["timeline"]] == whole

    # "ended" committed after the writer was read, before history was: once all the same.
    history.add_timeline("node1:80.1", history_entry(held[1]))
    assert (await get(app, "/v1/calls/node1:80.1")).json() == body
    # All written, the writer holds nothing more: history alone says the same.
    history.add_timeline("node1:80.1", history_entry(held[2]))
    pending.settle_entries(3)
    pending.settle("node1:80.1")
    history.write(past_call("node1:80.1", 80).model_copy(update={"ended_at": at(130)}))
    assert (await get(app, "/v1/calls/node1:80.1")).json()["timeline"] == body["timeline"]


def history_entry(entry: CallTimelineEntry) -> TimelineEntryOut:
    """What history reads back once the writer has written ``entry``."""
    return TimelineEntryOut(
        kind=entry.kind,
        at=datetime.fromtimestamp(entry.at, UTC),
        seat_id=entry.seat_id,
        skill_group=entry.skill_group,
        detail=dict(entry.detail or {}),
    )


async def test_a_pending_end_wins_over_the_older_row_history_has(
    live: FakeLiveView, history: FakeHistory
) -> None:
    """History had node1:75.1 ringing (an earlier batch); its end is still pending: the
    call is shown once, ended, in the list and on its own."""
    history.write(
        past_call("node1:75.1", 75).model_copy(
            update={"state": CallState.RINGING, "ended_at": None}
        )
    )
    pending = PendingCalls()
    pending.add(ended_call("node1:75.1", 75))
    app = with_history(make_app(live), live, history, pending)
    body = (await get(app, "/v1/calls/node1:75.1")).json()
    assert (body["state"], body["ended_at"]) == ("ended", "2024-06-01T00:02:10Z")
    page = (await get(app, "/v1/calls?status=ended")).json()
    assert [(c["id"], c["state"]) for c in page["items"]] == [
        ("node1:80.1", "ended"),
        ("node1:75.1", "ended"),
        ("node1:70.1", "ended"),
        ("node1:60.1", "ended"),
    ]
    assert page["total"] == 4
    assert history.requests[-1][0] == {"node1:100.1", "node1:90.1", "node1:75.1"}


async def test_a_call_still_live_is_not_listed_again_from_the_pending_ones(
    live: FakeLiveView, history: FakeHistory
) -> None:
    pending = PendingCalls()
    pending.add(ended_call("node1:90.1", 90, seat=None))  # ended as the list was asked
    app = with_history(make_app(live), live, history, pending)
    page = (await get(app, "/v1/calls")).json()
    assert [c["id"] for c in page["items"]].count("node1:90.1") == 1
    assert page["total"] == 5


@pytest.mark.parametrize("status", ["all", "ended"])
async def test_pages_across_live_pending_and_history_add_up(
    live: FakeLiveView, history: FakeHistory, status: str
) -> None:
    """Pending calls take their place among history's by start time, on every page, and
    history is asked for at most one row more per pending call than the page holds."""
    pending = PendingCalls()
    for started in (95, 85, 65, 50):  # around and past history's 80, 70, 60
        pending.add(ended_call(f"node1:{started}.1", started))
    app = with_history(make_app(live), live, history, pending)
    active = ["node1:100.1", "node1:90.1"] if status == "all" else []
    ended = [f"node1:{n}.1" for n in (95, 85, 80, 70, 65, 60, 50)]
    everything = active + ended
    for limit in range(1, len(everything) + 2):
        for offset in range(len(everything) + 2):
            history.requests.clear()
            query = f"/v1/calls?status={status}&limit={limit}&offset={offset}"
            page = (await get(app, query)).json()
            assert [c["id"] for c in page["items"]] == everything[offset : offset + limit], (
                limit,
                offset,
            )
            assert page["total"] == len(everything)
            [(_, rows_limit, _)] = history.requests
            assert rows_limit <= limit + 4


async def test_filters_apply_to_pending_calls_too(
    live: FakeLiveView, history: FakeHistory
) -> None:
    pending = PendingCalls()
    pending.add(ended_call("node1:95.1", 95, seat="1002"))
    pending.add(ended_call("node1:85.1", 85, seat="1001"))
    app = with_history(make_app(live), live, history, pending)
    page = (await get(app, "/v1/calls?seat_id=1002")).json()
    assert [c["id"] for c in page["items"]] == ["node1:100.1", "node1:95.1", "node1:70.1"]
    assert page["total"] == 3
    page = (await get(app, "/v1/calls?status=active")).json()
    assert [c["id"] for c in page["items"]] == ["node1:100.1", "node1:90.1"]


# -- who sees which calls (D12) ------------------------------------------------------------

SPY_LEG = "node1:cti-spy-009f5c87268540ee80f055e3e2abdb2e"


def spy_leg(seat: str | None = None) -> Call:
    """A supervisor's listening leg as the tracker records it (an internal call of its own)."""
    return Call(id=SPY_LEG, node="node1", linkedid=SPY_LEG.split(":", 1)[1],
                direction=CallDirection.INTERNAL, state=CallState.DIALING,
                customer_number="s", started_at=T0 + 110, seat_id=seat)


async def test_an_agent_lists_only_its_own_seats_calls(
    live: FakeLiveView, history: FakeHistory
) -> None:
    """Live, pending and history alike; the stale history row of a call seat 1002 now
    has (node1:100.1, written as 1001's) does not leak either."""
    pending = PendingCalls()
    pending.add(ended_call("node1:95.1", 95, seat="1002"))
    pending.add(ended_call("node1:85.1", 85, seat="1001"))
    live.call_map["node1:105.1"] = live_call("node1:105.1", 105, seat="1001")
    app = with_history(make_app(live), live, history, pending)
    page = (await get(app, "/v1/calls", "agent-token")).json()
    assert [c["id"] for c in page["items"]] == [
        "node1:105.1", "node1:85.1", "node1:80.1", "node1:60.1"]
    assert {c["seat_id"] for c in page["items"]} == {"1001"}
    assert page["total"] == 4
    same = (await get(app, "/v1/calls?seat_id=1001&status=ended", "agent-token")).json()
    assert [c["id"] for c in same["items"]] == ["node1:85.1", "node1:80.1", "node1:60.1"]
    # Supervisors still see every seat's.
    assert (await get(app, "/v1/calls")).json()["total"] == 8


@pytest.mark.parametrize(("path", "token"), [
    ("/v1/calls?seat_id=1002", "agent-token"),  # another seat's, asked by name
    ("/v1/calls", "seatless-agent-token"),  # no seat: nothing is its own
    ("/v1/calls/node1:80.1", "seatless-agent-token"),
])
async def test_an_agent_asking_for_other_seats_calls_is_refused(
    app: FastAPI, path: str, token: str
) -> None:
    response = await get(app, path, token)
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"


@pytest.mark.parametrize("call_id", ["node1:100.1", "node1:70.1", "node1:90.1"])
async def test_another_seats_call_is_not_found_for_an_agent(app: FastAPI, call_id: str) -> None:
    """Live (1002's), history (1002's) or not answered yet: as a recording of another
    seat, "not found", so that ids cannot be probed."""
    assert (await get(app, f"/v1/calls/{call_id}")).status_code == 200  # a supervisor
    response = await get(app, f"/v1/calls/{call_id}", "agent-token")
    assert response.status_code == 404
    assert response.json()["details"] == {"resource": "call", "id": call_id}


async def test_an_agent_gets_its_own_seats_call(app: FastAPI) -> None:
    body = (await get(app, "/v1/calls/node1:80.1", "agent-token")).json()
    assert (body["seat_id"], [e["kind"] for e in body["timeline"]]) == (
        "1001", ["queued", "answered"])


@pytest.mark.parametrize("seat", [None, "1001"])
async def test_a_supervision_leg_is_never_shown_to_an_agent_nor_listed(
    live: FakeLiveView, app: FastAPI, seat: str | None
) -> None:
    """Seeing the leg would tell the agent that a supervisor listens; whatever seat the
    leg might be given, it is no agent's call."""
    live.call_map[SPY_LEG] = spy_leg(seat)
    listed = (await get(app, "/v1/calls?status=active", "agent-token")).json()
    assert SPY_LEG not in [c["id"] for c in listed["items"]]
    assert (await get(app, f"/v1/calls/{SPY_LEG}", "agent-token")).status_code == 404
    # Nor in anyone's list of the centre's calls (/monitor lists the sessions); a
    # supervisor may still look it up.
    assert SPY_LEG not in [c["id"] for c in (await get(app, "/v1/calls?status=active")).json()[
        "items"]]
    assert (await get(app, f"/v1/calls/{SPY_LEG}")).status_code == 200


async def test_the_call_a_seat_is_ringing_for_is_the_agents_to_see(
    live: FakeLiveView, app: FastAPI
) -> None:
    """A queue call gets its seat when answered; while it rings at 1001, its agent needs
    to see who calls (the stream shows it too). Another seat's ringing call stays hidden."""
    live.seat_map["1001"] = Seat(id="1001", node="node1", interface="PJSIP/1001",
                                 state=SeatState.RINGING, call_id="node1:90.1")
    listed = (await get(app, "/v1/calls?status=active", "agent-token")).json()
    assert [c["id"] for c in listed["items"]] == ["node1:90.1"]
    assert (await get(app, "/v1/calls/node1:90.1", "agent-token")).status_code == 200
    live.seat_map["1001"] = Seat(id="1001", node="node1", interface="PJSIP/1001",
                                 state=SeatState.AVAILABLE)
    assert (await get(app, "/v1/calls/node1:90.1", "agent-token")).status_code == 404
