"""Streaming lead import: CSV, JSON array or NDJSON bytes in; good leads and per-row errors out.

Pure and push-based, so the same parser serves a file, a benchmark and an HTTP request
body read chunk by chunk: :meth:`LeadParser.feed` takes the next bytes and returns what
they completed; :meth:`LeadParser.finish` flushes the rest. :func:`read_leads` drives it
over any iterable of byte chunks.

Three stages, so the costly one can run elsewhere: :meth:`LeadParser.feed_records` turns
bytes into :class:`Candidate` rows (CSV/JSON, encodings: sequential, cheap);
:func:`resolve_all` turns candidates into leads or row errors (phonenumbers, time zones:
pure, per row, so any number of processes can share the work); :meth:`LeadParser.settle`
takes the resolved items back in row order, counts them and drops numbers seen earlier in
the list. :meth:`LeadParser.feed` runs the three in a row.

Memory stays bounded whatever the input size: the parser holds at most one unfinished
record (capped at ``max_record_bytes``) and the within-list dedupe set, which keeps each
E.164 number as one int (an E.164 number has at most 15 digits and no leading zero).

Encodings: an explicit one wins; otherwise a UTF-8 BOM means UTF-8, and a first non-ASCII
line that is valid UTF-8 means UTF-8. Else the non-ASCII lines of a sample (the lines are
held until it is taken, see :func:`plausibly_gb18030`) decide whether the file is GB18030 (a
superset of GBK): only when nearly all of them decode and read as common Chinese text. Text
in a Latin encoding often decodes as GB18030 too, into rare characters ('François' in
Latin-1 reads 'Fran鏾is'): such a file is not guessed at; its non-ASCII rows are ``encoding``
row errors that say to give the encoding, its ASCII rows are read. A later line that does not
decode in the file's encoding is a row error (``encoding``), not the end of the import. A
first line with a NUL byte or a UTF-16 BOM is binary or UTF-16, not text: one file error.
UTF-16 or UTF-32 named (``utf-16``, ``utf-16-le``...) is read as a stream of text: its bytes
become UTF-8 as they arrive (:class:`WideText`), byte order from the BOM, else the name,
else the first character (ASCII in a lead file); a character that does not decode makes
its line an ``encoding`` row error.

What PostgreSQL stores: free fields go into ``jsonb`` and the error report into ``text``,
which refuse NaN and Infinity (not JSON), U+0000 and unpaired surrogates (``"\\ud800"`` in
JSON text: not encodable as UTF-8). A row holding one is a row error naming the field
(:func:`field_problem`, the same rule the lead PATCH endpoints use through
:func:`fields_fit`); the text of every :class:`RowError` is made storable.

Formats: ``csv`` (comma, semicolon, tab or pipe, sniffed from the first line; a header is
recognised by a phone column name, else column 1 with digits is the number), ``json`` (one
array of objects) and ``ndjson`` (one object per line); sniffed from the first character
when not given. Row numbers are the file's line numbers (CSV, NDJSON) or the element's
1-based position (JSON array).
"""

from __future__ import annotations

import codecs
import csv
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from dialer.numbers import (
    InvalidNumber,
    InvalidTimezone,
    is_region,
    parse_number,
    resolve_timezones,
)
from dialer.schedule import Grade, Window, ever_opens

Format = Literal["csv", "json", "ndjson"]

PHONE_KEYS = frozenset({
    "phone", "phone_number", "phonenumber", "number", "mobile", "mobile_phone", "cell",
    "tel", "telephone", "msisdn", "电话", "手机", "手机号", "手机号码", "电话号码", "号码",
    "联系电话",
})
TIMEZONE_KEYS = frozenset({"timezone", "time_zone", "tz", "时区"})
GRADE_KEYS = frozenset({"grade", "lead_grade", "等级", "客户等级"})
REGION_KEYS = frozenset({"region", "country", "country_code", "国家"})

MAX_RECORD_BYTES = 64 * 1024
MAX_FIELDS_BYTES = 8 * 1024  # free fields of one lead, as JSON
MAX_VALUE_IN_REPORT = 80
MAX_NESTING = 64  # levels of arrays and objects in one free field's value
# The error report's columns (lead_import_errors): longer text would fail the whole batch.
MAX_FIELD_IN_REPORT = 16
MAX_CODE_IN_REPORT = 32
# How much of a file that is not UTF-8 is held to tell whether it is GB18030.
SAMPLE_LINES = 16  # non-ASCII lines
SAMPLE_BYTES = 64 * 1024
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# Encodings whose code units are wider than a byte, by code unit size: a newline is not
# the byte 0x0A of their text, and 0x0A turns up inside other characters (上, U+4E0A, is
# 0A 4E in UTF-16LE), so lines cannot be split on their bytes.
_WIDE = {"utf-16": 2, "utf-16-le": 2, "utf-16-be": 2, "utf-32": 4, "utf-32-le": 4,
         "utf-32-be": 4}
