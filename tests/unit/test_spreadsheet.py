"""Cells for CSV files people open in spreadsheets."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cti.reports.spreadsheet import FORMULA_START, cell, local_time


def test_text_that_would_run_as_a_formula_is_written_as_text() -> None:
    assert cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [cell(v) for v in ("+1", "-2+3", "@SUM(A1)", "\tx", "\rx")] == [
        "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx"]
    assert cell("Zhang San") == "Zhang San" and cell("a=b") == "a=b"


def test_numbers_and_nothing_are_written_as_they_are() -> None:
    assert (cell(None), cell(-5), cell(2.5), cell(True)) == ("", "-5", "2.5", "True")


@given(st.text())
def test_no_text_cell_starts_like_a_formula_and_none_loses_its_text(text: str) -> None:
    written = cell(text)
    assert not written.startswith(FORMULA_START)
    assert written in (text, "'" + text)


def test_times_are_local_without_offset() -> None:
    at = datetime(2026, 12, 7, 7, 4, 5, tzinfo=UTC)
    assert local_time(at, ZoneInfo("Asia/Shanghai")) == "2026-12-07 15:04:05"
    assert local_time(None, ZoneInfo("UTC")) == ""
