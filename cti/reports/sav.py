"""SPSS system files (``.sav``), written as the format is documented in GNU PSPP's
developer guide ("System File Format"): uncompressed, little-endian, UTF-8.

Written by hand because the libraries that write them need a data-frame package; the
service streams rows instead. What is used of the format:

- numeric variables as IEEE doubles (SYSMIS, the lowest double, for a missing value),
  with an F print format, or DATETIME20 for times (seconds since 14 October 1582);
- string variables as wide as their widest value in bytes, up to SPSS's 32,767: one
  variable record and a continuation record per further 8 bytes up to 255 bytes, and a
  longer one as a "very long string" (segments of 255 bytes, each segment but the last
  counting for 252 bytes of width, stitched together by the subtype 14 record). Only a
  value past 32,767 bytes is cut, at a character boundary (no report's text comes near);
- the short-name records plus a long variable names record (subtype 13), variable labels,
  the machine records (subtypes 3 and 4) and the character encoding record (subtype 20).

A string variable's width is in the dictionary, before the data, and is only known once
every row is seen: rows are kept (pickled, in a temporary file past a few megabytes)
until :meth:`SavWriter.finish` writes the whole file. So rows can still be written in
batches as they are read, and memory stays bounded.
"""

from __future__ import annotations

import pickle
import re
import struct
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import IO

from cti.reports.table import Column, Kind, Row

SYSMIS = -sys.float_info.max
_HIGHEST = sys.float_info.max
_LOWEST = -1.7976931348623155e308  # the second-lowest double, as PSPP writes it
#: The widest string SPSS holds, in bytes: a longer value is cut.
MAX_STRING = 32_767
#: The widest string one variable record holds; a wider one is a very long string.
_SEGMENT = 255
#: The width each segment of a very long string but the last counts for.
_SEGMENT_WIDTH = 252
#: SPSS's calendar starts with the Gregorian one.
_EPOCH = datetime(1582, 10, 14, tzinfo=UTC)
_FORMAT_F, _FORMAT_A, _FORMAT_DATETIME = 5, 1, 22
#: Past this the rows waiting for the dictionary go to a temporary file.
_SPOOL_BYTES = 8 * 1024 * 1024


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


