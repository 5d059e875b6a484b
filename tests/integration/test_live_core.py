"""The live core end to end: real Asterisk 22, real PostgreSQL, SIPp phones, the service
as its own process, observed only through its REST API and the database."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    with serving(asterisk, pg_cluster, pg_url, tmp_path,
                 truncate=("calls", "call_events", "seat_state_log", "seats")) as svc:
        yield svc


def seat_state(svc: CtiService, seat: str) -> str:
    return str(svc.get(f"/v1/seats/{seat}")["state"])


def watch_states(svc: CtiService, seat: str, until_state: str, timeout: float) -> list[str]:
    """Every distinct state the seat shows over REST until it reaches ``until_state``
    after having left it; polled every 20 ms."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = seat_state(svc, seat)
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == until_state and len(seen) > 1:
            return seen
        time.sleep(0.02)
    raise AssertionError(f"seat {seat} never came back to {until_state}: {seen}")


def is_subsequence(wanted: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def history_calls(svc: CtiService, **filters: Any) -> list[dict[str, Any]]:
    """Calls history holds as ended (an ended call may reach the database a moment after
    it left the live mirror; the API shows it and its timeline from the history writer
    meanwhile), once the writer holds nothing more: what the database itself holds."""
    if not svc.history_written():
        return []
    page = svc.get("/v1/calls", status="ended", limit=100, **filters)
    return [c for c in page["items"] if c["state"] == "ended"]


def queue_log_for(asterisk: AsteriskInstance, verb: str) -> list[list[str]]:
    return [row for row in asterisk.queue_log_rows() if row[4] == verb]


def test_inbound_call_is_tracked_live_and_lands_in_history(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    agent = sipp.agent("1001", mode="answer", answer_after=1.5)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    until(lambda: seat_state(service, "1001") == "available", 10, "seat 1001 available")

    # The customer hangs up 6 s after Asterisk answers it: ~1.5 s queued, ~4.5 s talking.
    customer = sipp.customer("200", hold=6.0, caller_number="861391234567")
    states = watch_states(service, "1001", "available", timeout=40)
    assert customer.wait(timeout=30).ok
    assert is_subsequence(["available", "ringing", "on_call", "available"], states), states
    assert "wrap_up" in states  # the group's 2 s wrap-up is visible between
    assert agent.stop().ok

    call = until(lambda: history_calls(service, customer_number="861391234567"), 15,
                 "the call in history")[0]
    connect = queue_log_for(asterisk, "CONNECT")[-1]
    complete = (queue_log_for(asterisk, "COMPLETECALLER") or
                queue_log_for(asterisk, "COMPLETEAGENT"))[-1]
    assert call["direction"] == "inbound"
    assert call["skill_group"] == "sales" and call["seat_id"] == "1001"
    assert call["wait_seconds"] == int(connect[5])  # app_queue's own hold time
    assert call["talk_seconds"] == int(complete[6])
    assert 3 <= call["talk_seconds"] <= 6 and call["abandoned"] is False

    detail = service.get(f"/v1/calls/{call['id']}")
    kinds = [e["kind"] for e in detail["timeline"]]
    assert is_subsequence(["started", "queued", "offered", "answered", "completed", "ended"],
                          kinds), kinds

    log = pg_rows(service, "SELECT state, transition FROM seat_state_log WHERE seat_id='1001' "
                           "ORDER BY at, id")
    assert is_subsequence(["ringing|offer", "on_call|answer", "wrap_up|complete",
                           "available|wrap_up_end"], log), log


def pg_rows(svc: CtiService, sql: str) -> list[str]:
    url = svc.env["CTI_DATABASE__URL"].replace("postgresql+asyncpg://", "postgresql://")
    out = subprocess.run(["psql", url, "-At", "-c", sql], capture_output=True, text=True,
                         check=True, timeout=30)
    return out.stdout.split()


def asterisk_members(asterisk: AsteriskInstance, queue: str) -> dict[str, bool]:
    """seat -> paused, as Asterisk's own CLI reports the queue."""
    members: dict[str, bool] = {}
    for line in asterisk.cli(f"queue show {queue}").splitlines():
        line = line.strip()
        if line.startswith("PJSIP/"):
            members[line.split()[0].split("/")[1]] = "(paused" in line
    return members


def mirror_members(svc: CtiService, queue: str) -> dict[str, bool]:
    group = svc.get(f"/v1/skill-groups/{queue}")
    return {m["seat_id"]: bool(m["paused"]) for m in group["members"]}


def test_mirror_is_rebuilt_after_asterisk_restarts(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    asterisk.cli("queue add member PJSIP/1001 to sales")
    asterisk.cli("queue add member PJSIP/1002 to sales")
    until(lambda: mirror_members(service, "sales") == {"1001": False, "1002": False}, 10,
          "both seats in the mirror")

    asterisk.stop()
    until(lambda: service.ready()[0] == 503, 15, "/readyz to report AMI down")
    asterisk.start()
    # Changes made before the service reconnects are only visible through the resync.
    asterisk.cli("queue add member PJSIP/1003 to support")
    asterisk.cli("queue pause member PJSIP/1003 queue support reason lunch")
    service.wait_ready(30)

    for queue in ("sales", "support"):
        until(lambda q=queue: mirror_members(service, q) == asterisk_members(asterisk, q), 15,
              f"the mirror of {queue} to match Asterisk")
    seat = service.get("/v1/seats/1003")
    assert (seat["state"], seat["pause_reason"]) == ("paused", "lunch")
    # Seats Asterisk no longer has (dynamic members do not survive a restart here) are
    # offline in the mirror, not left as they were.
    for seat_id in ("1001", "1002"):
        in_asterisk = seat_id in asterisk_members(asterisk, "sales")
        assert (seat_state(service, seat_id) != "offline") == in_asterisk

    # And live events are trusted again: a new member shows up at once.
    asterisk.cli("queue add member PJSIP/1004 to sales")
    until(lambda: seat_state(service, "1004") == "available", 10, "seat 1004 live again")


def test_a_frozen_asterisk_is_detected_by_the_keepalive(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    """A half-open AMI connection (Asterisk stops answering, TCP stays up) is noticed."""
    pid = asterisk.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        _, body = until(lambda: (lambda r: r if r[0] == 503 else None)(service.ready()),
                        15, "/readyz to notice the silent AMI")
        ami = next(c for c in body["components"] if c["name"].startswith("ami:"))
        assert ami["ok"] is False
    finally:
        os.kill(pid, signal.SIGCONT)
    service.wait_ready(30)


def test_calls_made_while_postgres_is_down_all_reach_history(
    asterisk: AsteriskInstance,
    sipp: SippBench,
    service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    agent = sipp.agent("1002", mode="answer", answer_after=0.2)
    asterisk.cli("queue add member PJSIP/1002 to sales")
    until(lambda: seat_state(service, "1002") == "available", 10, "seat 1002 available")

    pg_cluster.stop()
    until(lambda: service.ready()[0] == 503, 15, "/readyz to report the database down")
    numbers = [f"86100000{i:04d}" for i in range(3)]
    for number in numbers:
        customer = sipp.customer("200", hold=1.0, caller_number=number)
        assert customer.wait(timeout=30).ok
        until(lambda: seat_state(service, "1002") == "available", 15, "the seat to free up")
    status, body = service.ready()
    db = next(c for c in body["components"] if c["name"] == "history")
    assert status == 503 and db["ok"] is False and db["detail"]["pending"] > 0

    pg_cluster.start()
    service.wait_ready(30)
    for number in numbers:
        calls = until(lambda n=number: history_calls(service, customer_number=n), 20,
                      f"call from {number} in history")
        assert len(calls) == 1 and calls[0]["seat_id"] == "1002"
        assert calls[0]["talk_seconds"] is not None
    assert agent.stop().ok