_WIDE_BOMS = {2: ((codecs.BOM_UTF16_LE, "le"), (codecs.BOM_UTF16_BE, "be")),
              4: ((codecs.BOM_UTF32_LE, "le"), (codecs.BOM_UTF32_BE, "be"))}
_UNDECODABLE = "dialer.leads.undecodable"
_DELIMITERS = ",;\t|"
_DIGITS = re.compile(r"\d")
# JSON array scanning: whole strings, structural characters, or a string still open.
_JSON_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[{}\[\],]|"')
_SPACE = re.compile(r"[ \t\r\n]+")


@dataclass(frozen=True, slots=True)
class Lead:
    row: int
    e164: str
    zones: tuple[str, ...]
    grade: Grade | None
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    # 'phone', 'timezone', 'grade', 'region', 'row' (the record itself), 'file', or the
    # free field at fault (its name, clipped to 16 characters: the message has it whole)
    field: str
    code: str  # stable: 'invalid_number', 'unknown_timezone', 'duplicate_in_list', ...
    message: str
    value: str | None = None

    def __post_init__(self) -> None:
        # The report is stored in PostgreSQL text columns (field: 16 characters at most):
        # what a file holds must never make its batch fail there.
        for name in ("field", "message", "value"):
            text = getattr(self, name)
            if text is not None and _text_problem(text) is not None:
                object.__setattr__(self, name, printable(text))
        if len(self.field) > MAX_FIELD_IN_REPORT:
            object.__setattr__(self, "field", self.field[: MAX_FIELD_IN_REPORT - 1] + "…")
        if len(self.code) > MAX_CODE_IN_REPORT:
            object.__setattr__(self, "code", self.code[:MAX_CODE_IN_REPORT])


class Candidate(NamedTuple):
    """A row read but not yet checked: what :func:`resolve` needs, nothing more."""

    row: int
    phone: str
    zone: Any
    grade: Any
    region: Any
    fields: dict[str, Any]


Item = Lead | RowError
Record = Candidate | RowError


@dataclass(frozen=True, slots=True)
class ImportOptions:
    default_region: str | None = None  # for national numbers: 'CN'
    default_timezone: str | None = None  # when neither the row nor the number says
    encoding: str | None = None  # None: detect
    format: Format | None = None  # None: sniff
    max_record_bytes: int = MAX_RECORD_BYTES
    # The campaign's calling windows: a lead whose zones never share an open window is
    # rejected (``window_never_opens``) instead of waiting forever. None: not checked.
    windows: tuple[Window, ...] | None = None


@dataclass
class ImportStats:
    rows: int = 0
    leads: int = 0
    errors: int = 0
    duplicates: int = 0
    encoding: str | None = None
    format: Format | None = None
    counts_by_code: dict[str, int] = field(default_factory=dict)


def _clip(value: object) -> str:
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, ensure_ascii=False)
        except (ValueError, RecursionError):
            text = type(value).__name__
    return text if len(text) <= MAX_VALUE_IN_REPORT else text[: MAX_VALUE_IN_REPORT - 1] + "…"


# -- what PostgreSQL stores ----------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = ("invalid_character", "holds a NUL character (U+0000), which cannot be stored")
_LONE_SURROGATE = ("invalid_character", "holds an unpaired surrogate (an escape such as "
                   "\\ud800 that is not a character), which cannot be stored")
_NOT_FINITE = ("not_finite", "must be a finite number (NaN and Infinity are not JSON)")
_TOO_DEEP = ("too_deep", f"is nested more than {MAX_NESTING} levels deep")


class FieldProblem(NamedTuple):
    """Why PostgreSQL would refuse a free field (see :func:`field_problem`)."""

    key: str  # the field's name, as given
    code: str  # 'invalid_character', 'not_finite', 'too_deep'
    message: str  # without the name: 'must be a finite number (...)'


def field_problem(fields: Mapping[str, Any]) -> FieldProblem | None:
    """The first field PostgreSQL would refuse to store as ``jsonb``, or None.

    Refused: a number that is not finite (NaN, Infinity: Python's JSON reader takes them,
    PostgreSQL's does not), text holding U+0000 (``jsonb`` and ``text`` cannot) or an
    unpaired surrogate (``"\\ud800"`` in JSON text; not encodable as UTF-8), in a name or
    a value, at any depth; and values nested deeper than :data:`MAX_NESTING`.
    """
    for key, value in fields.items():
        why = _text_problem(key) if isinstance(key, str) else None
        if why is not None:
            return FieldProblem(key, why[0], "its name " + why[1])
        why = _value_problem(value)
        if why is not None:
            return FieldProblem(key, *why)
    return None


