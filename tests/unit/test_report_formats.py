"""The report formats, each read back by an independent reader: pyreadstat (the ReadStat
C library) for SPSS, openpyxl for Excel, the csv and json modules."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pyreadstat
import pytest

from cti.reports.formats import About, Format, writer
from cti.reports.sav import MAX_STRING
from cti.reports.table import Column, Row, integer, moment, number, text

SHANGHAI = ZoneInfo("Asia/Shanghai")
COLUMNS = (
    text("seat_id", "Seat"),
    text("name", "Agent's name"),
    integer("answered", "Calls answered"),
    number("occupancy", "Occupancy"),
    moment("since", "Logged in at"),
    text("9 bad-name!", "A name SPSS would refuse"),
)
WHEN = datetime(2026, 12, 7, 1, 30, 15, tzinfo=UTC)  # 09:30:15 in Shanghai
ROWS: list[Row] = [
    ("1001", "张伟", 12, 0.8731, WHEN, "=cmd"),
    ("1002", "=HYPERLINK(1)", 0, None, None, None),
    ("1003", "王小明王小明", 3, 1.0, WHEN, "ab"),
]
ABOUT = About("agents", datetime(2026, 12, 6, 16, tzinfo=UTC),
              datetime(2026, 12, 7, 16, tzinfo=UTC), SHANGHAI, "Asia/Shanghai")


def written(fmt: Format, rows: Sequence[Row] = ROWS, batches: int = 1) -> bytes:
    out = io.BytesIO()
    report = writer(fmt, out, COLUMNS, ABOUT)
    step = max(1, -(-len(rows) // batches))
    for i in range(0, len(rows), step):
        report.write(rows[i:i + step])
    report.finish()
    return out.getvalue()


def test_spss_reads_names_labels_values_and_times(tmp_path: Path) -> None:
    path = tmp_path / "agents.sav"
    path.write_bytes(written(Format.SAV, batches=2))
    frame, meta = pyreadstat.read_sav(str(path))
    assert list(frame.columns) == ["seat_id", "name", "answered", "occupancy", "since",
                                   "v_9_bad_name_"]
    assert meta.column_names_to_labels["name"] == "Agent's name"
    assert meta.number_rows == 3 and meta.file_encoding == "UTF-8"
    assert meta.file_label == "agents 2026-12-07 00:00 to 2026-12-08 00:00"
    assert list(frame["seat_id"]) == ["1001", "1002", "1003"]
    assert list(frame["name"]) == ["张伟", "=HYPERLINK(1)", "王小明王小明"]  # whole
    assert meta.variable_storage_width["name"] == 18  # the widest value's bytes
    assert list(frame["answered"]) == [12, 0, 3]
    assert frame["occupancy"][0] == pytest.approx(0.8731) and math.isnan(frame["occupancy"][1])
    # wall-clock time in the report's zone, as SPSS has no zones
    assert frame["since"][0].to_pydatetime() == datetime(2026, 12, 7, 9, 30, 15)
    assert meta.original_variable_types["since"] == "DATETIME20"
    assert meta.original_variable_types["answered"] == "F12.0"
    assert meta.original_variable_types["occupancy"] == "F12.4"


def test_spss_holds_many_rows_written_in_batches(tmp_path: Path) -> None:
    rows = [(str(i), "x" * (i % 11), i, i / 7, WHEN, "") for i in range(5000)]
    path = tmp_path / "many.sav"
    path.write_bytes(written(Format.SAV, rows, batches=7))
    frame, meta = pyreadstat.read_sav(str(path))
    assert meta.number_rows == 5000
    assert list(frame["answered"][-3:]) == [4997, 4998, 4999]
    assert frame["name"][10] == "x" * 10


def test_excel_reads_the_header_numbers_and_dates() -> None:
    book = openpyxl.load_workbook(io.BytesIO(written(Format.XLSX, batches=3)))
    sheet = book["agents"]
    values = list(sheet.iter_rows(values_only=True))
    assert values[0] == tuple(c.name for c in COLUMNS)
    assert values[1] == ("1001", "张伟", 12, 0.8731, datetime(2026, 12, 7, 9, 30, 15),
                         "=cmd")
    # text is text: a cell that looks like a formula is not one
    assert sheet["B3"].data_type == "s" and values[2][1] == "=HYPERLINK(1)"
    assert values[2][3:5] == (None, None)
    assert sheet["E2"].number_format == "yyyy-mm-dd hh:mm:ss"


def test_csv_has_a_bom_local_times_and_defused_formulas() -> None:
    data = written(Format.CSV, batches=2)
    assert data.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert rows[0] == [c.name for c in COLUMNS]
    assert rows[1] == ["1001", "张伟", "12", "0.8731", "2026-12-07 09:30:15", "'=cmd"]
    assert rows[2] == ["1002", "'=HYPERLINK(1)", "0", "", "", ""]


def test_json_has_the_period_columns_and_rows_as_objects() -> None:
    doc = json.loads(written(Format.JSON, batches=3))
    assert (doc["report"], doc["tz"]) == ("agents", "Asia/Shanghai")
    assert (doc["from"], doc["to"]) == ("2026-12-07T00:00:00+08:00", "2026-12-08T00:00:00+08:00")
    assert [c["type"] for c in doc["columns"]] == ["text", "text", "integer", "number",
                                                   "datetime", "text"]
    assert doc["rows"][0] == {"seat_id": "1001", "name": "张伟", "answered": 12,
                              "occupancy": 0.8731, "since": "2026-12-07T09:30:15+08:00",
                              "9 bad-name!": "=cmd"}
    assert len(doc["rows"]) == 3


def test_an_empty_report_is_a_valid_file_in_every_format(tmp_path: Path) -> None:
    assert json.loads(written(Format.JSON, []))["rows"] == []
    path = tmp_path / "empty.sav"
    path.write_bytes(written(Format.SAV, []))
    _, meta = pyreadstat.read_sav(str(path))
    assert meta.number_rows == 0
    sheet = openpyxl.load_workbook(io.BytesIO(written(Format.XLSX, []))).active
    assert sheet is not None and sheet.max_row == 1


# -- SPSS text widths (P17) and phone numbers (P11) --------------------------------------

def _sav_rows(tmp_path: Path, columns: Sequence[Column], rows: Sequence[Row],
              batches: int = 1) -> tuple[list[dict[str, Any]], Any]:
    out = io.BytesIO()
    report = writer(Format.SAV, out, columns, ABOUT)
    step = max(1, -(-len(rows) // batches))
    for i in range(0, len(rows), step):
        report.write(rows[i:i + step])
    report.finish()
    path = tmp_path / "text.sav"
    path.write_bytes(out.getvalue())
    frame, meta = pyreadstat.read_sav(str(path))
    return frame.to_dict("records"), meta


def test_spss_keeps_long_text_whole_and_sizes_each_variable_from_its_values(
        tmp_path: Path) -> None:
    """Nothing is cut below SPSS's own limit: a 66-character Chinese campaign name (198
    bytes), past 255 bytes (SPSS's very long strings) and a 20,000-byte value."""
    columns = (text("id", "Id"), text("campaign", "Campaign"), integer("n", "N"),
               text("after", "After"))
    values: list[str | None] = ["汽车试驾邀约" * 11, "长" * 300, "x" * 20_000, "", None,
                                "a" * 252, "b" * 253, "c" * 255, "d" * 256, "e" * 504]
    rows: list[Row] = [(str(i), v, i, f"end {i}") for i, v in enumerate(values)]
    read, meta = _sav_rows(tmp_path, columns, rows, batches=3)
    assert [r["campaign"] for r in read] == [v or "" for v in values]
    assert [r["after"] for r in read] == [f"end {i}" for i in range(len(values))]
    assert [r["n"] for r in read] == list(range(len(values)))
    assert list(meta.column_names) == ["id", "campaign", "n", "after"]
    assert meta.column_names_to_labels["campaign"] == "Campaign"


def test_spss_text_past_its_limit_is_cut_at_a_character(tmp_path: Path) -> None:
    """32,767 bytes is the most an SPSS string holds: a longer value is cut there,
    whole characters only (no report's text comes near it)."""
    assert MAX_STRING == 32_767
    read, _ = _sav_rows(tmp_path, (text("t", "T"),), [("汉" * 11_000,)])
    assert read[0]["t"] == "汉" * (32_767 // 3)


def test_excel_and_csv_keep_phone_numbers_as_typed() -> None:
    columns = (text("number", "Number"), text("note", "Note"))
    rows: list[Row] = [("+8613900000001", "+1+cmd|' /C calc'!A0")]
    for fmt in (Format.CSV, Format.XLSX):
        out = io.BytesIO()
        report = writer(fmt, out, columns, ABOUT)
        report.write(rows)
        report.finish()
        if fmt is Format.CSV:
            got = list(csv.reader(io.StringIO(out.getvalue().decode("utf-8-sig"))))[1]
            assert got == ["+8613900000001", "'+1+cmd|' /C calc'!A0"]
        else:
            sheet = openpyxl.load_workbook(out).active
            assert sheet is not None
            assert (sheet["A2"].value, sheet["A2"].data_type) == ("+8613900000001", "s")
            # a string cell: Excel shows it as text and never runs it
            assert (sheet["B2"].value, sheet["B2"].data_type) == (rows[0][1], "s")
