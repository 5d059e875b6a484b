"""The reports as the service makes them (``ReportService``), over a real, migrated
PostgreSQL and no Asterisk: the history is inserted by hand, each report is read back in
its formats by independent readers (csv, openpyxl, pyreadstat)."""

from __future__ import annotations

import csv
import io
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import openpyxl
import pyreadstat
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.report_service import ReportKind, ReportService
from cti.reports.formats import Format

pytestmark = pytest.mark.integration

DAY = "2026-12-07"  # in Shanghai: [2026-12-06 16:00, 2026-12-07 16:00) UTC
START = datetime(2026, 12, 6, 16, tzinfo=UTC)
NOW = datetime(2026, 12, 8, tzinfo=UTC)
BEFORE = START - timedelta(days=30)  # when the seats, groups and campaigns were made
AFTER = START + timedelta(days=2)  # made after the period: not in its reports
LONG_NAME = "汽车试驾邀约" * 20  # 120 characters, 360 bytes of UTF-8
FORMULA = '=HYPERLINK("http://x","y")'


def at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


async def _insert(session: AsyncSession, sql: str, rows: list[dict[str, Any]]) -> None:
    await session.execute(text(sql), rows)


@pytest.fixture
async def history(db_sessionmaker: async_sessionmaker[AsyncSession]) -> None:
    async with db_sessionmaker() as s, s.begin():
        await _insert(s, "INSERT INTO seats (id, node, interface, display_name, created_at) "
                         "VALUES (:id, 'node1', 'PJSIP/' || :id, :name, :made)", [
            {"id": "1001", "name": "李娜 Li Na", "made": BEFORE},
            {"id": "1002", "name": "张伟", "made": BEFORE},
            {"id": "1003", "name": None, "made": BEFORE},  # never logged in
        ])
        await _insert(s, "INSERT INTO seat_state_log (seat_id, node, state, previous, "
                         "transition, pause_reason, at) VALUES (:seat, 'node1', :state, "
                         "'offline', 'test', :reason, :at)", [
            {"seat": "1001", "state": "on_call", "reason": None, "at": at(-600)},
            {"seat": "1001", "state": "wrap_up", "reason": None, "at": at(60)},
            {"seat": "1001", "state": "available", "reason": None, "at": at(90)},
            {"seat": "1001", "state": "paused", "reason": "lunch", "at": at(3600)},
            {"seat": "1001", "state": "available", "reason": None, "at": at(5400)},
            {"seat": "1001", "state": "offline", "reason": None, "at": at(7200)},
            {"seat": "1002", "state": "available", "reason": None, "at": at(100)},
            {"seat": "1002", "state": "offline", "reason": None, "at": at(200)},
        ])
        await _insert(s, "INSERT INTO call_events (call_id, kind, at, seat_id) "
                         "VALUES (:call, :kind, :at, :seat)", [
            {"call": "node1:1", "kind": "answered", "at": at(-590), "seat": "1001"},  # before
            {"call": "node1:2", "kind": "answered", "at": at(20), "seat": "1001"},
            {"call": "node1:3", "kind": "no_answer", "at": at(150), "seat": "1002"},
        ])
        await _insert(s, "INSERT INTO skill_groups (name, node, display_name, created_at) "
                         "VALUES (:name, 'node1', :label, :made)", [
            {"name": "sales", "label": "销售部", "made": BEFORE},
            {"name": "support", "label": "客服部", "made": BEFORE},  # no calls in the period
            {"name": "later", "label": None, "made": AFTER},
        ])
        await _insert(s, "INSERT INTO calls (id, node, linkedid, direction, state, "
                         "customer_number, skill_group, seat_id, started_at, answered_at, "
                         "wait_seconds, talk_seconds, abandoned, campaign_id, updated_at) "
                         "VALUES (:id, 'node1', :id, :dir, 'ended', :number, :group, :seat, "
                         ":at, :answered, :wait, :talk, :abandoned, :campaign, :at)", [
            {"id": "node1:2", "dir": "inbound", "number": "+8613800000001", "group": "sales",
             "seat": "1001", "at": at(10), "answered": at(15), "wait": 5, "talk": 100,
             "abandoned": False, "campaign": None},
            {"id": "node1:4", "dir": "inbound", "number": "13800000002", "group": "sales",
             "seat": None, "at": at(300), "answered": None, "wait": 3, "talk": None,
             "abandoned": True, "campaign": None},
            {"id": "node1:5", "dir": "outbound", "number": "+8613900000001", "group": None,
             "seat": "1001", "at": at(400), "answered": at(405), "wait": None, "talk": 42,
             "abandoned": False, "campaign": 1},
        ])
        await _insert(s, "INSERT INTO campaigns (id, name, mode, caller_id, windows, "
                         "max_attempts, retry_delays, grade_cadences, cap_per_day, "
                         "cap_per_week, created_at) VALUES (:id, :name, 'progressive', "
                         "'+861000000000', '[]', 3, '{}', '{}', 1, 1, :made)", [
            {"id": 1, "name": LONG_NAME, "made": BEFORE},
            {"id": 2, "name": FORMULA, "made": BEFORE},
            {"id": 3, "name": "春季 Spring", "made": BEFORE},  # no dials in the period
            {"id": 4, "name": "future", "made": AFTER},
        ])
        await _insert(s, "INSERT INTO dial_attempts (phone, campaign_id, call_id, started_at, "
                         "outcome) VALUES (:phone, :campaign, :call, :at, :outcome)", [
            {"phone": "+8613900000001", "campaign": 1, "call": "node1:5", "at": at(400),
             "outcome": "answered"},
            {"phone": "+8613900000002", "campaign": 1, "call": None, "at": at(500),
             "outcome": "busy"},
            {"phone": "+8613900000003", "campaign": 2, "call": None, "at": at(600),
             "outcome": "no_answer"},
            {"phone": "+8613900000004", "campaign": None, "call": None, "at": at(700),
             "outcome": None},
        ])