def printable(text: str) -> str:
    """``text`` with what PostgreSQL refuses made visible: U+0000 as ␀, an unpaired
    surrogate as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text.replace("\x00", "\u2400"))


def _text_problem(text: str) -> tuple[str, str] | None:
    if "\x00" in text:
        return _NUL
    if not text.isascii() and _SURROGATE.search(text):
        return _LONE_SURROGATE
    return None


def _value_problem(value: Any) -> tuple[str, str] | None:
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, float):
        return None if math.isfinite(value) else _NOT_FINITE
    if not isinstance(value, (dict, list)):
        return None  # None, bool, int (JSON's integers are exact in jsonb)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            return _TOO_DEEP
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            why = _text_problem(k) if isinstance(k, str) else None
            if why is None and isinstance(v, (dict, list)):
                stack.append((v, depth + 1))
            elif why is None:
                why = _value_problem(v)
            if why is not None:
                return why
    return None


def _key(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower().replace(" ", "_").replace("-", "_")


def _undecodable(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are no character (a lone surrogate, a last byte
    cut off) become a lone surrogate, which UTF-8 cannot hold: the line they are in then
    fails to decode after transcoding, and is that row's ``encoding`` error."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return "\udcff", exc.end


codecs.register_error(_UNDECODABLE, _undecodable)


class WideText:
    """A UTF-16 or UTF-32 byte stream, as the same text in UTF-8, chunk by chunk.

    Holds at most one incomplete character (or the first code unit, until the byte order
    is known), so a file of any size streams. The byte order is the BOM's when there is
    one (a BOM names it better than a name could; it is dropped), else the named one
    (``utf-16-be``), else the first code unit's: a lead file starts with ASCII (a header,
    a digit, ``[`` or ``{``), whose high byte is zero.
    """

    def __init__(self, codec: str) -> None:
        self._codec = codec  # normalised: utf-16, utf-16-le, utf-32-be...
        self._width = _WIDE[codec]
        self._head = b""
        self._decoder: codecs.IncrementalDecoder | None = None

    @classmethod
    def named(cls, encoding: str | None) -> WideText | None:
        """A transcoder for ``encoding`` if it is UTF-16 or UTF-32, else None."""
        if encoding is None:
            return None
        try:
            codec = codecs.lookup(encoding).name
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc
        return cls(codec) if codec in _WIDE else None

    def feed(self, chunk: bytes, final: bool = False) -> bytes:
        if self._decoder is None:
            head = self._head + chunk
            if len(head) < self._width and not final:
                self._head = head
                return b""
            self._head = b""
            order, skip = self._byte_order(head)
            family = self._codec[:6]  # utf-16 or utf-32
            self._decoder = codecs.getincrementaldecoder(f"{family}-{order}")(_UNDECODABLE)
            chunk = head[skip:]
        return self._decoder.decode(chunk, final).encode("utf-8", "surrogatepass")

    def _byte_order(self, head: bytes) -> tuple[str, int]:
        """``le`` or ``be``, and the length of the BOM to drop."""
        for bom, order in _WIDE_BOMS[self._width]:
            if head.startswith(bom):
                return order, len(bom)
        if self._codec.endswith(("-le", "-be")):
            return self._codec[-2:], 0
        unit = head[: self._width]
        return ("be" if len(unit) == self._width and unit[0] == 0 and unit[-1] != 0
                else "le"), 0


class LeadParser:
    """Push bytes in, get :class:`Lead` and :class:`RowError` items out, in row order."""

    def __init__(self, options: ImportOptions | None = None) -> None:
        self.options = options or ImportOptions()
        self.stats = ImportStats(format=self.options.format, encoding=self.options.encoding)
        self._pending = b""  # bytes after the last newline
        self._line_no = 0
        self._started = False
        # Encoding detection: pending until a BOM, a UTF-8 line or a sample decides.
        self._detect = self.options.encoding is None
        # UTF-16/32 named: transcoded to UTF-8 as it arrives, then read as UTF-8.
        self._wide = WideText.named(self.options.encoding)
        self._held: list[tuple[int, bytes]] | None = None  # (line number, bytes): a sample
        self._held_bytes = 0
        self._held_wide = 0  # non-ASCII lines held
        self._undetected = False  # neither UTF-8 nor plausibly GB18030: say so per row
        self._seen: set[int] = set()
        self._out: list[Record] = []
        self._done = False  # a fatal error: ignore the rest
        self._skip_to_newline = False  # inside an over-long line being dropped
        # CSV
        self._delimiter = ","
        self._seen_header = False  # the first record decides: header or data
        self._columns: list[str] | None = None
        self._phone_col = 0
        self._record: list[str] = []
        self._record_row = 0
        self._record_bytes = 0
        # JSON array
        self._json = ""
        self._json_pos = 0
        self._json_state: Literal["start", "items", "end"] = "start"
        self._decoder: codecs.IncrementalDecoder | None = None
        self._json_index = 0
        if self.options.default_region is not None and not is_region(self.options.default_region):
            raise ValueError(f"unknown region {self.options.default_region!r}")

    # -- input --------------------------------------------------------------------

    def feed(self, chunk: bytes) -> list[Item]:
        """The leads and row errors ``chunk`` completed, all three stages in this thread."""
        return self.settle(resolve_all(self.feed_records(chunk), self.options))

    def finish(self) -> list[Item]:
        return self.settle(resolve_all(self.finish_records(), self.options))

    def feed_records(self, chunk: bytes) -> list[Record]:
        if self._wide is not None and not self._done:
            chunk = self._wide.feed(chunk)
        self._bytes(chunk)
        return self._drain()

    def _bytes(self, chunk: bytes) -> None:
        """Read ``chunk`` (ASCII-compatible bytes: UTF-16/32 are transcoded before)."""
        if self._done:
            return
        if self.stats.format == "json":
            self._json_bytes(chunk)
            return
        data = self._pending + chunk
        if self.stats.format is None and self._sniff_json(data) != "lines":
            return
        lines = data.split(b"\n")
        self._pending = lines.pop()
        if len(self._pending) > self.options.max_record_bytes:
            # A line that never ends: report it once, then drop bytes up to its newline.
            if not self._skip_to_newline:
                self._broken(self._line_no + len(lines) + 1, "line_too_long",
                            f"a line longer than {self.options.max_record_bytes} bytes")
                self._skip_to_newline = True
            self._pending = b""
        for raw in lines:
            self._line(raw)

    def _sniff_json(self, data: bytes) -> Literal["wait", "json", "lines"]:
        """Decide whether the input is one JSON array (read as a stream of text, not lines).

        "wait" while only whitespace has arrived (the bytes are kept for later).
        """
        body = data[len(_BOM):] if data.startswith(_BOM) else data
        stripped = body.lstrip(b" \t\r\n")
        if not stripped:
            self._pending = data
            return "wait"
        if stripped[:1] != b"[":
            return "lines"  # CSV or NDJSON
        self.stats.format = "json"
        if self.stats.encoding is None:
            self.stats.encoding = "utf-8-sig" if data.startswith(_BOM) else "utf-8"
        self._detect = False
        self._pending = b""
        self._json_bytes(data)
        return "json"

    def finish_records(self) -> list[Record]:
        if self._wide is not None and not self._done:
            self._bytes(self._wide.feed(b"", final=True))  # a character cut off at the end
        if self.stats.format == "json" and not self._done:
            self._json_bytes(b"", final=True)
        elif self._pending:
            self._line(self._pending)
            self._pending = b""
        if self._held is not None:
            self._decide_encoding()  # a file shorter than the sample
        if self._record:
            self._broken(self._record_row, "unterminated_quote",
                         "a quoted field is not closed before the end of the file")
            self._record = []
        if self.stats.format == "json" and not self._done:
            if self._json_state == "start":
                self._error(0, "file", "empty", "no JSON array found")
            elif self._json_state == "items":
                self._error(self._json_index + 1, "file", "truncated",
                            "the JSON array is not closed: the file is truncated")
        if self.stats.format is None:
            self.stats.format = "csv"
        return self._drain()

    def _drain(self) -> list[Record]:
        out, self._out = self._out, []
        return out

    # -- lines and encodings --------------------------------------------------------

    def _line(self, raw: bytes) -> None:
        self._line_no += 1
        if self._skip_to_newline:
            self._skip_to_newline = False
            return
        if self._done:
            return
        if not self._started:
            self._started = True
            if raw.startswith(_BOM):
                raw = raw[len(_BOM):]
                if self._detect:
                    self.stats.encoding = "utf-8-sig"
                    self._detect = False
            elif self._detect and (raw.startswith(_UTF16_BOMS) or b"\x00" in raw):
                self._fatal(self._line_no, "the first line is not text (NUL bytes or a "
                            "UTF-16 byte order mark): binary data (a spreadsheet, an archive?) "
                            "or UTF-16 text: name its encoding with ?encoding=utf-16, or save "
                            "the list as CSV in UTF-8")
                return
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if self._held is not None:
            self._hold(raw)
            return
        if self._detect and not raw.isascii():
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                self._held = []  # GB18030, or something else: a sample decides
                self._hold(raw)
                return
            self.stats.encoding = "utf-8"
            self._detect = False
        self._text_line(raw)

    def _hold(self, raw: bytes) -> None:
        assert self._held is not None
        self._held.append((self._line_no, raw))
        self._held_bytes += len(raw)
        if not raw.isascii():
            self._held_wide += 1
        if self._held_wide >= SAMPLE_LINES or self._held_bytes >= SAMPLE_BYTES:
            self._decide_encoding()

    def _decide_encoding(self) -> None:
        """GB18030 if the sample held reads as Chinese text, else no encoding (each
        non-ASCII row an ``encoding`` error); then the held lines are read, in order."""
        held, self._held = self._held or [], None
        self._held_bytes = self._held_wide = 0
        self._detect = False
        if plausibly_gb18030([raw for _, raw in held if not raw.isascii()]):
            self.stats.encoding = "gb18030"
        else:
            self._undetected = True
        last = self._line_no
        for line_no, raw in held:
            if self._done:
                break
            self._line_no = line_no
            self._text_line(raw)
        self._line_no = last

    def _text_line(self, raw: bytes) -> None:
        """One line of CSV or NDJSON, once the encoding is known."""
        text = self._decode(raw)
        if text is None:
            self._broken(self._line_no, "encoding", self._not_decoded(),
                         _clip(raw.decode("latin-1")))
            return
        if self.stats.format is None:
            stripped = text.lstrip()
            if not stripped:
                return
            self.stats.format = "ndjson" if stripped[0] == "{" else "csv"
        if self.stats.format == "csv":
            self._csv_line(text)
        elif text.strip():
            self._json_record(self._line_no, text)

    def _decode(self, raw: bytes) -> str | None:
        encoding = "utf-8" if self._wide is not None else self.stats.encoding
        if encoding is None:  # ASCII so far, or an encoding not told (see _line)
            return raw.decode("ascii") if raw.isascii() else None
        try:
            return raw.decode("utf-8" if encoding == "utf-8-sig" else encoding)
        except UnicodeDecodeError:
            return None
        except LookupError as exc:
            raise ValueError(f"unknown encoding {encoding!r}") from exc

    def _not_decoded(self) -> str:
        if self._undetected:
            return ("neither UTF-8 nor GBK/GB18030 text: give the file's encoding with "
                    "?encoding= (e.g. latin-1, cp1252, big5) or charset= in Content-Type, "
                    "and upload it again")
        if self.options.encoding is not None:
            return f"not valid {self.stats.encoding}"
        return (f"not valid {self.stats.encoding} (the encoding its first lines have); "
                "give the file's encoding with ?encoding=")

    # -- CSV ------------------------------------------------------------------------

    def _csv_line(self, text: str) -> None:
        if not self._record:
            if not text.strip():
                return
            self._record_row = self._line_no
            self._record_bytes = 0
        self._record.append(text)
        self._record_bytes += len(text)
        joined = "\n".join(self._record)
        if '"' in joined:
            try:
                cells = next(csv.reader([joined], delimiter=self._delimiter_for(joined),
                                        strict=True))
            except csv.Error as exc:
                if "unexpected end of data" in str(exc):
                    if self._record_bytes > self.options.max_record_bytes:
                        self._record = []
                        self._broken(self._record_row, "unterminated_quote",
                                     "a quoted field is not closed within the size limit")
                    return  # the quoted field goes on in the next line
                self._record = []
                self._broken(self._record_row, "malformed_csv", str(exc), _clip(joined))
                return
        else:
            cells = joined.split(self._delimiter_for(joined))
        self._record = []
        # The cells hold nothing PostgreSQL refuses when the record does not (the header's
        # names are checked as it is read): the common case, checked once.
        self._csv_cells(self._record_row, cells, _text_problem(joined) is None)

    def _delimiter_for(self, first: str) -> str:
        """Sniffed once, on the first record: the most frequent of , ; tab |."""
        if not self._seen_header:
            counts = {d: first.count(d) for d in _DELIMITERS}
            best = max(counts, key=lambda d: counts[d])
            self._delimiter = best if counts[best] else ","
        return self._delimiter

    def _csv_cells(self, row: int, cells: list[str], storable: bool) -> None:
        if not self._seen_header:
            self._seen_header = True
            keys = [_key(c) for c in cells]
            for i, k in enumerate(keys):
                why = _text_problem(k)
                if why is not None:
                    self._fatal(row, f"the header's column {i + 1} {why[1]}")
                    return
            if any(k in PHONE_KEYS for k in keys):
                self._columns = keys
                self._phone_col = next(i for i, k in enumerate(keys) if k in PHONE_KEYS)
                return
            if not any(_DIGITS.search(c) for c in cells):
                self._fatal(row, "the header names no phone column (e.g. 'phone')")
                return
            self._columns = None  # no header: the first column with digits is the number
            self._phone_col = next(i for i, c in enumerate(cells) if _DIGITS.search(c))
        self.stats.rows += 1
        if self._columns is None:
            record: dict[str, Any] = {f"column_{i + 1}": c for i, c in enumerate(cells)}
            record["phone"] = record.pop(f"column_{self._phone_col + 1}", "")
        else:
            if len(cells) > len(self._columns):
                self._error(row, "row", "too_many_columns",
                            f"{len(cells)} columns, the header has {len(self._columns)}")
                return
            record = dict(zip(self._columns, cells, strict=False))
        self._record_to_lead(row, record, storable)

    # -- JSON -------------------------------------------------------------------------

    def _json_record(self, row: int, text: str) -> None:
        self.stats.rows += 1
        try:
            value = json.loads(text)
        except ValueError as exc:
            self._error(row, "row", "malformed_json", str(exc), _clip(text.strip()))
            return
        except RecursionError:
            self._error(row, "row", "malformed_json", "arrays or objects nested too deeply",
                        _clip(text.strip()))
            return
        if not isinstance(value, dict):
            self._error(row, "row", "not_an_object", "each lead must be a JSON object",
                        _clip(value))
            return
        self._record_to_lead(row, {_key(str(k)): v for k, v in value.items()})

    def _json_bytes(self, chunk: bytes, final: bool = False) -> None:
        if self._decoder is None:
            # utf-8-sig also reads UTF-8 without a BOM; JSON is UTF-8 unless told otherwise
            # (UTF-16/32 is UTF-8 by now).
            name = ("utf-8-sig" if self._wide is not None
                    else self.options.encoding or "utf-8-sig")
            try:
                if codecs.lookup(name).name == "utf-8":
                    name = "utf-8-sig"  # a BOM is no character of the text
                self._decoder = codecs.getincrementaldecoder(name)()
            except LookupError as exc:
                raise ValueError(f"unknown encoding {name!r}") from exc
            if self.stats.encoding is None:
                self.stats.encoding = "utf-8-sig" if chunk.startswith(_BOM) else "utf-8"
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError:
            self._fatal(self._json_index + 1,
                        f"the JSON text is not valid {self.stats.encoding}; give its encoding")
            return
        self._json_text(text)

    def _json_text(self, text: str) -> None:
        buf = self._json[self._json_pos:] + text if self._json_pos else self._json + text
        pos = 0
        while not self._done:
            pos = _skip_space(buf, pos)
            if pos == len(buf):
                break
            if self._json_state == "start":
                if buf[pos] != "[":
                    self._fatal(1, "a JSON document must be an array of lead objects")
                    break
                self._json_state = "items"
                pos += 1
                continue
            if self._json_state == "end":
                self._fatal(self._json_index, "text after the end of the JSON array")
                break
            if buf[pos] == ",":
                pos += 1
                continue
            if buf[pos] == "]":
                self._json_state = "end"
                pos += 1
                continue
            end = _element_end(buf, pos)
            if end is None:
                if len(buf) - pos > self.options.max_record_bytes:
                    self._fatal(self._json_index + 1, "a JSON element exceeds the size limit")
                break
            self._json_index += 1
            self._json_record(self._json_index, buf[pos:end])
            pos = end
        self._json, self._json_pos = buf, pos
        if pos > 65536 or pos == len(buf):
            self._json, self._json_pos = buf[pos:], 0

    # -- one record -----------------------------------------------------------------

    def _record_to_lead(self, row: int, record: Mapping[str, Any],
                        storable: bool = False) -> None:
        """``storable``: the record is known to hold nothing :func:`field_problem` refuses."""
        phone_value: Any = None
        zone_value: Any = None
        grade_value: Any = None
        region_value: Any = None
        fields: dict[str, Any] = {}
        bad = None if storable else field_problem(record)
        if bad is not None:
            name = _role(bad.key)
            self._error(row, name or bad.key, bad.code,
                        f"{_clip(bad.key) if name is None else name}: {bad.message}",
                        _clip(record[bad.key]))
            return
        for k, v in record.items():
            if k in PHONE_KEYS and phone_value is None:
                phone_value = v
            elif k in TIMEZONE_KEYS:
                zone_value = v
            elif k in GRADE_KEYS:
                grade_value = v
            elif k in REGION_KEYS:
                region_value = v
                fields[k] = v
            elif k:
                fields[k] = v
        if phone_value is None:
            self._error(row, "phone", "missing_phone", "no phone number in this row")
            return
        if isinstance(phone_value, (dict, list, bool)):
            kind = {dict: "an object", list: "a list", bool: "true or false"}[type(phone_value)]
            self._error(row, "phone", "invalid_number",
                        f"the phone number is {kind}: give it as text or digits",
                        _clip(phone_value))
            return
        self._out.append(Candidate(row, str(phone_value), zone_value, grade_value,
                                   region_value, fields))

    # -- stage 3: settle --------------------------------------------------------------

    def settle(self, items: Iterable[Item]) -> list[Item]:
        """Resolved items, in row order, back into the parser: counted, and a number seen
        earlier in the list turned into a ``duplicate_in_list`` error."""
        out: list[Item] = []
        counts = self.stats.counts_by_code
        for item in items:
            if isinstance(item, Lead):
                key = int(item.e164[1:])
                if key in self._seen:
                    item = RowError(row=item.row, field="phone", code="duplicate_in_list",
                                    message="the number appears earlier in this list",
                                    value=item.e164)
                    self.stats.duplicates += 1
                else:
                    self._seen.add(key)
                    self.stats.leads += 1
                    out.append(item)
                    continue
            else:
                self.stats.errors += 1
            counts[item.code] = counts.get(item.code, 0) + 1
            out.append(item)
        return out

    # -- errors -----------------------------------------------------------------------

    def _error(self, row: int, field: str, code: str, message: str,
               value: str | None = None) -> None:
        self._out.append(RowError(row=row, field=field, code=code, message=message, value=value))

    def _broken(self, row: int, code: str, message: str, value: str | None = None) -> None:
        """A record that could not be read: it counts as a row, so that rows = leads +
        rejected + duplicates in the import's report."""
        self.stats.rows += 1
        self._error(row, "row", code, message, value)

    def _fatal(self, row: int, message: str) -> None:
        """The rest of the input cannot be read as leads: report once, ignore the rest."""
        self._error(row, "file", "unreadable", message)
        self._done = True
        self._held = None



# -- stage 2: resolve (pure; runs in any process) ------------------------------------


def resolve_all(records: Iterable[Record], options: ImportOptions) -> list[Item]:
    """Each candidate checked (see :func:`resolve`); row errors passed through."""
    return [r if isinstance(r, RowError) else resolve(r, options) for r in records]


def resolve(c: Candidate, options: ImportOptions) -> Item:
    """The lead a candidate row makes, or the first thing wrong with it."""
    checked = check_number(c.row, c.phone, c.zone, c.grade, c.region, options)
    return checked if isinstance(checked, RowError) else to_lead(c, checked)


# What a worker process gets and gives back per row: plain tuples, because pickling frozen
# dataclasses costs more than the checks themselves.
WireIn = tuple[int, str, Any, Any, Any]  # row, phone, zone, grade, region
Checked = tuple[str, tuple[str, ...], str | None]  # e164, zones, grade


def wire(c: Candidate) -> WireIn:
    return c[:5]


def check_numbers(rows: list[WireIn], options: ImportOptions) -> list[Checked | RowError]:
    """:func:`check_number` over a batch: the work a process pool shares out."""
    return [check_number(*r, options) for r in rows]


def to_lead(c: Candidate, checked: Checked) -> Item:
    """The candidate's lead from its checked number, unless its free fields are too large
    (what they hold was checked with the row: :meth:`LeadParser._record_to_lead`)."""
    if not _size_fits(c.fields):
        return RowError(c.row, "row", "fields_too_large",
                        f"free fields exceed {MAX_FIELDS_BYTES} bytes")
    e164, zones, grade = checked
    return Lead(row=c.row, e164=e164, zones=zones, grade=None if grade is None else Grade(grade),
                fields=c.fields)


def check_number(
    row: int, phone: str, zone: Any, grade_value: Any, region_value: Any,
    options: ImportOptions,
) -> Checked | RowError:
    """Region, number, grade, time zone(s) and calling windows of one row."""
    region = options.default_region
    if isinstance(region_value, str) and region_value.strip():
        region = region_value.strip().upper()
        if not is_region(region):
            return RowError(row, "region", "unknown_region", "not a known region code",
                            _clip(region_value))
    try:
        number = parse_number(phone, region)
    except InvalidNumber as exc:
        return RowError(row, "phone", exc.reason.value, str(exc), _clip(phone))
    grade: Grade | None = None
    if grade_value not in (None, ""):
        try:
            grade = Grade(str(grade_value).strip().upper())
        except ValueError:
            return RowError(row, "grade", "invalid_grade", "grade must be H, A, B or C",
                            _clip(grade_value))
    given = str(zone).strip() if zone not in (None, "") else None
    try:
        zones = resolve_timezones(given, number, options.default_timezone)
    except InvalidTimezone as exc:
        return RowError(row, "timezone", exc.reason.value, str(exc),
                        None if given is None else _clip(given))
    if not _ever_open(options.windows, zones):
        return RowError(row, "timezone", "window_never_opens",
                        f"the calling windows are never open in all of {', '.join(zones)} "
                        "at once; give a timezone for this lead", ", ".join(zones))
    # One tuple object per distinct set of zones: pickled once per batch, not per row.
    zones = _ZONES.setdefault(zones, zones) if len(_ZONES) < 10_000 else zones
    return (number.e164, zones, None if grade is None else grade.value)


_ZONES: dict[tuple[str, ...], tuple[str, ...]] = {}


def _role(key: str) -> str | None:
    """What a record's key is to the import, when it is not a free field."""
    if key in PHONE_KEYS:
        return "phone"
    if key in TIMEZONE_KEYS:
        return "timezone"
    if key in GRADE_KEYS:
        return "grade"
    return "region" if key in REGION_KEYS else None


def plausibly_gb18030(lines: list[bytes]) -> bool:
    """Whether non-ASCII lines that are not UTF-8 read as Chinese text in GB18030 (GBK).

    Nearly all of them must decode, and at least half of the characters they decode into
    must be in GB2312 (the 6,763 common hanzi, CJK punctuation, full-width forms): real
    lists are nearly all GB2312, with a rare character in a name here and there. A Latin
    encoding's accented letter followed by an ASCII letter also decodes, but into a rare
    character ('François' in Latin-1 reads 'Fran鏾is'); followed by a space, a comma or
    the end of the line it does not decode at all.
    """
    decoded = wide = common = 0
    for raw in lines:
        try:
            text = raw.decode("gb18030")
        except UnicodeDecodeError:
            continue
        decoded += 1
        for ch in text:
            if ch > "\x7f":
                wide += 1
                common += _in_gb2312(ch)
    return decoded * 10 >= len(lines) * 9 and wide > 0 and common * 2 >= wide


def _in_gb2312(ch: str) -> bool:
    try:
        ch.encode("gb2312")
    except UnicodeEncodeError:
        return False
    return True


def fields_fit(fields: dict[str, Any]) -> bool:
    """Whether PostgreSQL stores these free fields: nothing it refuses in them
    (:func:`field_problem`), and at most :data:`MAX_FIELDS_BYTES` as JSON."""
    return field_problem(fields) is None and _size_fits(fields)


def _size_fits(fields: dict[str, Any]) -> bool:
    # JSON text is at most 6 characters per character of text (\uXXXX) plus quotes and
    # separators: only lists that may be near the limit pay for json.dumps.
    if all(isinstance(v, str) for v in fields.values()):
        bound = sum(6 * (len(k) + len(v)) + 8 for k, v in fields.items()) + 2
        if bound <= MAX_FIELDS_BYTES:
            return True
    return len(json.dumps(fields, ensure_ascii=False)) <= MAX_FIELDS_BYTES


_OPEN_CACHE: dict[tuple[tuple[Window, ...], tuple[str, ...]], bool] = {}


def _ever_open(windows: tuple[Window, ...] | None, zones: tuple[str, ...]) -> bool:
    if windows is None or len(zones) < 2:
        return True  # one zone: windows validated on the campaign open every week
    known = _OPEN_CACHE.get((windows, zones))
    if known is None:
        if len(_OPEN_CACHE) > 10_000:
            _OPEN_CACHE.clear()
        known = _OPEN_CACHE[(windows, zones)] = ever_opens(windows, zones)
    return known


def _skip_space(buf: str, pos: int) -> int:
    m = _SPACE.match(buf, pos)
    return pos if m is None else m.end()


def _element_end(buf: str, pos: int) -> int | None:
    """Where the JSON array element starting at ``pos`` ends (at a ',' or ']' at depth 0),
    or None if ``buf`` does not hold all of it yet."""
    depth = 0
    for m in _JSON_TOKEN.finditer(buf, pos):
        tok = m.group()
        if tok == '"':
            return None  # a string still open: wait for more text
        if tok in "{[":
            depth += 1
        elif tok in "}]":
            if depth == 0:
                return m.start()  # the array's closing bracket
            depth -= 1
        elif tok == "," and depth == 0:
            return m.start()
    return None


def read_leads(chunks: Iterable[bytes], options: ImportOptions | None = None) -> Iterator[Item]:
    """Every lead and row error of the input, lazily; see :class:`LeadParser`."""
    parser = LeadParser(options)
    for chunk in chunks:
        yield from parser.feed(chunk)
    yield from parser.finish()
