"""``WS /v1/events`` over a real socket: uvicorn serving the app, a ``websockets`` client.

The live mirror is the in-memory LiveView and tokens come from a dict (as in the API
unit tests); what is real here is the WebSocket path: handshake refusals as problem
documents, authentication by header or query, and a client that stops reading while
another keeps up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cti.api.auth import Authenticator, Caller
from cti.domain.events import NodeConnectionChanged, SeatStateChanged
from cti.domain.model import Seat, SeatState
from cti.stack.ports import free_port
from cti.stream.hub import EventHub
from cti.stream.worker import StreamWorker
from tests.unit._api_fakes import TOKENS, FakeLiveView, make_app

T0 = 1_717_200_000.0
DEADLINE = 20.0


@dataclasses.dataclass
class Served:
    url: str
    hub: EventHub
    live: FakeLiveView


async def _serve(hub: EventHub | None, live: FakeLiveView, where: str = "api",
                 configure: Callable[[FastAPI], None] | None = None) -> AsyncIterator[str]:
    """Serve the stream from the API's loop, or (``worker``) from a ``StreamWorker``'s
    own thread and loop, the test's loop then playing the live consumer's."""
    app = make_app(live)
    app.state.hub = hub
    if configure is not None:
        configure(app)
    app.state.settings.stream.cutoff_grace = 5.0
    if where == "worker":
        assert hub is not None
        worker = StreamWorker(hub, app.state.settings, port=free_port(), host="127.0.0.1")
        await worker.start(app.state.authenticator)
        try:
            yield f"ws://127.0.0.1:{worker.port}/v1/events"
        finally:
            await worker.stop()
        return
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(DEADLINE):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers only this flag)
                await asyncio.sleep(0.01)
        yield f"ws://127.0.0.1:{port}/v1/events"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, DEADLINE)


@pytest.fixture(params=["api", "worker"])
async def served(request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    live = FakeLiveView(seat_map={"1001": _seat("1001", SeatState.AVAILABLE)})
    hub = EventHub(live, client_queue=20)
    async for url in _serve(hub, live, request.param):
        yield Served(url, hub, live)


def _seat(seat_id: str, state: SeatState) -> Seat:
    return Seat(id=seat_id, node="node1", interface=f"PJSIP/{seat_id}", state=state, since=T0)


def _seat_changed(seat_id: str, state: SeatState) -> SeatStateChanged:
    return SeatStateChanged(_seat(seat_id, state), SeatState.AVAILABLE, "pause", T0)


async def _recv(ws: ClientConnection) -> dict[str, Any]:
    raw = await asyncio.wait_for(ws.recv(), DEADLINE)
    assert isinstance(raw, str)
    message: dict[str, Any] = json.loads(raw)
    return message


def _problem(exc: InvalidStatus) -> tuple[int, dict[str, Any]]:
    body = exc.response.body or b"{}"
    problem: dict[str, Any] = json.loads(body)
    return exc.response.status_code, problem


async def test_a_supervisor_gets_the_snapshot_then_deltas_in_order(served: Served) -> None:
    headers = {"Authorization": "Bearer supervisor-token"}
    async with connect(served.url, additional_headers=headers) as ws:
        snapshot = await _recv(ws)
        assert snapshot["type"] == "snapshot" and snapshot["seq"] == served.hub.seq
        assert [s["id"] for s in snapshot["data"]["seats"]] == ["1001"]
        served.hub.publish([_seat_changed("1001", SeatState.PAUSED),
                            _seat_changed("1002", SeatState.AVAILABLE)])
        served.hub.publish([NodeConnectionChanged("node1", False, T0 + 1, "keepalive lost")])
        got = [await _recv(ws) for _ in range(3)]
    assert [m["seq"] for m in got] == [snapshot["seq"] + i for i in (1, 2, 3)]
    assert [m["type"] for m in got] == ["seat", "seat", "node"]
    assert got[0]["data"]["state"] == "paused" and got[0]["data"]["previous"] == "available"
    assert got[2]["data"] == {"node": "node1", "connected": False, "reason": "keepalive lost"}
    assert got[0]["at"] == "2024-06-01T00:00:00Z"


async def test_coalesced_messages_carry_consecutive_deltas_one_per_line(
    served: Served,
) -> None:
    headers = {"Authorization": "Bearer supervisor-token"}
    async with connect(served.url + "?coalesce=true", additional_headers=headers) as ws:
        raw = await asyncio.wait_for(ws.recv(), DEADLINE)
        assert isinstance(raw, str)
        start = json.loads(raw)["seq"]
        # One AMI read's worth of deltas published before the sender runs: one message.
        served.hub.publish([NodeConnectionChanged("node1", i % 2 == 0, T0 + i) for i in range(5)])
        raw = await asyncio.wait_for(ws.recv(), DEADLINE)
    assert isinstance(raw, str)
    lines = [json.loads(line) for line in raw.split("\n")]
    assert [m["seq"] for m in lines] == [start + i for i in range(1, 6)]
    assert all(m["type"] == "node" for m in lines)


async def test_an_agent_with_a_query_token_sees_only_its_seat_and_resumes(
    served: Served,
) -> None:
    async with connect(served.url + "?token=agent-token") as ws:  # seat 1001
        snapshot = await _recv(ws)
        served.hub.publish([_seat_changed("1002", SeatState.PAUSED)])
        served.hub.publish([_seat_changed("1001", SeatState.PAUSED)])
        mine = await _recv(ws)
    assert mine["type"] == "seat" and mine["data"]["id"] == "1001"
    assert mine["seq"] == snapshot["seq"] + 2  # the other seat's delta is not for her
    served.hub.publish([_seat_changed("1001", SeatState.AVAILABLE)])
    async with connect(f"{served.url}?token=agent-token&since={mine['seq']}") as ws:
        resumed = await _recv(ws)
        missed = await _recv(ws)
    assert resumed == {**resumed, "type": "resumed", "seq": mine["seq"],
                       "data": {"replayed": 1}}
    assert missed["seq"] == mine["seq"] + 1 and missed["data"]["state"] == "available"


@pytest.mark.parametrize(
    ("query", "headers", "status", "code"),
    [
        ("", {}, 401, "unauthenticated"),
        ("?token=nope", {}, 401, "unauthenticated"),
        ("", {"Authorization": "Bearer nope"}, 401, "unauthenticated"),
        ("?token=agent-token&since=-1", {}, 422, "invalid_input"),
        ("?token=agent-token&since=abc", {}, 422, "invalid_input"),
        ("?token=agent-token&coalesce=maybe", {}, 422, "invalid_input"),
    ],
)
async def test_refusals_are_problem_documents_before_the_handshake(
    served: Served, query: str, headers: dict[str, str], status: int, code: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(served.url + query, additional_headers=headers):
            pass
    got_status, problem = _problem(refused.value)
    assert (got_status, problem["code"]) == (status, code)
    if code == "invalid_input":
        assert problem["details"]["fields"][0]["field"] in query
    assert served.hub.subscribers == 0


@pytest.mark.parametrize("where", ["api", "worker"])
async def test_a_stream_whose_token_is_revoked_is_closed(where: str) -> None:
    # An agent who left (token revoked) must not keep hearing of the centre's calls for
    # as long as the socket stays open.
    tokens = dict(TOKENS)

    async def lookup(token: str) -> Caller | None:
        return tokens.get(token)

    def revocable(app: FastAPI) -> None:
        app.state.authenticator = Authenticator(lookup, ttl=0.05)
        app.state.settings.stream.token_recheck = 0.1

    live = FakeLiveView()
    async for url in _serve(EventHub(live), live, where, revocable):
        async with connect(url + "?token=agent-token") as ws:
            assert (await _recv(ws))["type"] == "snapshot"
            await asyncio.sleep(0.3)  # rechecked a few times: still admitted
            del tokens["agent-token"]
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), DEADLINE)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
            1008, "the bearer token is unknown, expired or revoked")


async def test_without_a_hub_the_stream_is_unavailable() -> None:
    async for url in _serve(None, FakeLiveView()):
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url + "?token=agent-token"):
                pass
        status, problem = _problem(refused.value)
        assert (status, problem["code"]) == (503, "unavailable")


async def test_a_client_that_stops_reading_is_cut_off_and_the_others_get_everything(
    served: Served,
) -> None:
    # Big deltas (~30 kB): a seat paused with a long reason.
    def paused(i: int) -> SeatStateChanged:
        seat = dataclasses.replace(_seat("1001", SeatState.PAUSED), pause_reason=f"{i:05d}" * 6000)
        return SeatStateChanged(seat, SeatState.AVAILABLE, "pause", T0 + i)

    headers = {"Authorization": "Bearer supervisor-token"}
    total = 400
    async with connect(served.url, additional_headers=headers) as fast, \
            connect(served.url, additional_headers=headers, max_queue=1,
                    compression=None) as slow:
        first = (await _recv(fast))["seq"]
        await _recv(slow)  # its snapshot; then it stops reading

        received: list[int] = []

        async def keep_up() -> None:
            while len(received) < total:
                received.append((await _recv(fast))["seq"])

        reader = asyncio.create_task(keep_up())
        for i in range(total):
            served.hub.publish([paused(i)])
            await asyncio.sleep(0)  # let the senders run, as the live consumer does
        await asyncio.wait_for(reader, DEADLINE)
        assert received == list(range(first + 1, first + total + 1))
        assert served.hub.cut_offs == 1 and served.hub.subscribers == 1

        tail: list[dict[str, Any]] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                tail.append(await _recv(slow))
    assert tail[-1]["type"] == "resync" and tail[-1]["data"] == {"reason": "slow_consumer"}
    assert all(m["type"] == "seat" for m in tail[:-1])
    assert len(tail) - 1 < total
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