@pytest.fixture
def service(db_sessionmaker: async_sessionmaker[AsyncSession]) -> ReportService:
    return ReportService(db_sessionmaker, clock=lambda: NOW)


async def made(service: ReportService, kind: ReportKind, fmt: Format = Format.JSON,
               start: str = DAY, end: str | None = None, tz: str = "Asia/Shanghai") -> bytes:
    report = await service.report(kind, fmt, start, end, tz, 20)
    return b"".join([chunk async for chunk in report.body])


async def as_json(service: ReportService, kind: ReportKind) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(await made(service, kind))["rows"]
    return rows


def read_csv(data: bytes) -> list[dict[str, str]]:
    assert data.startswith("\ufeff".encode())
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def read_xlsx(data: bytes) -> list[dict[str, Any]]:
    header, *rows = openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows(values_only=True)
    return [dict(zip(header, row, strict=True)) for row in rows]


def read_sav(data: bytes, tmp_path: Path) -> tuple[list[dict[str, Any]], Any]:
    path = tmp_path / "report.sav"
    path.write_bytes(data)
    frame, meta = pyreadstat.read_sav(str(path))
    return frame.to_dict("records"), meta


# -- P8: the event loop stays free ------------------------------------------------------

class _LoopWatch:
    """Records the functions of ``cti/reports/`` (the report arithmetic and the file
    formats) called on the thread it is installed on: the event loop's."""

    def __init__(self) -> None:
        self.called: set[str] = set()

    def __call__(self, frame: FrameType, event: str, _: object) -> None:
        if event != "call":
            return
        where = frame.f_code.co_filename.replace("\\", "/")
        # Reading the period typed (a few dates) is input parsing, not report arithmetic.
        if "/cti/reports/" in where and not where.endswith("/period.py"):
            self.called.add(f"{where.rsplit('/', 1)[-1]}:{frame.f_code.co_qualname}")


@pytest.mark.usefixtures("history")
@pytest.mark.parametrize("kind", list(ReportKind))
async def test_no_report_arithmetic_or_file_writing_runs_on_the_event_loop(
        service: ReportService, kind: ReportKind) -> None:
    """A month of a busy centre's history takes seconds to reduce and write: were that
    done on the loop, AMI events, WebSocket deltas and the dialer's ticks would wait behind
    a supervisor's report (P8). Either the database reduces the rows or a worker thread
    does; the loop only passes rows and bytes along."""
    loop_thread = threading.get_ident()
    watch = _LoopWatch()
    for fmt in Format:
        sys.setprofile(watch)
        try:
            data = await made(service, kind, fmt)
        finally:
            sys.setprofile(None)
        assert data
    assert threading.get_ident() == loop_thread
    assert watch.called == set(), f"on the event loop: {sorted(watch.called)}"


# -- P9, P10, P11, P17, P19 --------------------------------------------------------------

