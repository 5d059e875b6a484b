"""Two replicas of the service on one database and one Asterisk: real PostgreSQL advisory
locks, real AMI sessions, a real call across a failover.

One replica leads (drives Asterisk); the other stands by, refuses the API naming the
leader, and takes over when the leader dies; a leader that lost its database session
while the other took over stops.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.conftest import BENCH_WRAPUP_SECONDS
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

TABLES = ("calls", "call_events", "seat_state_log")


def standby(asterisk: AsteriskInstance, pg_url: str, workdir: Path, name: str,
            **env: str) -> CtiService:
    svc = CtiService(asterisk, pg_url, workdir, BENCH_WRAPUP_SECONDS)
    svc.env.update({"CTI_CLUSTER__REPLICA": name, **env})
    svc.start()
    return svc


def leadership(svc: CtiService) -> dict[str, Any]:
    _, readiness = svc.ready()
    return dict(next(c for c in readiness["components"] if c["name"] == "leadership"))


def ami_sessions(asterisk: AsteriskInstance) -> int:
    found = re.search(r"(\d+) users? connected", asterisk.cli("manager show connected"))
    assert found, "Asterisk did not say how many AMI sessions it has"
    return int(found.group(1))


def ended_calls(svc: CtiService, number: str) -> list[dict[str, Any]]:
    if not svc.history_written():
        return []
    page = svc.get("/v1/calls", status="ended", customer_number=number, limit=50)
    return [c for c in page["items"] if c["state"] == "ended"]


def test_a_standby_takes_over_a_call_in_progress_when_the_leader_dies(
    asterisk: AsteriskInstance, sipp: SippBench, pg_cluster: PostgresCluster, pg_url: str,
    tmp_path: Path,
) -> None:
    with serving(asterisk, pg_cluster, pg_url, tmp_path / "a", truncate=TABLES,
                 env={"CTI_CLUSTER__REPLICA": "replica-a"}) as a:
        b = standby(asterisk, pg_url, tmp_path / "b", "replica-b",
                    CTI_CLUSTER__CHECK_INTERVAL="0.2")
        try:
            status, _ = b.ready()
            seen = leadership(b)
            assert status == 503 and seen["ok"] is False, seen
            assert seen["detail"]["role"] == "standby", seen
            assert seen["detail"]["leader"] == "replica-a", seen
            refused = b.http.get("/v1/seats")
            assert refused.status_code == 503, refused.text
            assert refused.json()["details"] == {"leader": "replica-a"}, refused.text
            assert b.metric("cti_replica_leads") == 0 and a.metric("cti_replica_leads") == 1
            assert ami_sessions(asterisk) == 1  # only the leader drives Asterisk

            agent = sipp.agent("1001", mode="answer", answer_after=0.5)
            asterisk.cli("queue add member PJSIP/1001 to sales")
            customer = sipp.customer("200", hold=12.0, caller_number="861391110001")
            until(lambda: a.get("/v1/seats/1001")["state"] == "on_call", 15,
                  "the call on seat 1001, seen by the leader")

            a.crash()
            died = time.monotonic()
            b.wait_ready(15)
            took_over = time.monotonic() - died
            assert leadership(b)["detail"]["role"] == "leading"
            # The new leader rebuilt the mirror from Asterisk: the call is there, live.
            live = until(lambda: b.get("/v1/calls", status="active")["items"], 10,
                         "the call in progress, seen by the new leader")
            assert [c["seat_id"] for c in live] == ["1001"], live
            assert customer.wait(timeout=30).ok
            assert agent.stop().ok

            # It lands in history once, with the seat and the whole talk time.
            call = until(lambda: ended_calls(b, "861391110001"), 20, "the call in history")
            assert len(call) == 1, call
            assert call[0]["seat_id"] == "1001" and call[0]["skill_group"] == "sales", call
            assert 8 <= call[0]["talk_seconds"] <= 13, call
            assert ami_sessions(asterisk) == 1
            print(f"takeover: ready {took_over:.2f} s after the leader died")
        finally:
            b.stop()
            print(b.log_tail(80))


def test_a_leader_cut_off_from_the_database_while_another_took_over_stops(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path,
) -> None:
    # The leader looks every 3 s, the standby every 0.2 s: once PostgreSQL ends the
    # leader's session, the standby takes the lock before the leader tries to take it back.
    with serving(asterisk, pg_cluster, pg_url, tmp_path / "a", truncate=TABLES,
                 env={"CTI_CLUSTER__REPLICA": "replica-a",
                      "CTI_CLUSTER__CHECK_INTERVAL": "3"}) as a:
        b = standby(asterisk, pg_url, tmp_path / "b", "replica-b",
                    CTI_CLUSTER__CHECK_INTERVAL="0.2")
        try:
            assert leadership(b)["detail"]["role"] == "standby"
            ended = pg_cluster.psql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'cti-leader:replica-a'", database="cti")
            assert ended.strip() == "1", ended
            b.wait_ready(10)
            code = a.wait_exit(20)
            assert code == 75, a.log_tail()  # EX_TEMPFAIL: start me again (as a standby)
            assert "took the leader lock while this replica had lost the database" in (
                a.log_path.read_text()), a.log_tail()
            assert leadership(b)["detail"]["role"] == "leading"
            until(lambda: ami_sessions(asterisk) == 1, 10, "only the new leader's AMI session")
            assert b.get("/v1/seats")  # the new leader answers the API
        finally:
            b.stop()
            print(b.log_tail(80))


def test_a_lone_leader_whose_lock_session_stalls_keeps_leading(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path,
) -> None:
    """The lock's session stops answering (its PostgreSQL backend frozen) but lives: the
    lock is still this replica's. It must neither give the session up (freeing the lock)
    nor take its own session for another replica's and step down."""
    with serving(asterisk, pg_cluster, pg_url, tmp_path / "a", truncate=TABLES,
                 env={"CTI_CLUSTER__REPLICA": "replica-a", "CTI_CLUSTER__TIMEOUT": "1",
                      "CTI_CLUSTER__CHECK_INTERVAL": "0.2"}) as a:
        backend = int(pg_cluster.psql(
            "SELECT pid FROM pg_stat_activity "
            "WHERE application_name = 'cti-leader:replica-a'", database="cti").strip())
        os.kill(backend, signal.SIGSTOP)
        try:
            until(lambda: leadership(a)["detail"]["role"] == "orphaned", 10,
                  "the leader to see its lock session not answering")
            time.sleep(3)  # many looks with no answer
            assert a._proc is not None and a._proc.poll() is None, a.log_tail()
        finally:
            os.kill(backend, signal.SIGCONT)
        until(lambda: leadership(a)["detail"]["role"] == "leading", 10,
              "the leader's session answering again")
        assert a._proc is not None and a._proc.poll() is None, a.log_tail()
        assert "deposed" not in a.log_path.read_text()


