"""A report as a plain table: typed columns and rows of plain values. Pure.

Every report (``seats``, ``groups``, ``outbound``, ``calls``) produces one, and every format
(``cti/reports/formats.py``) writes one, so a new report or a new format is one change.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


class Kind(enum.StrEnum):
    TEXT = "text"
    INTEGER = "integer"
    NUMBER = "number"  # a ratio or an average: written with its decimals
    DATETIME = "datetime"  # timezone-aware; formats write it in the report's zone


@dataclass(frozen=True, slots=True)
class Column:
    name: str  # stable, snake_case: the JSON key and the CSV/XLSX header
    kind: Kind
    label: str  # what a person reads (SPSS variable label)


Value = str | int | float | datetime | None
Row = tuple[Value, ...]


def text(name: str, label: str) -> Column:
    """Text of any length: SPSS sizes it from the values written (``cti/reports/sav.py``)."""
    return Column(name, Kind.TEXT, label)


def integer(name: str, label: str) -> Column:
    return Column(name, Kind.INTEGER, label)


def number(name: str, label: str) -> Column:
    return Column(name, Kind.NUMBER, label)


def moment(name: str, label: str) -> Column:
    return Column(name, Kind.DATETIME, label)


@dataclass(frozen=True, slots=True)
class Table:
    columns: Sequence[Column]
    rows: Sequence[Row]


def ratio(part: float, whole: float) -> float | None:
    """`part / whole` to four places; None when there is nothing to divide by (an empty
    period is not a 0% abandon rate)."""
    return None if whole <= 0 else round(part / whole, 4)


def mean(total: float, count: int) -> float | None:
    return None if count <= 0 else round(total / count, 1)
