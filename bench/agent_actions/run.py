"""A REST agent action to its seat state change on the bus, against the bare AMI action.

    .venv/bin/python -m bench.agent_actions [--rounds N] [--warmup W] [--json PATH]

Real parts: an Asterisk 22 from the bench root and a PostgreSQL cluster, both started for
the run. The service is built in-process with ``cti.runtime.build_app`` and served by
uvicorn on a loopback socket; the client is httpx over that socket (as an agent desktop
would be). A subscriber on the app's bus (``app.state.bus``) notes when each
``SeatStateChanged`` is published: that publish is what the WebSocket stream
``/v1/events`` forwards, so the figure stops there (the stream itself is not in this
branch).

Each round, on seat 1001 through REST: pause (reason ``break``), unpause, logout, login
(``sales``); each timed from the request sent to the matching ``SeatStateChanged`` on the
bus. Then the same four actions sent bare over AMI for seat 1002 on a separate
``AmiConnection`` (QueuePause, QueuePause, QueueRemove, QueueAdd), each timed to the
action's Response (the baseline) and to its app_queue event arriving on that connection.
REST and bare rounds alternate, so machine noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from pydantic import SecretStr

from bench.stats import percentile
from cti.ami.connection import AmiConnection
from cti.ami.events import EventBatch
from cti.config import (
    AmiNode,
    AmiSettings,
    ApiSettings,
    AsteriskFilesSettings,
    DatabaseSettings,
    HistorySettings,
    Settings,
    TelephonySettings,
)
from cti.db import repositories
from cti.db.engine import make_engine, make_sessionmaker
from cti.db.migrate import upgrade
from cti.domain.events import DomainEvent, SeatStateChanged
from cti.runtime import build_app
from cti.stack.asterisk import AsteriskInstance, provision
from cti.stack.ports import free_port
from cti.stack.postgres import PostgresCluster
from cti.stack.render import Seat

log = logging.getLogger("bench.agent_actions")

REST_SEAT = "1001"
BARE_SEAT = "1002"
GROUP = "sales"
ACTIONS = ("pause", "unpause", "logout", "login")
# the app_queue event each bare action produces
BARE_EVENT = {"pause": "QueueMemberPause", "unpause": "QueueMemberPause",
              "logout": "QueueMemberRemoved", "login": "QueueMemberAdded"}
WAIT = 10.0  # seconds; a reply or state change later than this fails the run


@dataclass
class Samples:
    """Milliseconds per action kind."""

    by_action: dict[str, list[float]] = field(default_factory=lambda: {a: [] for a in ACTIONS})

    def add(self, action: str, ms: float) -> None:
        self.by_action[action].append(ms)

    def all(self) -> list[float]:
        return [v for values in self.by_action.values() for v in values]


def summary(values: Sequence[float]) -> dict[str, float]:
    return {"p50": percentile(values, 50), "p99": percentile(values, 99),
            "max": max(values), "n": len(values)}


class SeatChanges:
    """Bus subscriber: resolves the one pending wait for (seat, transition)."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], asyncio.Future[float]] = {}

    def expect(self, seat: str, transition: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending[(seat, transition)] = future
        return future

    def __call__(self, events: Sequence[DomainEvent]) -> None:
        now = time.perf_counter()
        for event in events:
            if isinstance(event, SeatStateChanged):
                future = self._pending.pop((event.seat.id, event.transition), None)
                if future is not None and not future.done():
                    future.set_result(now)


class BareEvents:
    """Sink of the baseline AMI connection: notes when each awaited app_queue event came."""

    def __init__(self, interface: str) -> None:
        self._interface = interface
        self._pending: dict[str, asyncio.Future[float]] = {}

    def expect(self, event: str) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._pending[event] = future
        return future

    def __call__(self, batch: EventBatch) -> None:
        now = time.perf_counter()
        for event in batch.events:
            if event.get("Interface") != self._interface:
                continue
            future = self._pending.pop(str(event.get("Event", "")), None)
            if future is not None and not future.done():
                future.set_result(now)


async def until(check: Callable[[], Awaitable[bool]], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def service_settings(asterisk: AsteriskInstance, db_url: str, port: int,
                     workdir: Path) -> Settings:
    p = asterisk.params
    root = asterisk.installation.root
    return Settings(
        environment="test",
        database=DatabaseSettings(url=db_url),
        ami=AmiSettings(nodes=[AmiNode(name="node1", port=p.ami_port, username=p.ami_username,
                                       secret=SecretStr(p.ami_secret))]),
        history=HistorySettings(spill_dir=str(workdir / "spill")),
        api=ApiSettings(port=port, access_log=False),
        telephony=TelephonySettings(wrapup_seconds=p.wrapup_seconds,
                                    max_wait_seconds=max(p.max_wait, 1),
                                    voicemail_pin=p.voicemail_pin),
        asterisk=AsteriskFilesSettings(
            root=str(root) if root is not None else "",
            etc_dir=str(asterisk.path("etc")), spool_dir=str(asterisk.path("spool")),
            moh_dir=str(asterisk.path("moh")), sounds_dir=str(asterisk.path("sounds"))),
    )


async def create_token(db_url: str) -> str:
    engine = make_engine(DatabaseSettings(url=db_url), pool_size=1, max_overflow=0)
    try:
        async with make_sessionmaker(engine)() as session:
            return await repositories.create_token(session, "bench", "supervisor", "bench")
    finally:
        await engine.dispose()


async def rest_round(client: httpx.AsyncClient, changes: SeatChanges, out: Samples,
                     responses: Samples) -> None:
    bodies: dict[str, Any] = {"pause": {"reason": "break"}, "unpause": None,
                              "logout": {"groups": [GROUP]}, "login": {"groups": [GROUP]}}
    for action in ACTIONS:
        changed = changes.expect(REST_SEAT, action)
        t0 = time.perf_counter()
        r = await client.post(f"/v1/seats/{REST_SEAT}/{action}", json=bodies[action])
        t_response = time.perf_counter()
        if r.status_code != 202:
            raise RuntimeError(f"{action}: HTTP {r.status_code} {r.text}")
        t_event = await asyncio.wait_for(changed, WAIT)
        out.add(action, (t_event - t0) * 1000)
        responses.add(action, (t_response - t0) * 1000)


async def bare_round(conn: AmiConnection, events: BareEvents, out: Samples,
                     to_event: Samples) -> None:
    interface = f"PJSIP/{BARE_SEAT}"
    actions: dict[str, dict[str, str | int]] = {
        "pause": {"Action": "QueuePause", "Interface": interface, "Paused": "true",
                  "Reason": "break"},
        "unpause": {"Action": "QueuePause", "Interface": interface, "Paused": "false"},
        "logout": {"Action": "QueueRemove", "Queue": GROUP, "Interface": interface},
        "login": {"Action": "QueueAdd", "Queue": GROUP, "Interface": interface,
                  "Penalty": 0, "MemberName": BARE_SEAT, "StateInterface": interface,
                  "Paused": "false"},
    }
    for action in ACTIONS:
        arrived = events.expect(BARE_EVENT[action])
        t0 = time.perf_counter()
        await conn.send(actions[action], reply_within=WAIT)
        t_response = time.perf_counter()
        t_event = await asyncio.wait_for(arrived, WAIT)
        out.add(action, (t_response - t0) * 1000)
        to_event.add(action, (t_event - t0) * 1000)


async def measure(asterisk: AsteriskInstance, db_url: str, workdir: Path, rounds: int,
                  warmup: int) -> dict[str, Any]:
    port = free_port()
    settings = service_settings(asterisk, db_url, port, workdir)
    app = build_app(settings)
    changes = SeatChanges()
    app.state.bus.subscribe("bench", changes)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", access_log=False))
    serving = asyncio.create_task(server.serve())
    p = asterisk.params
    node = AmiNode(name="bare", port=p.ami_port, username=p.ami_username,
                   secret=SecretStr(p.ami_secret))
    bare_events = BareEvents(f"PJSIP/{BARE_SEAT}")

    async def nothing(_: AmiConnection) -> None:
        return None

    bare = AmiConnection(node, AmiSettings(nodes=[node], ping_interval=3600), bare_events,
                         nothing, lambda _c, _r: None)
    token = await create_token(db_url)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=WAIT,
                               headers={"Authorization": f"Bearer {token}"})
    try:
        async def ready() -> bool:
            if serving.done():
                serving.result()  # raises what stopped it
            try:
                if (await client.get("/readyz")).status_code != 200:
                    return False
                seats = (await client.get("/v1/seats")).json()
            except httpx.HTTPError:
                return False
            return REST_SEAT in {s["id"] for s in seats}

        await until(ready, 60, "the service to be ready with its seats")
        r = await client.put(f"/v1/skill-groups/{GROUP}/members/{REST_SEAT}", json={"level": 0})
        r.raise_for_status()
        logged_in = changes.expect(REST_SEAT, "login")
        (await client.post(f"/v1/seats/{REST_SEAT}/login", json={"groups": [GROUP]})
         ).raise_for_status()
        await asyncio.wait_for(logged_in, WAIT)

        bare.start()

        async def bare_ready() -> bool:
            return bare.ready

        await until(bare_ready, 30, "the baseline AMI connection")
        await bare.send({"Action": "QueueAdd", "Queue": GROUP,
                         "Interface": f"PJSIP/{BARE_SEAT}", "MemberName": BARE_SEAT,
                         "StateInterface": f"PJSIP/{BARE_SEAT}", "Penalty": 0})

        rest, rest_http, base, base_event = Samples(), Samples(), Samples(), Samples()
        scratch = (Samples(), Samples(), Samples(), Samples())
        started = time.perf_counter()
        for i in range(warmup + rounds):
            keep = i >= warmup
            await rest_round(client, changes, rest if keep else scratch[0],
                             rest_http if keep else scratch[1])
            await bare_round(bare, bare_events, base if keep else scratch[2],
                             base_event if keep else scratch[3])
            if keep and (i - warmup + 1) % 50 == 0:
                print(f"round {i - warmup + 1}/{rounds}: REST->bus p50 "
                      f"{percentile(rest.all(), 50):.2f} ms, bare AMI p50 "
                      f"{percentile(base.all(), 50):.2f} ms", flush=True)
        elapsed = time.perf_counter() - started
    finally:
        await client.aclose()
        await bare.stop()
        server.should_exit = True
        await serving

    rest_all, base_all = summary(rest.all()), summary(base.all())
    return {
        "rounds": rounds,
        "warmup_rounds": warmup,
        "seconds": elapsed,
        "rest_to_bus_ms": rest_all,
        "rest_http_reply_ms": summary(rest_http.all()),
        "bare_ami_response_ms": base_all,
        "bare_ami_event_ms": summary(base_event.all()),
        "ratio_p50": rest_all["p50"] / base_all["p50"],
        "ratio_p99": rest_all["p99"] / base_all["p99"],
        "per_action": {
            a: {"rest_to_bus_ms": summary(rest.by_action[a]),
                "bare_ami_response_ms": summary(base.by_action[a]),
                "bare_ami_event_ms": summary(base_event.by_action[a]),
                "ratio_p50": percentile(rest.by_action[a], 50)
                / percentile(base.by_action[a], 50)}
            for a in ACTIONS
        },
    }


def report(result: dict[str, Any]) -> str:
    lines = [f"{'':10} {'REST->bus p50':>14} {'p99':>8} {'bare AMI p50':>13} {'p99':>8} "
             f"{'ratio p50':>10} {'AMI event p50':>14}"]
    rows = [(a, result["per_action"][a]) for a in ACTIONS]
    rows.append(("all", {"rest_to_bus_ms": result["rest_to_bus_ms"],
                         "bare_ami_response_ms": result["bare_ami_response_ms"],
                         "bare_ami_event_ms": result["bare_ami_event_ms"],
                         "ratio_p50": result["ratio_p50"]}))
    for name, row in rows:
        r, b, e = row["rest_to_bus_ms"], row["bare_ami_response_ms"], row["bare_ami_event_ms"]
        lines.append(f"{name:10} {r['p50']:14.2f} {r['p99']:8.2f} {b['p50']:13.2f} "
                     f"{b['p99']:8.2f} {row['ratio_p50']:10.2f} {e['p50']:14.2f}")
    lines.append(f"ratio p99 (all): {result['ratio_p99']:.2f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rounds", type=int, default=300)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--json", type=Path, default=Path(__file__).with_name("last_run.json"))
    args = p.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="bench-agent-actions-"))
    # The service's own INFO logs (one line per AMI action) are part of its cost: keep
    # them, in a file, as `cti serve` would write them.
    logging.basicConfig(level=logging.INFO, filename=workdir / "service.log",
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    cluster = PostgresCluster(tempfile.mkdtemp(prefix="bench-pg-"), durable=False)
    cluster.init()
    cluster.start()
    asterisk = AsteriskInstance.make(
        provision(), seats=[Seat(REST_SEAT, contact_port=free_port(udp=True)),
                            Seat(BARE_SEAT, contact_port=free_port(udp=True))])
    try:
        upgrade(cluster.url)
        asterisk.start()
        result = asyncio.run(measure(asterisk, cluster.url, workdir, args.rounds, args.warmup))
    finally:
        asterisk.stop()
        shutil.rmtree(asterisk.host_path(), ignore_errors=True)
        cluster.destroy()
    print(report(result))
    args.json.write_text(json.dumps(result, indent=2))
    print(f"raw figures: {args.json}; service log: {workdir / 'service.log'}")


if __name__ == "__main__":
    main()