def test_a_hung_leader_loses_the_lock_to_the_standby_and_steps_down_when_it_wakes(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path,
) -> None:
    """The leader's process stops (SIGSTOP: a blocked loop, a paused VM); its kernel would
    answer TCP keepalive for it for ever, so PostgreSQL ends its idle lock session instead
    and the standby takes over. Woken, the old leader finds the lock taken and stops."""
    fast = {"CTI_CLUSTER__CHECK_INTERVAL": "0.5", "CTI_CLUSTER__TIMEOUT": "1"}
    with serving(asterisk, pg_cluster, pg_url, tmp_path / "a", truncate=TABLES,
                 env={"CTI_CLUSTER__REPLICA": "replica-a", **fast}) as a:
        b = standby(asterisk, pg_url, tmp_path / "b", "replica-b", **fast)
        try:
            assert leadership(b)["detail"]["role"] == "standby"
            assert a._proc is not None
            os.kill(a._proc.pid, signal.SIGSTOP)
            try:
                b.wait_ready(20)  # the lock session idle past its limit (5 s), ended
            finally:
                os.kill(a._proc.pid, signal.SIGCONT)
            assert a.wait_exit(20) == 75, a.log_tail()
            assert leadership(b)["detail"]["role"] == "leading"
            until(lambda: ami_sessions(asterisk) == 1, 10, "only the new leader's AMI session")
        finally:
            b.stop()
            print(b.log_tail(80))
