"""The workload reports over real calls: Asterisk 22, PostgreSQL and SIPp phones, the
service as its own process. An agent takes one caller, pauses for lunch while a second
caller gives up waiting, and logs out; the reports are then read over REST in each format
and held against what the test saw and app_queue's own queue_log."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pyreadstat
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

SERVED, GAVE_UP = "861000000701", "861000000702"


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    with serving(asterisk, pg_cluster, pg_url, tmp_path, groups_wrap_up=True,
                 truncate=("calls", "call_events", "seat_state_log", "seats")) as svc:
        until(lambda: "1001" in {s["id"] for s in svc.get("/v1/seats")}, 15,
              "seats registered from Asterisk")
        yield svc


def ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json() if r.content else None


def state(svc: CtiService) -> str:
    return str(svc.get("/v1/seats/1001")["state"])


def rows_by(doc: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {str(r[key]): r for r in doc["rows"]}


def test_the_workload_reports_add_up_what_the_agent_and_callers_did(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService, tmp_path: Path
) -> None:
    sipp.agent("1001", mode="answer", answer_after=1.0)
    began = datetime.now(UTC)
    ok(service.http.put("/v1/skill-groups/sales/members/1001", json={"level": 0}))
    ok(service.http.post("/v1/seats/1001/login", json={"groups": ["sales"]}))
    until(lambda: state(service) == "available", 10, "logged in")
    logged_in = time.monotonic()

    assert sipp.customer("200", hold=5.0, caller_number=SERVED).wait(timeout=30).ok
    until(lambda: state(service) == "available", 15, "back from the call and its wrap-up")

    ok(service.http.post("/v1/seats/1001/pause", json={"reason": "lunch"}))
    until(lambda: state(service) == "paused", 10, "paused for lunch")
    paused = time.monotonic()
    assert service.metric("cti_seats_paused", reason="lunch") == 1
    # Nobody free: this caller waits in the queue 3 s after the answer, then hangs up.
    assert sipp.customer("200", hold=3.0, caller_number=GAVE_UP).wait(timeout=30).ok
    ok(service.http.post("/v1/seats/1001/unpause"))
    until(lambda: state(service) == "available", 10, "back from lunch")
    lunch = time.monotonic() - paused
    ok(service.http.post("/v1/seats/1001/logout", json={}))
    until(lambda: state(service) == "offline", 10, "logged out")
    shift = time.monotonic() - logged_in
    until(service.history_written, 15, "history written")

    period = {"from": (began - timedelta(seconds=5)).isoformat(),
              "to": (datetime.now(UTC) + timedelta(seconds=5)).isoformat(),
              "tz": "Asia/Shanghai"}
    queue_log = [r for r in asterisk.queue_log_rows() if int(r[0]) >= began.timestamp() - 1]
    (complete,) = [r for r in queue_log if r[4] in ("COMPLETECALLER", "COMPLETEAGENT")]
    talk = int(complete[6])  # app_queue's own talk time
    (gave_up,) = [r for r in queue_log if r[4] == "ABANDON"]

    # The Prometheus page counted the same calls as app_queue, as they happened.
    sales_counts = {name: service.metric(f"cti_skill_group_{name}", group="sales")
                    for name in ("calls_queued_total", "calls_answered_total",
                                 "calls_abandoned_total", "talk_seconds_total",
                                 "answer_wait_seconds_count", "abandon_wait_seconds_count")}
    assert sales_counts == {"calls_queued_total": 2, "calls_answered_total": 1,
                            "calls_abandoned_total": 1, "talk_seconds_total": talk,
                            "answer_wait_seconds_count": 1,
                            "abandon_wait_seconds_count": 1}, sales_counts
    abandon_wait = service.metric("cti_skill_group_abandon_wait_seconds_sum", group="sales")
    assert abandon_wait is not None and abs(abandon_wait - int(gave_up[7])) <= 1
    assert service.metric("cti_component_up", component="ami:node1") == 1
    assert service.metric("cti_history_pending") == 0
    assert (service.metric("cti_http_requests_total", method="POST",
                   route="/v1/seats/{seat_id}/pause", status="202") == 1)

    groups = rows_by(service.get("/v1/reports/skill-groups", **period), "skill_group")
    sales = groups["sales"]
    assert (sales["offered"], sales["answered"], sales["abandoned"], sales["other"]) == \
        (2, 1, 1, 0), sales
    assert sales["service_level"] == 0.5 and sales["abandon_rate"] == 0.5
    assert sales["talk_s"] == talk and sales["seats_answering"] == 1
    assert abs(sales["wait_abandoned_avg_s"] - int(gave_up[7])) <= 1  # app_queue's wait

    agents = service.get("/v1/reports/agents", **period)
    one = rows_by(agents, "seat_id")["1001"]
    assert (one["answered"], one["not_answered"]) == (1, 0), one
    assert abs(one["on_call_s"] - talk) <= 1, (one, talk)
    assert abs(one["paused_lunch_s"] - lunch) <= 1.5 and one["paused_s"] == \
        one["paused_lunch_s"], (one, lunch)
    assert abs(one["logged_in_s"] - shift) <= 2, (one, shift)
    assert 1 <= one["wrap_up_s"] <= 4  # the group's 2 s wrap-up
    states = ("available_s", "ringing_s", "on_call_s", "wrap_up_s", "busy_s", "paused_s")
    assert abs(sum(one[s] for s in states) - one["logged_in_s"]) <= len(states)
    # occupancy from the unrounded seconds: within what rounding each figure allows
    handling = one["on_call_s"] + one["wrap_up_s"] + one["busy_s"]
    free = one["logged_in_s"] - one["paused_s"]
    assert (handling - 1.5) / (free + 1) <= one["occupancy"] <= (handling + 1.5) / (free - 1), one

    # The calls, one row each, as a spreadsheet opens them: local times, the BOM.
    r = service.http.get("/v1/reports/calls", params={**period, "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="calls-')
    assert r.content.startswith("\ufeff".encode())
    calls = {c["customer_number"]: c
             for c in csv.DictReader(io.StringIO(r.content.decode("utf-8-sig")))}
    assert set(calls) == {SERVED, GAVE_UP}
    assert (calls[SERVED]["seat_id"], calls[SERVED]["talk_s"]) == ("1001", str(talk))
    assert calls[GAVE_UP]["abandoned"] == "1" and calls[GAVE_UP]["answered_at"] == ""
    local = datetime.strptime(calls[SERVED]["started_at"], "%Y-%m-%d %H:%M:%S")
    assert abs(local - (began + timedelta(hours=8)).replace(tzinfo=None)) < timedelta(minutes=2)

    # The same in SPSS and Excel, read back by their own readers.
    sav = service.http.get("/v1/reports/agents", params={**period, "format": "sav"})
    assert sav.headers["content-type"] == "application/x-spss-sav"
    (tmp_path / "agents.sav").write_bytes(sav.content)
    frame, _ = pyreadstat.read_sav(str(tmp_path / "agents.sav"))
    mine = frame[frame["seat_id"] == "1001"].iloc[0]
    assert (mine["answered"], mine["on_call_s"]) == (1, one["on_call_s"])
    xlsx = service.http.get("/v1/reports/skill-groups", params={**period, "format": "xlsx"})
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content))["skill-groups"]
    header, *values = list(sheet.iter_rows(values_only=True))
    found = {v[0]: dict(zip(header, v, strict=True)) for v in values}
    assert (found["sales"]["offered"], found["sales"]["abandoned"]) == (2, 1)


def test_bad_report_requests_name_what_is_wrong(service: CtiService) -> None:
    for params, field in [({"tz": "Mars/Olympus"}, "tz"), ({"from": "yesterday"}, "from"),
                          ({"from": "2026-12-02", "to": "2026-12-01"}, "to"),
                          ({"from": "2026-01-01", "to": "2026-03-01"}, "to")]:
        r = service.http.get("/v1/reports/calls", params=params)
        assert r.status_code == 422, (params, r.text)
        assert r.json()["details"]["fields"][0]["field"] == field, r.text
    r = service.http.get("/v1/reports/agents", params={"format": "pdf"})
    assert r.status_code == 422 and "format" in r.text
    assert service.http.get("/v1/reports/everything").status_code == 422
    token = service.cli("token", "create", "--user", "agent-1002", "--role", "agent",
                        "--seat", "1002").strip().splitlines()[-1]
    r = service.http.get("/v1/reports/agents", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 403
