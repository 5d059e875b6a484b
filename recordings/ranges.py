"""HTTP ``Range: bytes=...`` for one resource of known size (RFC 9110 section 14). Pure.

One range is served (first-last, first-, -suffix); that is what media players send.
RFC 9110 section 14.2 decides the rest: a Range in a unit other than bytes MUST be
ignored, and several ranges MAY be (both get the whole file, 200, which download managers
handle); a bytes range we cannot read or satisfy is refused with 416, so a client asking
for bytes gets those bytes or a clear error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from recordings.errors import RangeError

_SPEC = re.compile(r"^bytes=(\d*)-(\d*)$", re.IGNORECASE)  # units are case-insensitive
_MAX_HEADER = 200


@dataclass(frozen=True, slots=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The range to serve, or None for the whole resource (no Range header, another
    unit, several ranges).

    Raises :class:`RangeError` for a malformed, multiple or unsatisfiable range.
    """
    if header is None:
        return None
    spec = header.strip().replace(" ", "")
    if len(spec) > _MAX_HEADER:
        raise RangeError("the Range header is too long", size)
    unit, equals, _ = spec.partition("=")
    if equals and unit.lower() != "bytes":
        return None  # a unit we do not serve: ignored, as RFC 9110 requires
    if "," in spec:
        return None  # several ranges: the whole file (no multipart/byteranges)
    match = _SPEC.match(spec)
    if match is None:
        raise RangeError(f"malformed Range header {header[:60]!r}", size)
    first, last = match.group(1), match.group(2)
    if not first and not last:
        raise RangeError("a range needs a first or a last byte", size)
    if not first:  # suffix: the last N bytes
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise RangeError("an empty suffix range is not satisfiable", size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        raise RangeError("the last byte is before the first", size)
    if start >= size:
        raise RangeError(f"the range starts at {start}, past the end ({size} bytes)", size)
    return ByteRange(start, min(end, size - 1))
