"""Cells for CSV files people open in spreadsheets."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.reports.spreadsheet import FORMULA_START, cell, local_time


def test_text_that_would_run_as_a_formula_is_written_as_text() -> None:
    assert cell('=HYPERLINK("http://x","y")') == '\'=HYPERLINK("http://x","y")'
    assert [cell(v) for v in ("-2+3", "@SUM(A1)", "\tx", "\rx", "+1+cmd|' /C calc'!A0")] \
        == ["'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "'+1+cmd|' /C calc'!A0"]
    assert cell("Zhang San") == "Zhang San" and cell("a=b") == "a=b"


def test_phone_numbers_and_plain_numbers_are_written_as_they_are() -> None:
    """An E.164 number or a number is data, not a formula: no apostrophe to corrupt it
    for the tools that join or search by number."""
    for value in ("+8613900000001", "+1", "-5", "-2.5", "+3.25", "0", "13800000002"):
        assert cell(value) == value


@pytest.mark.parametrize("value", [
    "+", "-", "+86 139 0000 0001", "+86-139", "+1\n", "-1\n=cmd", "+1e5", "-.5", "+١٢٣",
    "+1;=cmd", "--1", "=1", "@1",
])
def test_text_that_only_starts_like_a_number_is_still_defused(value: str) -> None:
    assert cell(value) == "'" + value


def test_numbers_and_nothing_are_written_as_they_are() -> None:
    assert (cell(None), cell(-5), cell(2.5), cell(True)) == ("", "-5", "2.5", "True")


@given(st.text() | st.from_regex(r"[+-][0-9]+(\.[0-9]+)?[^0-9]?", fullmatch=True))
def test_no_text_cell_starts_like_a_formula_and_none_loses_its_text(text: str) -> None:
    """Only a plain number may start with + or -: digits, at most one decimal point."""
    written = cell(text)
    assert written in (text, "'" + text)
    if written.startswith(FORMULA_START):
        assert written == text
        assert text[0] in "+-" and text[1:].replace(".", "", 1).isascii()
        assert text[1:].replace(".", "", 1).isdigit()


def test_times_are_local_without_offset() -> None:
    at = datetime(2026, 12, 7, 7, 4, 5, tzinfo=UTC)
    assert local_time(at, ZoneInfo("Asia/Shanghai")) == "2026-12-07 15:04:05"
    assert local_time(None, ZoneInfo("UTC")) == ""
