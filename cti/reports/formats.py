"""Write a report in the format asked for: JSON, CSV, Excel (XLSX) or SPSS (SAV).

Each writer takes rows in batches (:meth:`ReportWriter.write`) into a seekable binary
file, so a long report is written as it is read and never held whole in memory. Times are
written in the report's zone: with their offset in JSON, as wall-clock times that
spreadsheets and SPSS read as dates elsewhere.
"""

from __future__ import annotations

import csv
import enum
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import IO, Protocol

import xlsxwriter

from cti.reports.sav import SavWriter
from cti.reports.spreadsheet import BOM, cell, local_time
from cti.reports.table import Column, Kind, Row, Value

#: Excel's rows in a sheet, less the header.
XLSX_MAX_ROWS = 1_048_575


class Format(enum.StrEnum):
    JSON = "json"
    CSV = "csv"
    XLSX = "xlsx"
    SAV = "sav"


MEDIA_TYPES = {
    Format.JSON: "application/json",
    Format.CSV: "text/csv; charset=utf-8",
    Format.XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    Format.SAV: "application/x-spss-sav",
}


@dataclass(frozen=True, slots=True)
class About:
    """What the report is, for the formats that say so (JSON's header, the sheet's
    name, the SPSS file label)."""

    report: str
    start: datetime
    end: datetime
    zone: tzinfo
    zone_name: str


class ReportWriter(Protocol):
    def write(self, rows: Iterable[Row]) -> None: ...
    def finish(self) -> None: ...


def writer(fmt: Format, out: IO[bytes], columns: Sequence[Column], about: About
           ) -> ReportWriter:
    if fmt is Format.CSV:
        return _Csv(out, columns, about.zone)
    if fmt is Format.XLSX:
        return _Xlsx(out, columns, about)
    if fmt is Format.SAV:
        label = f"{about.report} {_day(about.start, about.zone)} to {_day(about.end, about.zone)}"
        return SavWriter(out, columns, zone=about.zone, label=label)
    return _Json(out, columns, about)


def _day(at: datetime, zone: tzinfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


class _Csv:
    """UTF-8 with a byte order mark (Excel then reads Chinese text right); outside text
    that would run as a formula is written as text."""

    def __init__(self, out: IO[bytes], columns: Sequence[Column], zone: tzinfo) -> None:
        self._out = out
        self._zone = zone
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf)
        self._csv.writerow([c.name for c in columns])
        self._flush(BOM)

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self._csv.writerow([local_time(v, self._zone) if isinstance(v, datetime)
                                else cell(v) for v in row])
        self._flush()

    def finish(self) -> None:
        self._flush()

    def _flush(self, prefix: str = "") -> None:
        self._out.write((prefix + self._buf.getvalue()).encode())
        self._buf.seek(0)
        self._buf.truncate()


class _Json:
    """``{"report", "from", "to", "tz", "columns": [...], "rows": [{column: value}]}``."""

    def __init__(self, out: IO[bytes], columns: Sequence[Column], about: About) -> None:
        self._out = out
        self._names = [c.name for c in columns]
        self._zone = about.zone
        head = {
            "report": about.report,
            "from": about.start.astimezone(about.zone).isoformat(),
            "to": about.end.astimezone(about.zone).isoformat(),
            "tz": about.zone_name,
            "columns": [{"name": c.name, "type": c.kind.value, "label": c.label}
                        for c in columns],
        }
        out.write(json.dumps(head, ensure_ascii=False)[:-1].encode() + b', "rows": [')
        self._first = True

    def write(self, rows: Iterable[Row]) -> None:
        parts = []
        for row in rows:
            record = {n: self._value(v) for n, v in zip(self._names, row, strict=True)}
            parts.append(json.dumps(record, ensure_ascii=False))
        if parts:
            self._out.write((("" if self._first else ", ") + ", ".join(parts)).encode())
            self._first = False

    def _value(self, value: Value) -> Value:
        return value.astimezone(self._zone).isoformat() if isinstance(value, datetime) \
            else value

    def finish(self) -> None:
        self._out.write(b"]}")


class _Xlsx:
    """One sheet: the header row in bold and frozen, times as Excel dates, ratios as
    numbers with four decimals. Rows are streamed (xlsxwriter's constant-memory mode)."""

    def __init__(self, out: IO[bytes], columns: Sequence[Column], about: About) -> None:
        self._book = xlsxwriter.Workbook(out, {"constant_memory": True,
                                               "remove_timezone": True})
        self._sheet = self._book.add_worksheet(about.report[:31])
        self._columns = list(columns)
        self._zone = about.zone
        bold = self._book.add_format({"bold": True})
        self._when = self._book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self._ratio = self._book.add_format({"num_format": "0.0000"})
        for i, column in enumerate(self._columns):
            self._sheet.write_string(0, i, column.name, bold)
            self._sheet.set_column(i, i, 20 if column.kind is Kind.DATETIME
                                   else max(10, min(len(column.name) + 2, 40)))
        self._sheet.freeze_panes(1, 0)
        self._row = 1

    def write(self, rows: Iterable[Row]) -> None:
        for row in rows:
            if self._row > XLSX_MAX_ROWS:
                raise TooManyRows(XLSX_MAX_ROWS)
            for i, (column, value) in enumerate(zip(self._columns, row, strict=True)):
                if value is None:
                    continue
                if isinstance(value, datetime):
                    local = value.astimezone(self._zone).replace(tzinfo=None)
                    self._sheet.write_datetime(self._row, i, local, self._when)
                elif column.kind is Kind.TEXT:
                    self._sheet.write_string(self._row, i, str(value))
                elif column.kind is Kind.NUMBER:
                    self._sheet.write_number(self._row, i, float(value), self._ratio)
                else:
                    self._sheet.write_number(self._row, i, float(value))
            self._row += 1

    def finish(self) -> None:
        self._book.close()


class TooManyRows(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"more than {limit} rows: ask for a shorter period")
        self.limit = limit
