"""Cells of CSV files people open in spreadsheets (exports, error reports).

Text that starts like a formula (``=``, ``+``, ``-``, ``@``, a tab or a carriage return)
is run by Excel and LibreOffice when the file is opened; lead files, names and notes come
from outside, so such text gets a leading apostrophe, which spreadsheets show as text
(the OWASP advice on CSV injection). Numbers are data, not formulas, and are written as
they are: an E.164 number (``+8613900000001``) and a plain decimal (``-5``, ``2.5``).
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: Byte order mark: spreadsheets then read the file as UTF-8 (Chinese names, notes).
BOM = "\ufeff"
#: A number with a sign and nothing else: an E.164 number or a plain decimal. A
#: spreadsheet reads it as a value, never runs it; an apostrophe before it would corrupt
#: it for the tools that join or search by number. ASCII digits only, matched whole (no
#: trailing newline), so ``+1+cmd|...`` and ``-2+3`` are still defused.
_PLAIN_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")


def cell(value: object) -> str:
    """`value` as a cell: text that would run as a formula defused, None empty, the rest
    (numbers, phone numbers, other text) as it is."""
    if value is None:
        return ""
    if isinstance(value, str):
        # The guard: a spreadsheet would evaluate this text as a formula when opening it.
        if value.startswith(FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
            return "'" + value
        return value
    return str(value)


def local_time(value: datetime | None, zone: tzinfo) -> str:
    """`value` in `zone` as spreadsheets parse it (no offset): 2026-12-07 15:04:05."""
    return "" if value is None else value.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
