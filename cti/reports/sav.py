"""SPSS system files (``.sav``), written as the format is documented in GNU PSPP's
developer guide ("System File Format"): uncompressed, little-endian, UTF-8.

Written by hand because the libraries that write them need a data-frame package; the
service streams rows instead. What is used of the format:

- numeric variables as IEEE doubles (SYSMIS, the lowest double, for a missing value),
  with an F print format, or DATETIME20 for times (seconds since 14 October 1582);
- string variables up to 255 bytes (one variable record and a continuation record per
  further 8 bytes); a longer value is cut at a character boundary;
- the short-name records plus a long variable names record (subtype 13), variable labels,
  the machine records (subtypes 3 and 4) and the character encoding record (subtype 20).

The case count in the header is written when the file is finished, so rows can be
written in batches as they are read.
"""

from __future__ import annotations

import re
import struct
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, tzinfo
from typing import IO

from cti.reports.table import Column, Kind, Row

SYSMIS = -sys.float_info.max
_HIGHEST = sys.float_info.max
_LOWEST = -1.7976931348623155e308  # the second-lowest double, as PSPP writes it
MAX_STRING = 255
#: SPSS's calendar starts with the Gregorian one.
_EPOCH = datetime(1582, 10, 14, tzinfo=UTC)
_NCASES_OFFSET = 4 + 60 + 4 + 4 + 4 + 4
_FORMAT_F, _FORMAT_A, _FORMAT_DATETIME = 5, 1, 22


def _fmt(kind: int, width: int, decimals: int) -> int:
    return (kind << 16) | (width << 8) | decimals


def _padded(data: bytes, size: int) -> bytes:
    return data[:size].ljust(size, b" ")


def _cut(value: str, limit: int) -> bytes:
    """UTF-8 bytes of `value`, at most `limit`, never splitting a character."""
    data = value.encode()
    if len(data) <= limit:
        return data
    return data[:limit].decode(errors="ignore").encode()


def variable_names(columns: Sequence[Column]) -> list[str]:
    """SPSS names for the columns: a letter first, then letters, digits and ``_``, at most
    64 bytes, unique ignoring case."""
    names: list[str] = []
    taken: set[str] = set()
    for column in columns:
        base = re.sub(r"[^A-Za-z0-9_]", "_", column.name)[:60]
        if not base or not base[0].isalpha():
            base = ("v_" + base)[:60]
        name, n = base, 1
        while name.upper() in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name.upper())
        names.append(name)
    return names


class SavWriter:
    """Writes one ``.sav`` file to a seekable binary stream: :meth:`write` rows, then
    :meth:`finish`."""

    def __init__(self, out: IO[bytes], columns: Sequence[Column], *, zone: tzinfo,
                 label: str = "", now: datetime | None = None) -> None:
        self._out = out
        self._columns = list(columns)
        self._zone = zone
        self._widths = [min(max(c.width, 1), MAX_STRING) if c.kind is Kind.TEXT else 0
                        for c in self._columns]
        self._cases = 0
        self._start = out.tell()
        self._header(label, now or datetime.now(UTC))
        self._dictionary()

    # -- dictionary ------------------------------------------------------------------

    def _header(self, label: str, now: datetime) -> None:
        slots = sum(_slots(w) for w in self._widths)
        self._out.write(b"$FL2")
        self._out.write(_padded(b"@(#) SPSS DATA FILE cti", 60))
        self._out.write(struct.pack("<iiiii", 2, slots, 0, 0, -1))
        self._out.write(struct.pack("<d", 100.0))
        self._out.write(now.strftime("%d %b %y").encode().ljust(9))
        self._out.write(now.strftime("%H:%M:%S").encode())
        self._out.write(_padded(_cut(label, 64), 64))
        self._out.write(b"\0\0\0")

    def _dictionary(self) -> None:
        out = self._out
        names = variable_names(self._columns)
        shorts = [f"V{i + 1}" for i in range(len(self._columns))]
        for column, width, short in zip(self._columns, self._widths, shorts, strict=True):
            if column.kind is Kind.TEXT:
                fmt = _fmt(_FORMAT_A, width, 0)
            elif column.kind is Kind.DATETIME:
                fmt = _fmt(_FORMAT_DATETIME, 20, 0)
            elif column.kind is Kind.NUMBER:
                fmt = _fmt(_FORMAT_F, 12, 4)
            else:
                fmt = _fmt(_FORMAT_F, 12, 0)
            label = _cut(column.label, 255)
            out.write(struct.pack("<iiiiii", 2, width, 1, 0, fmt, fmt))
            out.write(_padded(short.encode(), 8))
            out.write(struct.pack("<i", len(label)))
            out.write(label.ljust(-(-len(label) // 4) * 4, b" "))
            for _ in range(_slots(width) - 1):  # a long string's continuation records
                out.write(struct.pack("<iiiiii", 2, -1, 0, 0, 0, 0) + b" " * 8)
        # machine integer info: version 1.0.0, IEEE doubles, little-endian, UTF-8
        out.write(struct.pack("<iiii", 7, 3, 4, 8))
        out.write(struct.pack("<8i", 1, 0, 0, -1, 1, 1, 2, 65001))
        out.write(struct.pack("<iiii", 7, 4, 8, 3))
        out.write(struct.pack("<3d", SYSMIS, _HIGHEST, _LOWEST))
        long_names = "\t".join(f"{s}={n}" for s, n in zip(shorts, names, strict=True))
        data = long_names.encode()
        out.write(struct.pack("<iiii", 7, 13, 1, len(data)) + data)
        encoding = b"UTF-8"
        out.write(struct.pack("<iiii", 7, 20, 1, len(encoding)) + encoding)
        out.write(struct.pack("<ii", 999, 0))

    # -- data ------------------------------------------------------------------------

    def write(self, rows: Iterable[Row]) -> None:
        out = self._out
        for row in rows:
            for column, width, value in zip(self._columns, self._widths, row, strict=True):
                if column.kind is Kind.TEXT:
                    out.write(_padded(_cut("" if value is None else str(value), width),
                                      _slots(width) * 8))
                else:
                    out.write(struct.pack("<d", self._number(value)))
            self._cases += 1

    def _number(self, value: object) -> float:
        if value is None:
            return SYSMIS
        if isinstance(value, datetime):
            # SPSS times have no zone: the wall-clock time in the report's zone.
            local = value.astimezone(self._zone).replace(tzinfo=UTC)
            return (local - _EPOCH).total_seconds()
        if isinstance(value, bool | int | float):
            return float(value)
        raise TypeError(f"not a number: {value!r}")

    def finish(self) -> None:
        """Write the number of cases into the header."""
        end = self._out.tell()
        self._out.seek(self._start + _NCASES_OFFSET)
        self._out.write(struct.pack("<i", self._cases))
        self._out.seek(end)


def _slots(width: int) -> int:
    """8-byte slots a variable takes in a case: 1 for a number."""
    return 1 if width == 0 else -(-width // 8)
