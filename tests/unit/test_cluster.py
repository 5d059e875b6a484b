"""Leader election without a database: the role machine, the loop acting on what the lock
says (a scripted lock: the real one is PostgreSQL's, in tests/integration/test_replicas),
and the standby's gate over the API."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from hypothesis import given
from hypothesis import strategies as st
from starlette.types import Message, Receive, Scope, Send

from cti.api.standby import StandbyGate
from cti.cluster.leadership import Leadership
from cti.cluster.roles import (
    Acquired,
    Held,
    HeldBy,
    Observation,
    Role,
    Unreachable,
    step,
)

observations = st.one_of(
    st.just(Acquired()), st.just(Held()), st.builds(HeldBy, st.none() | st.text(max_size=5)),
    st.builds(Unreachable, st.text(max_size=5)))


def run(seen: list[Observation], role: Role = Role.STANDBY) -> list[Role]:
    roles = []
    for s in seen:
        role = step(role, s)
        roles.append(role)
    return roles


def test_a_standby_leads_once_it_takes_the_lock() -> None:
    assert run([HeldBy("a"), Unreachable("down"), HeldBy("a"), Acquired(), Held()]) == [
        Role.STANDBY, Role.STANDBY, Role.STANDBY, Role.LEADING, Role.LEADING]


def test_a_leader_that_loses_its_session_leads_on_until_it_learns_who_holds_the_lock() -> None:
    back = run([Unreachable("restart"), Unreachable("restart"), Acquired()], Role.LEADING)
    assert back == [Role.ORPHANED, Role.ORPHANED, Role.LEADING]
    taken = run([Unreachable("cut"), HeldBy("b"), Acquired()], Role.LEADING)
    assert taken == [Role.ORPHANED, Role.DEPOSED, Role.DEPOSED]


@given(st.lists(observations, max_size=30), st.sampled_from(list(Role)))
def test_only_a_leader_that_lost_its_session_is_ever_deposed(
        seen: list[Observation], start: Role) -> None:
    role = start
    for s in seen:
        new = step(role, s)
        if new is Role.DEPOSED and role is not Role.DEPOSED:
            assert role in (Role.ORPHANED, Role.LEADING), role
            assert role is Role.ORPHANED or isinstance(s, HeldBy)
        if role is Role.STANDBY and new is not Role.STANDBY:
            assert isinstance(s, Acquired) and new is Role.LEADING
        role = new


class ScriptedLock:
    """What PostgreSQL answers, in order; records what was asked."""

    replica = "r1"

    def __init__(self, answers: list[Observation]) -> None:
        self.answers = answers
        self.asked: list[str] = []
        self.released = False

    async def try_acquire(self) -> Observation:
        self.asked.append("try")
        return self.answers.pop(0)

    async def confirm(self) -> Observation:
        self.asked.append("confirm")
        return self.answers.pop(0)

    async def release(self) -> None:
        self.released = True


class Parts:
    def __init__(self) -> None:
        self.started = 0
        self.deposed = 0

    async def lead(self) -> None:
        self.started += 1

    async def depose(self) -> None:
        self.deposed += 1


def role(leadership: Leadership) -> Role:
    return leadership.role  # read afresh: it changes under the checks that look at it


def elect(answers: list[Observation]) -> tuple[Leadership, ScriptedLock, Parts]:
    lock, parts = ScriptedLock(answers), Parts()
    return Leadership(lock, interval=1, lead=parts.lead, deposed=parts.depose), lock, parts


async def test_a_standby_starts_the_parts_once_when_it_takes_over_and_says_who_leads() -> None:
    leadership, lock, parts = elect([HeldBy("r0"), HeldBy("r0"), Acquired(), Held()])
    await leadership.look()
    status = leadership.health()
    assert not status.ok and status.detail["role"] == "standby"
    assert status.detail["leader"] == "r0" and parts.started == 0
    for _ in range(3):
        await leadership.look()
    assert lock.asked == ["try", "try", "try", "confirm"]
    assert parts.started == 1 and leadership.leads
    assert leadership.health().detail["leader"] == "r1"


async def test_an_orphaned_leader_keeps_its_parts_and_stops_when_another_took_over() -> None:
    leadership, lock, parts = elect([Acquired(), Unreachable("gone"), Unreachable("gone"),
                                     Acquired(), Unreachable("cut"), HeldBy("r2")])
    await leadership.look()
    await leadership.look()
    assert role(leadership) is Role.ORPHANED and leadership.leads
    assert leadership.health().detail["error"] == "gone"
    await leadership.look()
    await leadership.look()
    assert role(leadership) is Role.LEADING and parts.started == 1 and parts.deposed == 0
    await leadership.look()
    await leadership.look()
    assert role(leadership) is Role.DEPOSED and parts.deposed == 1
    assert leadership.leader == "r2" and not leadership.leads
    assert lock.asked == ["try", "confirm", "try", "try", "confirm", "try"]


async def test_a_takeover_that_fails_stops_the_process() -> None:
    lock = ScriptedLock([Acquired()])
    deposed: list[bool] = []

    async def broken() -> None:
        raise RuntimeError("AMI secret refused")

    async def depose() -> None:
        deposed.append(True)

    leadership = Leadership(lock, interval=0.01, lead=broken, deposed=depose)
    await leadership._run()  # the loop: it looks, the takeover raises, it stops
    assert leadership.role is Role.DEPOSED and deposed == [True]


def gated_app(state: dict[str, bool]) -> FastAPI:
    app = FastAPI()

    @app.get("/v1/seats")
    async def seats() -> list[str]:
        return ["1001"]

    @app.get("/readyz")
    async def ready() -> dict[str, bool]:
        return {"ok": state["leads"]}

    app.add_middleware(StandbyGate, leads=lambda: state["leads"], leader=lambda: "r0")
    return app


async def test_a_standby_refuses_the_api_naming_the_leader_and_serves_health() -> None:
    state = {"leads": False}
    transport = httpx.ASGITransport(app=gated_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/v1/seats")
        assert r.status_code == 503 and r.headers["retry-after"] == "1"
        assert r.json()["code"] == "standby" and r.json()["details"] == {"leader": "r0"}
        assert "replica r0 leads" in r.json()["message"]
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/v1x")).status_code == 404  # only /v1 and below
        state["leads"] = True
        assert (await client.get("/v1/seats")).json() == ["1001"]


async def test_a_standby_closes_websockets_after_the_handshake_with_try_again_later() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("a standby must not reach the app")

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    gate = StandbyGate(app, leads=lambda: False, leader=lambda: None)
    await gate({"type": "websocket", "path": "/v1/events"}, receive, send)
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.close"]
    assert sent[1]["code"] == 1013 and "no replica leads" in sent[1]["reason"]
