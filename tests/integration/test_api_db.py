"""The REST API against the real PostgreSQL: tokens, history merge, pagination, config.

The live mirror is the in-memory LiveView of the unit tests (our own read interface);
everything behind the sessionmaker is the real, migrated database.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti import cli
from cti.api.app import create_app
from cti.config import Settings
from cti.db import repositories
from cti.db.models import CallEventRow, CallRow
from cti.domain.events import CallTimelineEntry
from cti.domain.model import Call, CallDirection, CallState, Seat, SeatState
from cti.history.pending import PendingCalls
from cti.history.records import call_event_row, to_record
from tests.unit._api_fakes import FakeLiveView

pytestmark = pytest.mark.integration

T0 = datetime(2024, 6, 1, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def row(call_id: str, started: float, *, seat: str = "1001", number: str = "+331") -> CallRow:
    return CallRow(
        id=call_id,
        node="node1",
        linkedid=call_id.split(":", 1)[1],
        direction="inbound",
        state="ended",
        customer_number=number,
        skill_group="sales",
        seat_id=seat,
        started_at=at(started),
        answered_at=at(started + 5),
        ended_at=at(started + 65),
        wait_seconds=5,
        talk_seconds=60,
        hangup_cause="16",
        abandoned=False,
        updated_at=at(started + 65),
    )


def live_call(call_id: str, started: float, seat: str) -> Call:
    return Call(
        id=call_id,
        node="node1",
        linkedid=call_id.split(":", 1)[1],
        direction=CallDirection.INBOUND,
        state=CallState.ON_CALL,
        customer_number="+331",
        started_at=at(started).timestamp(),
        skill_group="sales",
        seat_id=seat,
    )


@pytest.fixture
def live() -> FakeLiveView:
    return FakeLiveView()


@pytest.fixture
def pending() -> PendingCalls:
    """The history writer's ended calls not written yet (none unless a test adds some)."""
    return PendingCalls()


@pytest.fixture
async def http(
    live: FakeLiveView, pending: PendingCalls, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(environment="test"), live=live, sessionmaker=db_sessionmaker, health=[],
        pending_calls=pending,
    )
    async with db_sessionmaker() as session:
        # A supervisor sees every seat's calls (an agent only its own: see below).
        token = await repositories.create_token(session, "sue", "supervisor", "test")
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers=headers
    ) as client:
        yield client


