"""A call that ends while no service follows Asterisk gets its real end in history, from
Asterisk's channel event log: real Asterisk 22 writing its log into PostgreSQL, SIPp
phones, the service killed and started again."""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from typing import Any

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.bench import drop_ami
from tests.support.campaign import bench_fixtures
from tests.support.service import CtiService, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

AGENTS = ["2301"]
NUMBER = "861391230001"
GAP = 4.0  # seconds the service stays cut off after the call ended

bench_asterisk, bench, service = bench_fixtures(AGENTS, wrapup_seconds=1, env={})


def talk_in_queue_log(asterisk: AsteriskInstance) -> int:
    """app_queue's own talk time of the last call a seat completed."""
    complete = [r for r in asterisk.queue_log_rows()
                if r[4] in ("COMPLETECALLER", "COMPLETEAGENT")][-1]
    return int(complete[6])


def timeline_kinds(svc: CtiService) -> list[str]:
    call_id = svc.get("/v1/calls", customer_number=NUMBER)["items"][0]["id"]
    return [e["kind"] for e in svc.get(f"/v1/calls/{call_id}")["timeline"]]


def history_row(pg: PostgresCluster) -> dict[str, Any] | None:
    out = pg.psql(
        "SELECT state, seat_id, abandoned, talk_seconds, wait_seconds, "
        "extract(epoch FROM answered_at), extract(epoch FROM ended_at), linkedid "
        f"FROM calls WHERE customer_number = '{NUMBER}'", database="cti").strip()
    if not out:
        return None
    state, seat, abandoned, talk, wait, answered, ended, linkedid = out.split("|")
    return {"state": state, "seat_id": seat, "abandoned": abandoned == "t",
            "talk": int(talk) if talk else None, "wait": int(wait) if wait else None,
            "answered_at": float(answered) if answered else None,
            "ended_at": float(ended) if ended else None, "linkedid": linkedid}


def log_end(pg: PostgresCluster, linkedid: str) -> float:
    """When the call's last channel ended, as Asterisk logged it."""
    out = pg.psql("SELECT extract(epoch FROM max(eventtime) AT TIME ZONE 'UTC') FROM cel "
                  f"WHERE linkedid = '{linkedid}' AND eventtype = 'CHAN_END'", database="cti")
    return float(out.strip())


def test_a_call_that_ends_while_the_service_is_down_gets_its_real_end(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    bench.agent(AGENTS[0], mode="answer", answer_after=0.5)
    bench_asterisk.cli(f"queue add member PJSIP/{AGENTS[0]} to sales")
    customer = bench.customer("200", hold=6.0, caller_number=NUMBER)
    up = until(lambda: (r := history_row(pg_cluster)) and r["answered_at"] and r, 20,
               "the answered call in history")
    assert up["state"] != "ended", up

    service.crash()  # the call ends while no service runs
    assert customer.wait(timeout=30).ok
    until(lambda: bench_asterisk.cli("core show channels count").startswith("0 active"), 15,
          "the call over")
    restarted = datetime.now().timestamp()
    service.start()
    service.wait_ready()

    row = until(lambda: (r := history_row(pg_cluster)) and r["state"] == "ended" and r, 30,
                "the call ended in history")
    end = log_end(pg_cluster, row["linkedid"])
    assert row["ended_at"] == pytest.approx(end, abs=0.01), (row, end)
    assert row["ended_at"] < restarted, "closed at the restart, not when it ended"
    assert row["seat_id"] == AGENTS[0] and row["abandoned"] is False, row
    assert abs(row["talk"] - talk_in_queue_log(bench_asterisk)) <= 1, row

    call_id = service.get("/v1/calls", customer_number=NUMBER)["items"][0]["id"]
    timeline = service.get(f"/v1/calls/{call_id}")["timeline"]
    settled = [e for e in timeline if e["kind"] == "ended_unseen"]
    assert settled and settled[-1]["detail"]["source"] == "channel event log", timeline
    assert service.metric("cti_history_settled_from_log_total") == 1


def test_a_call_that_ends_while_ami_is_cut_is_corrected_from_the_log(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """The service is frozen and its AMI connection cut while the call is up; the call
    ends; GAP seconds later the service runs again, reconnects, and the resync closes the
    call at that moment (its talk running on to the reconnect). The log puts it right."""
    bench.agent(AGENTS[0], mode="answer", answer_after=0.5)
    bench_asterisk.cli(f"queue add member PJSIP/{AGENTS[0]} to sales")
    customer = bench.customer("200", hold=4.0, caller_number=NUMBER)
    until(lambda: (r := history_row(pg_cluster)) and r["answered_at"] and r, 20,
          "the answered call in history")
    assert service._proc is not None
    pid = service._proc.pid
    os.kill(pid, signal.SIGSTOP)  # nothing of the service runs: no event is read
    try:
        assert drop_ami(bench_asterisk) >= 1
        assert customer.wait(timeout=30).ok
        until(lambda: bench_asterisk.cli("core show channels count").startswith("0 active"),
              15, "the call over")
        time.sleep(GAP)
    finally:
        os.kill(pid, signal.SIGCONT)

    row = until(lambda: (r := history_row(pg_cluster)) and r["state"] == "ended"
                and "corrected_from_log" in timeline_kinds(service) and r, 30,
                "the call corrected from the log")
    end = log_end(pg_cluster, row["linkedid"])
    assert row["ended_at"] == pytest.approx(end, abs=0.01), (row, end)
    assert abs(row["talk"] - talk_in_queue_log(bench_asterisk)) <= 1, row
    assert row["seat_id"] == AGENTS[0] and row["abandoned"] is False, row
    # Both in the timeline: when the call really ended (from the log), and when the
    # service found it gone.
    assert {"ended_unseen", "corrected_from_log"} <= set(timeline_kinds(service))