def segment_widths(width: int) -> list[int]:
    """The widths of the variables a string of `width` bytes is written as: itself up to
    255 bytes, else one segment per 252 bytes, each 255 wide but the last."""
    if width <= _SEGMENT:
        return [width]
    count = -(-width // _SEGMENT_WIDTH)
    return [_SEGMENT] * (count - 1) + [width - (count - 1) * _SEGMENT_WIDTH]


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


@dataclass(frozen=True, slots=True)
class _Variable:
    """One column as the dictionary has it: ``width`` 0 for a number."""

    column: Column
    width: int
    short: str  # its first segment's short name

    @property
    def segments(self) -> list[int]:
        return [0] if self.width == 0 else segment_widths(self.width)


class SavWriter:
    """Writes one ``.sav`` file to a binary stream: :meth:`write` rows, then
    :meth:`finish`, which writes the file."""

    def __init__(self, out: IO[bytes], columns: Sequence[Column], *, zone: tzinfo,
                 label: str = "", now: datetime | None = None) -> None:
        self._out = out
        self._columns = list(columns)
        self._text = [c.kind is Kind.TEXT for c in self._columns]
        self._zone = zone
        self._label = label
        self._now = now or datetime.now(UTC)
        self._widths = [1 if t else 0 for t in self._text]  # SPSS has no empty strings
        self._cases = 0
        self._rows = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)  # noqa: SIM115

    def write(self, rows: Iterable[Row]) -> None:
        batch: list[list[bytes | float]] = []
        widths = self._widths
        for row in rows:
            values: list[bytes | float] = []
            for i, (is_text, value) in enumerate(zip(self._text, row, strict=True)):
                if is_text:
                    data = _cut("" if value is None else str(value), MAX_STRING)
                    widths[i] = max(widths[i], len(data))
                    values.append(data)
                else:
                    values.append(self._number(value))
            batch.append(values)
        if batch:
            pickle.dump(batch, self._rows, protocol=pickle.HIGHEST_PROTOCOL)
            self._cases += len(batch)

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
        """Write the file: the dictionary, now that the widths are known, then the rows."""
        variables: list[_Variable] = []
        n = 0  # short names number every variable record, each segment one
        for column, width in zip(self._columns, self._widths, strict=True):
            variables.append(_Variable(column, width, f"V{n + 1}"))
            n += len(variables[-1].segments)
        try:
            self._header(variables)
            self._dictionary(variables)
            self._data(variables)
        finally:
            self._rows.close()

    # -- dictionary ------------------------------------------------------------------

    def _header(self, variables: Sequence[_Variable]) -> None:
        slots = sum(_slots(w) for v in variables for w in v.segments)
        out = self._out
        out.write(b"$FL2")
        out.write(_padded(b"@(#) SPSS DATA FILE cti", 60))
        out.write(struct.pack("<iiiii", 2, slots, 0, 0, self._cases))
        out.write(struct.pack("<d", 100.0))
        out.write(self._now.strftime("%d %b %y").encode().ljust(9))
        out.write(self._now.strftime("%H:%M:%S").encode())
        out.write(_padded(_cut(self._label, 64), 64))
        out.write(b"\0\0\0")

    def _dictionary(self, variables: Sequence[_Variable]) -> None:
        out = self._out
        n = 0
        for variable in variables:
            column = variable.column
            label = _cut(column.label, 255)
            for i, width in enumerate(variable.segments):
                n += 1
                if column.kind is Kind.TEXT:
                    fmt = _fmt(_FORMAT_A, width, 0)
                elif column.kind is Kind.DATETIME:
                    fmt = _fmt(_FORMAT_DATETIME, 20, 0)
                elif column.kind is Kind.NUMBER:
                    fmt = _fmt(_FORMAT_F, 12, 4)
                else:
                    fmt = _fmt(_FORMAT_F, 12, 0)
                labelled = i == 0  # a very long string's label is on its first segment
                out.write(struct.pack("<iiiiii", 2, width, int(labelled), 0, fmt, fmt))
                out.write(_padded(f"V{n}".encode(), 8))
                if labelled:
                    out.write(struct.pack("<i", len(label)))
                    out.write(label.ljust(-(-len(label) // 4) * 4, b" "))
                for _ in range(_slots(width) - 1):  # a long string's continuation records
                    out.write(struct.pack("<iiiiii", 2, -1, 0, 0, 0, 0) + b" " * 8)
        # machine integer info: version 1.0.0, IEEE doubles, little-endian, UTF-8
        out.write(struct.pack("<iiii", 7, 3, 4, 8))
        out.write(struct.pack("<8i", 1, 0, 0, -1, 1, 1, 2, 65001))
        out.write(struct.pack("<iiii", 7, 4, 8, 3))
        out.write(struct.pack("<3d", SYSMIS, _HIGHEST, _LOWEST))
        names = variable_names(self._columns)
        long_names = "\t".join(f"{v.short}={name}"
                               for v, name in zip(variables, names, strict=True))
        data = long_names.encode()
        out.write(struct.pack("<iiii", 7, 13, 1, len(data)) + data)
        very_long = b"".join(f"{v.short}={v.width:05d}".encode() + b"\0\t"
                             for v in variables if v.width > _SEGMENT)
        if very_long:
            out.write(struct.pack("<iiii", 7, 14, 1, len(very_long)) + very_long)
        encoding = b"UTF-8"
        out.write(struct.pack("<iiii", 7, 20, 1, len(encoding)) + encoding)
        out.write(struct.pack("<ii", 999, 0))

    # -- data ------------------------------------------------------------------------

    def _data(self, variables: Sequence[_Variable]) -> None:
        out = self._out
        layout = [v.segments for v in variables]
        self._rows.seek(0)
        while True:
            try:
                # our own rows, pickled by write() into a file nobody else sees
                batch: list[list[bytes | float]] = pickle.load(self._rows)
            except EOFError:
                break
            parts: list[bytes] = []
            for values in batch:
                for widths, value in zip(layout, values, strict=True):
                    if isinstance(value, bytes):
                        # Segments are packed 255 bytes each, the rest of each padded.
                        for k, width in enumerate(widths):
                            parts.append(_padded(value[k * _SEGMENT:(k + 1) * _SEGMENT],
                                                 _slots(width) * 8))
                    else:
                        parts.append(struct.pack("<d", value))
            out.write(b"".join(parts))


def _slots(width: int) -> int:
    """8-byte slots a variable takes in a case: 1 for a number."""
    return 1 if width == 0 else -(-width // 8)