@pytest.mark.usefixtures("history")
async def test_the_agents_report_names_each_seat_in_every_format(
        service: ReportService, tmp_path: Path) -> None:
    rows = {r["seat_id"]: r for r in await as_json(service, ReportKind.AGENTS)}
    assert {k: r["display_name"] for k, r in rows.items()} == {
        "1001": "李娜 Li Na", "1002": "张伟", "1003": None}
    one = rows["1001"]
    assert (one["on_call_s"], one["wrap_up_s"], one["available_s"]) == (60, 30, 3510 + 1800)
    assert (one["paused_s"], one["paused_lunch_s"], one["logged_in_s"]) == (1800, 1800, 7200)
    assert (one["answered"], one["not_answered"], one["handle_avg_s"]) == (1, 0, 90.0)
    two = rows["1002"]
    assert (two["available_s"], two["logged_in_s"], two["not_answered"]) == (100, 100, 1)
    assert rows["1003"]["logged_in_s"] == 0  # a registered seat with no time: zeros

    names = {"1001": "李娜 Li Na", "1002": "张伟", "1003": ""}
    csv_rows = read_csv(await made(service, ReportKind.AGENTS, Format.CSV))
    assert {r["seat_id"]: r["display_name"] for r in csv_rows} == names
    xlsx_rows = read_xlsx(await made(service, ReportKind.AGENTS, Format.XLSX))
    assert {r["seat_id"]: r["display_name"] or "" for r in xlsx_rows} == names
    sav_rows, meta = read_sav(await made(service, ReportKind.AGENTS, Format.SAV), tmp_path)
    assert {r["seat_id"]: r["display_name"] for r in sav_rows} == names
    assert meta.column_names_to_labels["display_name"] == "Agent's name"


@pytest.mark.usefixtures("history")
async def test_every_group_and_campaign_of_the_period_is_a_row_zeros_included(
        service: ReportService) -> None:
    groups = {r["skill_group"]: r for r in await as_json(service, ReportKind.SKILL_GROUPS)}
    assert set(groups) == {"sales", "support"}  # 'later' was made after the period
    assert (groups["sales"]["offered"], groups["sales"]["answered"]) == (2, 1)
    support = groups["support"]
    assert (support["offered"], support["answered"], support["abandoned"],
            support["talk_s"], support["seats_answering"]) == (0, 0, 0, 0, 0)
    assert (support["service_level"], support["abandon_rate"]) == (None, None)
    assert (groups["sales"]["display_name"], support["display_name"]) == ("销售部", "客服部")

    campaigns = {r["campaign_id"]: r for r in await as_json(service, ReportKind.CAMPAIGNS)}
    assert list(campaigns) == [1, 2, 3, None]  # 4 was made after the period
    assert (campaigns[1]["campaign"], campaigns[1]["dials"], campaigns[1]["answered"],
            campaigns[1]["talk_s"]) == (LONG_NAME, 2, 1, 42)
    spring = campaigns[3]
    assert (spring["campaign"], spring["dials"], spring["numbers_dialed"]) == \
        ("春季 Spring", 0, 0)
    assert (spring["abandon_rate"], spring["contact_rate"]) == (None, None)
    assert (campaigns[None]["dials"], campaigns[None]["in_progress"]) == (1, 1)


@pytest.mark.usefixtures("history")
async def test_csv_reports_keep_phone_numbers_and_defuse_formulas(
        service: ReportService) -> None:
    calls = {r["call_id"]: r for r in read_csv(await made(service, ReportKind.CALLS,
                                                            Format.CSV))}
    assert calls["node1:5"]["customer_number"] == "+8613900000001"
    assert calls["node1:4"]["customer_number"] == "13800000002"
    campaigns = read_csv(await made(service, ReportKind.CAMPAIGNS, Format.CSV))
    assert [r["campaign"] for r in campaigns][1] == "'" + FORMULA
    xlsx = {r["call_id"]: r for r in read_xlsx(await made(service, ReportKind.CALLS,
                                                            Format.XLSX))}
    assert xlsx["node1:5"]["customer_number"] == "+8613900000001"


@pytest.mark.usefixtures("history")
async def test_spss_keeps_long_text_whole(service: ReportService, tmp_path: Path) -> None:
    rows, meta = read_sav(await made(service, ReportKind.CAMPAIGNS, Format.SAV), tmp_path)
    assert [r["campaign"] for r in rows][:3] == [LONG_NAME, FORMULA, "春季 Spring"]
    assert meta.number_rows == 4


async def test_a_calendar_month_is_one_calls_report_in_any_zone(
        service: ReportService) -> None:
    for zone in ("Europe/Berlin", "America/New_York", "Australia/Sydney", "UTC"):
        for start, end in (("2026-10-01", "2026-11-01"), ("2026-03-01", "2026-04-01")):
            doc = json.loads(await made(service, ReportKind.CALLS, start=start, end=end,
                                        tz=zone))
            assert doc["rows"] == []
