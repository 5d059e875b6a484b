"""Cells of CSV files people open in spreadsheets (exports, error reports).

Text that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
is run by Excel and LibreOffice when the file is opened; lead files and notes come from
outside, so such text gets a leading apostrophe, which spreadsheets show as text (the
OWASP advice on CSV injection). Numbers and our own fields (E.164 numbers) are written
as they are.
"""

from __future__ import annotations

from datetime import datetime, tzinfo

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Byte order mark: spreadsheets then read the file as UTF-8 (Chinese names, notes).
BOM = "\ufeff"


def cell(value: object) -> str:
    """`value` as a cell: outside text defused, None empty, the rest as text."""
    if value is None:
        return ""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) else value
    return str(value)


def local_time(value: datetime | None, zone: tzinfo) -> str:
    """`value` in `zone` as spreadsheets parse it (no offset): 2026-12-07 15:04:05."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