async def test_tokens_are_checked_against_the_database(
    http: httpx.AsyncClient, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    assert (await http.get("/v1/seats")).status_code == 200
    unknown = await http.get("/v1/seats", headers={"Authorization": "Bearer cti_nope"})
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "unauthenticated"
    async with db_sessionmaker() as session:
        token = await repositories.create_token(session, "root", "admin", "ops")
    fresh = await http.get("/v1/calls", headers={"Authorization": f"Bearer {token}"})
    assert fresh.status_code == 200  # a token created a moment ago works at once


async def seed_history(
    sessionmaker: async_sessionmaker[AsyncSession], *, stale_at: int
) -> None:
    """40 ended calls in history, started every 10 s from 0, and one at `stale_at` that
    history still has as ringing (a newer record elsewhere must win over it)."""
    async with sessionmaker() as session:
        stale = row(f"node1:{stale_at}.1", stale_at)
        stale.state, stale.ended_at = "ringing", None
        session.add_all([stale, *(row(f"node1:{t}.1", t) for t in range(0, 400, 10))])
        await session.commit()


async def test_live_and_history_merge_with_exact_pages(
    http: httpx.AsyncClient,
    live: FakeLiveView,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    await seed_history(db_sessionmaker, stale_at=500)
    live.call_map["node1:500.1"] = live_call("node1:500.1", 500, seat="1002")
    live.call_map["node1:600.1"] = live_call("node1:600.1", 600, seat="1003")

    first = (await http.get("/v1/calls?limit=3")).json()
    assert first["total"] == 42  # 2 live + 40 history; the live one in history counts once
    assert [(c["id"], c["active"]) for c in first["items"]] == [
        ("node1:600.1", True),
        ("node1:500.1", True),
        ("node1:390.1", False),
    ]
    assert first["items"][1]["seat_id"] == "1002"  # the live record wins

    seen: list[str] = []
    for offset in range(0, 50, 7):
        page = (await http.get(f"/v1/calls?limit=7&offset={offset}")).json()
        assert page["total"] == 42
        seen += [c["id"] for c in page["items"]]
    assert len(seen) == len(set(seen)) == 42

    ended = (await http.get("/v1/calls?status=ended&limit=1")).json()
    assert (ended["total"], ended["items"][0]["id"]) == (40, "node1:390.1")

    window = "since=2024-06-01T00:01:00Z&until=2024-06-01T00:01:40Z"
    windowed = (await http.get(f"/v1/calls?{window}")).json()
    assert [c["id"] for c in windowed["items"]] == [f"node1:{t}.1" for t in (90, 80, 70, 60)]


async def test_ended_calls_not_written_yet_merge_into_history_pages(
    http: httpx.AsyncClient,
    live: FakeLiveView,
    pending: PendingCalls,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """Calls the history writer holds take their places among history's rows on every
    page; one whose older row history has (ringing) is shown once, ended."""
    await seed_history(db_sessionmaker, stale_at=255)
    live.call_map["node1:600.1"] = live_call("node1:600.1", 600, seat="1003")
    for started in (395, 255, 123, 5):
        call = live_call(f"node1:{started}.1", started, seat="1001")
        pending.add(dataclasses.replace(call, state=CallState.ENDED,
                                        ended_at=at(started + 30).timestamp()))
    starts = sorted([*range(0, 400, 10), 395, 255, 123, 5], reverse=True)
    expected = ["node1:600.1", *(f"node1:{t}.1" for t in starts)]

    for limit in (1, 3, 7, 50):
        seen: list[str] = []
        for offset in range(0, 50, limit):
            page = (await http.get(f"/v1/calls?limit={limit}&offset={offset}")).json()
            assert page["total"] == 45  # 1 live + 4 pending + 40 history
            seen += [c["id"] for c in page["items"]]
        assert seen == expected, limit
    ended = (await http.get("/v1/calls?status=ended&limit=3&offset=13")).json()
    assert [c["id"] for c in ended["items"]] == expected[14:17]
    assert ended["total"] == 44
    detail = (await http.get("/v1/calls/node1:255.1")).json()
    assert (detail["state"], detail["ended_at"]) == ("ended", "2024-06-01T00:04:45Z")


async def test_a_pending_calls_timeline_reads_the_same_from_the_writer_and_from_history(
    http: httpx.AsyncClient,
    pending: PendingCalls,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The writer's unwritten entries complete history's. One the writer committed after
    it was read is in both: it reads back from PostgreSQL (timestamptz, jsonb with its
    keys reordered) as the same entry, so it is shown once."""
    call_id = "node1:255.1"
    base = at(255).timestamp()
    entries = [
        CallTimelineEntry(call_id, "queued", base, skill_group="sales", detail={"position": 1}),
        CallTimelineEntry(call_id, "ended", base + 29.123456, detail={"cause": "Normal Clearing"}),
        CallTimelineEntry(call_id, "completed", base + 29.5, seat_id="1001", skill_group="sales",
                          detail={"talk_seconds": 24, "hung_up_by": "caller"}),
    ]
    committed = [call_event_row(r) for r in map(to_record, entries[:2]) if r is not None]
    async with db_sessionmaker() as session:
        session.add_all(CallEventRow(**r) for r in committed)
        await session.commit()
    live = live_call(call_id, 255, seat="1001")
    pending.add(dataclasses.replace(live, state=CallState.ENDED, ended_at=base + 30))
    for number, entry in enumerate(entries[1:], start=5):  # "ended" is in history already
        pending.add_entry(number, entry)

    detail = (await http.get(f"/v1/calls/{call_id}")).json()
    assert [(e["kind"], e["at"], e["detail"]) for e in detail["timeline"]] == [
        ("queued", "2024-06-01T00:04:15Z", {"position": 1}),
        ("ended", "2024-06-01T00:04:44.123456Z", {"cause": "Normal Clearing"}),
        ("completed", "2024-06-01T00:04:44.500000Z", {"talk_seconds": 24, "hung_up_by": "caller"}),
    ]


async def test_filters_reach_the_database(
    http: httpx.AsyncClient, db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    async with db_sessionmaker() as session:
        session.add_all(
            [
                row("node1:1.1", 1, number="+33999"),
                row("node1:2.1", 2, seat="1002"),
                row("node1:3.1", 3),
            ]
        )
        await session.commit()
    by_number = (await http.get("/v1/calls?customer_number=%2B33999")).json()
    assert [c["id"] for c in by_number["items"]] == ["node1:1.1"]
    by_seat = (await http.get("/v1/calls?seat_id=1002")).json()
    assert [c["id"] for c in by_seat["items"]] == ["node1:2.1"]


async def test_an_agent_gets_only_its_own_seats_calls_from_the_database(
    http: httpx.AsyncClient,
    live: FakeLiveView,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    """The seat filter reaches SQL, so the page and its total are exact; a supervisor's
    listening leg (no seat) and another seat's call are not found."""
    spy = row("node1:cti-spy-0f", 4, number="s")
    spy.seat_id, spy.direction = None, "internal"
    async with db_sessionmaker() as session:
        session.add_all([row("node1:1.1", 1), row("node1:2.1", 2, seat="1002"),
                         row("node1:3.1", 3), spy])
        token = await repositories.create_token(session, "ann", "agent", "test", seat_id="1001")
        await session.commit()
    live.call_map["node1:9.1"] = live_call("node1:9.1", 9, seat="1002")
    ann = {"Authorization": f"Bearer {token}"}

    page = (await http.get("/v1/calls?limit=1", headers=ann)).json()
    assert ([c["id"] for c in page["items"]], page["total"]) == (["node1:3.1"], 2)
    rest = (await http.get("/v1/calls?limit=5&offset=1", headers=ann)).json()
    assert [c["id"] for c in rest["items"]] == ["node1:1.1"]
    assert (await http.get("/v1/calls/node1:3.1", headers=ann)).status_code == 200
    for other in ("node1:2.1", "node1:9.1", "node1:cti-spy-0f"):
        assert (await http.get(f"/v1/calls/{other}", headers=ann)).status_code == 404, other
    assert (await http.get("/v1/calls")).json()["total"] == 5  # the supervisor: all


async def test_call_detail_has_its_timeline(
    http: httpx.AsyncClient,
    live: FakeLiveView,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session:
        session.add(row("node1:10.1", 10))
        session.add_all(
            [
                CallEventRow(call_id="node1:10.1", kind="queued", at=at(10), skill_group="sales"),
                CallEventRow(
                    call_id="node1:10.1", kind="answered", at=at(15), seat_id="1001", detail={}
                ),
                CallEventRow(call_id="node1:20.1", kind="queued", at=at(20), skill_group="sales"),
            ]
        )
        await session.commit()
    live.call_map["node1:20.1"] = live_call("node1:20.1", 20, seat="1001")

    done = (await http.get("/v1/calls/node1:10.1")).json()
    assert (done["active"], done["state"], done["talk_seconds"]) == (False, "ended", 60)
    assert [(e["kind"], e["at"]) for e in done["timeline"]] == [
        ("queued", "2024-06-01T00:00:10Z"),
        ("answered", "2024-06-01T00:00:15Z"),
    ]
    ongoing = (await http.get("/v1/calls/node1:20.1")).json()
    assert (ongoing["active"], [e["kind"] for e in ongoing["timeline"]]) == (True, ["queued"])

    missing = await http.get("/v1/calls/node1:30.1")
    assert missing.status_code == 404
    assert missing.json()["details"] == {"resource": "call", "id": "node1:30.1"}


async def test_configured_seats_and_groups_show_until_asterisk_knows_them(
    http: httpx.AsyncClient,
    live: FakeLiveView,
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> None:
    async with db_sessionmaker() as session:
        await repositories.upsert_seat(
            session, "1001", node="node1", interface="PJSIP/1001", display_name="Ann"
        )
        await repositories.upsert_seat(session, "1009", node="node1", interface="PJSIP/1009")
        await repositories.upsert_skill_group(session, "billing", node="node1")
        await repositories.set_skill_group_member(session, "billing", "1009", penalty=3)
    live.seat_map["1001"] = Seat(
        id="1001", node="node1", interface="PJSIP/1001", state=SeatState.AVAILABLE
    )

    seats = (await http.get("/v1/seats")).json()
    assert [(s["id"], s["state"], s["live"], s["display_name"]) for s in seats] == [
        ("1001", "available", True, "Ann"),
        ("1009", "offline", False, None),
    ]
    assert (await http.get("/v1/seats/1009")).json()["live"] is False
    assert (await http.get("/v1/seats/1010")).status_code == 404

    billing = (await http.get("/v1/skill-groups/billing")).json()
    assert (
        billing["live"],
        billing["members"][0]["seat_id"],
        billing["members"][0]["penalty"],
    ) == (
        False,
        "1009",
        3,
    )


async def test_cli_creates_a_working_token(
    pg_url: str,
    db_sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", pg_url)
    # main() runs its own event loop (asyncio.run), so it runs in a worker thread here
    code = await asyncio.to_thread(
        cli.main, ["token", "create", "--user", "sup", "--role", "supervisor", "--seat", "1002"]
    )
    assert code == 0
    out = capsys.readouterr()
    token = out.out.strip()
    assert "shown only this once" in out.err and token not in out.err
    async with db_sessionmaker() as session:
        principal = await repositories.authenticate(session, token)
    assert principal is not None
    assert (principal.username, principal.role, principal.seat_id) == ("sup", "supervisor", "1002")


def test_cli_migrate_is_idempotent(
    pg_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CTI_DATABASE__URL", pg_url)
    assert cli.main(["migrate"]) == 0
    assert "migrated" in capsys.readouterr().err
