"""Streaming lead import: encodings, formats, broken rows, dedupe, bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.leads import ImportOptions, Lead, LeadParser, RowError, read_leads, resolve_all
from dialer.numbers import PARSE_CACHE_SIZE
from dialer.schedule import Grade

CN = ImportOptions(default_region="CN")


def chunked(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


def split(items: list[Lead | RowError]) -> tuple[list[Lead], list[RowError]]:
    return [i for i in items if isinstance(i, Lead)], [i for i in items if isinstance(i, RowError)]


GOOD_CSV = "电话,姓名,等级,城市\n13800138000,张三,H,北京\n0991-5551234,李四,a,乌鲁木齐\n"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
def test_chinese_csv_imports_in_every_common_encoding(encoding: str) -> None:
    parser = LeadParser(CN)
    items = parser.feed(GOOD_CSV.encode(encoding)) + parser.finish()
    leads, errors = split(items)
    assert errors == []
    assert [(x.row, x.e164, x.grade) for x in leads] == [
        (2, "+8613800138000", Grade.H),
        (3, "+869915551234", Grade.A),
    ]
    assert leads[0].fields == {"姓名": "张三", "城市": "北京"}  # free fields for screen pop
    assert leads[1].zones == ("Asia/Urumqi",)
    assert parser.stats.encoding == ("utf-8" if encoding == "utf-8" else
                                     {"utf-8-sig": "utf-8-sig"}.get(encoding, "gb18030"))


@pytest.mark.parametrize("size", [1, 2, 3, 7, 64, 100_000])
def test_chunk_boundaries_do_not_matter(size: int) -> None:
    data = GOOD_CSV.encode("gbk")
    whole = list(read_leads([data], CN))
    assert list(read_leads(chunked(data, size), CN)) == whole


def test_broken_rows_are_reported_and_good_rows_kept() -> None:
    text = (
        "phone,name,grade,timezone\n"
        "13800138000,ok,H,\n"
        "not a number,x,A,\n"
        "13800138001,bad grade,Q,\n"
        "13800138002,bad zone,B,Mars/Olympus\n"
        '13800138003,"broken"quote,A,\n'
        "13800138004,too,many,columns,here\n"
        "13800138000,duplicate,A,\n"
        "\n"
        "13800138005,last,C,Asia/Urumqi\n"
    )
    leads, errors = split(list(read_leads([text.encode()], CN)))
    assert [x.row for x in leads] == [2, 10]
    assert leads[1].zones == ("Asia/Urumqi",) and leads[1].grade is Grade.C
    assert [(e.row, e.field, e.code) for e in errors] == [
        (3, "phone", "not_a_number"),
        (4, "grade", "invalid_grade"),
        (5, "timezone", "unknown_timezone"),
        (6, "row", "malformed_csv"),
        (7, "row", "too_many_columns"),
        (8, "phone", "duplicate_in_list"),
    ]
    assert errors[0].value == "not a number"


def test_wrong_encoding_in_one_row_is_a_row_error() -> None:
    data = "phone,name\n13800138000,张三\n".encode() + "13800138001,李四\n".encode("gbk")
    data += b"13800138002,ok\n"
    leads, errors = split(list(read_leads([data], CN)))
    assert [x.row for x in leads] == [2, 4]
    assert [(e.row, e.code) for e in errors] == [(3, "encoding")]


def test_quoted_fields_may_span_lines_and_hold_delimiters() -> None:
    data = b'phone;note\n13800138000;"line one\nline; two"\n13800138001;x\n'
    leads, errors = split(list(read_leads(chunked(data, 5), CN)))
    assert errors == []
    assert leads[0].fields == {"note": "line one\nline; two"}
    assert leads[1].row == 4  # row numbers are line numbers


def test_unterminated_quote_at_end_is_reported() -> None:
    data = b'phone,note\n13800138000,ok\n13800138001,"never closed\n'
    leads, errors = split(list(read_leads([data], CN)))
    assert len(leads) == 1
    assert [(e.row, e.code) for e in errors] == [(3, "unterminated_quote")]


def test_headerless_csv_uses_the_first_column_with_digits() -> None:
    data = b"Alice,13800138000\r\nBob,13800138001\r\n"
    leads, errors = split(list(read_leads([data], CN)))
    assert errors == []
    assert [(x.e164, x.fields) for x in leads] == [
        ("+8613800138000", {"column_1": "Alice"}),
        ("+8613800138001", {"column_1": "Bob"}),
    ]


def test_header_without_phone_column_is_one_file_error() -> None:
    leads, errors = split(list(read_leads([b"name,city\nAlice,Paris\n"], CN)))
    assert leads == [] and [(e.field, e.code) for e in errors] == [("file", "unreadable")]


def test_json_array_streamed_with_bad_elements() -> None:
    doc = [
        {"phone": "13800138000", "name": "A", "vip": True},
        {"mobile": 13800138001, "grade": "b"},
        "not an object",
        {"name": "no phone"},
        {"phone": "+1 415 555 0123", "tz": "America/Los_Angeles", "note": "a, b ] {c}"},
        {"phone": ["13600000005"]},
        {"phone": None},
    ]
    data = ("\ufeff" + json.dumps(doc, ensure_ascii=False)).encode()
    for size in (1, 9, len(data)):
        leads, errors = split(list(read_leads(chunked(data, size), CN)))
        assert [x.row for x in leads] == [1, 2, 5]
        assert leads[0].fields == {"name": "A", "vip": True}
        assert leads[1].grade is Grade.B
        assert leads[2].fields == {"note": "a, b ] {c}"}
        assert [(e.row, e.code) for e in errors] == [
            (3, "not_an_object"), (4, "missing_phone"), (6, "invalid_number"),
            (7, "missing_phone")]
        assert "a list" in errors[2].message


def test_truncated_json_array_reports_where() -> None:
    leads, errors = split(list(read_leads([b'[{"phone": "13800138000"}, {"phone": "1380'], CN)))
    assert len(leads) == 1
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "file", "truncated")]


def test_ndjson_with_a_broken_line() -> None:
    data = b'{"phone": "13800138000"}\n{"phone": \n{"phone": "13800138001"}\n'
    leads, errors = split(list(read_leads([data], CN)))
    assert [x.row for x in leads] == [1, 3]
    assert [(e.row, e.code) for e in errors] == [(2, "malformed_json")]


def test_a_line_that_never_ends_is_dropped_once() -> None:
    options = ImportOptions(default_region="CN", max_record_bytes=1024)
    data = b"phone,note\n13800138000," + b"x" * 5000 + b"\n13800138001,ok\n"
    leads, errors = split(list(read_leads(chunked(data, 100), options)))
    assert [x.e164 for x in leads] == ["+8613800138001"]
    assert [(e.row, e.code) for e in errors] == [(2, "line_too_long")]


def _generated(n: int, start: int = 0) -> Iterator[bytes]:
    yield b"phone,name,grade\n"
    for i in range(start, start + n):
        yield f"139{i:08d},customer {i},A\n".encode()


def test_memory_stays_bounded_while_streaming() -> None:
    """Items are consumed as they come: memory grows with the dedupe set, not the input."""
    # Load phonenumbers' metadata and fill the bounded parse cache before measuring.
    list(read_leads(_generated(PARSE_CACHE_SIZE, start=50_000_000), CN))
    rows = 8_000
    tracemalloc.start()
    try:
        count = 0
        for item in read_leads(_generated(rows), CN):
            assert isinstance(item, Lead)
            count += 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    # Holding the leads would take ~5 MB (a Lead with its fields dict is ~600 bytes); the
    # parser keeps only the dedupe set (an int per number) and one pending line.
    assert peak < 2 * 1024 * 1024, peak


phones = st.integers(min_value=0, max_value=99_999_999).map(lambda n: f"139{n:08d}")


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(phones, st.text(max_size=12)), max_size=30),
       st.sampled_from(["utf-8", "gbk"]), st.integers(min_value=1, max_value=50))
def test_every_row_is_accounted_for_exactly_once(
    values: list[str], encoding: str, size: int
) -> None:
    lines = ["phone,note"] + [
        '"' + v.replace('"', '""') + '",' + "备注" for v in values
    ]
    data = "\n".join(lines).encode(encoding, errors="replace")
    parser = LeadParser(CN)
    items: list[Lead | RowError] = []
    for chunk in chunked(data, size):
        items += parser.feed(chunk)
    items += parser.finish()
    leads, errors = split(items)
    rows = sorted([x.row for x in leads] + [e.row for e in errors])
    # Every non-empty data row yields exactly one item; no good number is dialed twice.
    assert len(rows) == len(set(rows))
    assert len({x.e164 for x in leads}) == len(leads)
    assert parser.stats.leads == len(leads)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(phones, st.text(alphabet='0123456789",\n x', max_size=14),
                          st.just("\udcff")), max_size=30),
       st.integers(min_value=1, max_value=50))
def test_the_report_adds_up_with_broken_rows_among_good_ones(values: list[str], size: int) -> None:
    """rows = leads + rejected + duplicates, whatever the rows hold: stray quotes that
    never close, bytes that are not UTF-8 (the import job's report shows these counts)."""
    data = ("phone,note\n" + "\n".join(f"{v},x" for v in values)).encode(
        "utf-8", errors="surrogateescape")
    parser = LeadParser(CN)
    items: list[Lead | RowError] = []
    for chunk in chunked(data, size):
        items += parser.feed(chunk)
    items += parser.finish()
    stats = parser.stats
    assert stats.rows == stats.leads + stats.errors + stats.duplicates == len(items)


json_values = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=8))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(phones, st.dictionaries(st.text("abcxyz", min_size=1, max_size=4),
                                               json_values, max_size=3)), max_size=15),
    st.sampled_from([None, 2]),
    st.integers(min_value=1, max_value=40),
)
def test_streamed_json_arrays_read_like_json_loads(
    rows: list[tuple[str, dict[str, object]]], indent: int | None, size: int
) -> None:
    doc = [{**extra, "phone": phone} for phone, extra in rows]
    data = json.dumps(doc, indent=indent, ensure_ascii=False).encode()
    leads, errors = split(list(read_leads(chunked(data, size), CN)))
    expected = {}
    for obj in json.loads(data):
        if any(isinstance(v, str) and "\x00" in v for v in obj.values()):
            continue  # PostgreSQL stores no U+0000: the row is an error (invalid_character)
        expected.setdefault("+86" + obj["phone"], {k: v for k, v in obj.items() if k != "phone"})
    assert all(e.code in ("duplicate_in_list", "invalid_character") for e in errors)
    assert {x.e164: x.fields for x in leads} == expected


def test_zones_that_never_share_an_open_window_reject_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import dialer.leads
    from dialer.numbers import ParsedNumber
    from dialer.schedule import DEFAULT_WINDOWS

    def karachi_and_beijing(raw: str, region: str | None) -> ParsedNumber:
        # No real number spans these two zones; the rule is about zones, so fake the lookup.
        return ParsedNumber("+8613800138000", "CN", "mobile", ("Asia/Shanghai", "Asia/Karachi"))

    monkeypatch.setattr(dialer.leads, "parse_number", karachi_and_beijing)
    data = b"phone\n13800138000\n"
    leads, errors = split(list(read_leads([data], ImportOptions(windows=DEFAULT_WINDOWS))))
    assert leads == [] and [(e.row, e.code) for e in errors] == [(2, "window_never_opens")]
    unchecked, _ = split(list(read_leads([data], ImportOptions())))
    assert len(unchecked) == 1


MIXED = (
    b"phone,grade,tz,region,name\n"
    b"13800138000,H,,,a\n"
    b"+86 138 0013 8001,,Asia/Urumqi,,b\n"
    b"0991-5551234,A,,,c\n"
    b"12345,A,,,bad\n"
    b"+1 415 555 0123,,,,d\n"
    b"4155550124,B,,US,e\n"
    b"13800138000,A,,,dup\n"
    b"13800138002,X,,,bad grade\n"
    b"13800138003,,Mars/Base,,bad zone\n"
    b"13800138004,,,XX,bad region\n"
    b",,,,no number\n"
)


def test_the_three_stages_give_what_feed_gives() -> None:
    """Resolving elsewhere (another process, in any batches) changes nothing."""
    whole = list(read_leads(chunked(MIXED, 7), CN))
    parser = LeadParser(CN)
    records = [r for c in chunked(MIXED, 7) for r in parser.feed_records(c)]
    records += parser.finish_records()
    staged = [i for k in range(0, len(records), 3)
              for i in parser.settle(resolve_all(records[k : k + 3], CN))]
    assert staged == whole
    codes = [(i.row, i.code) for i in whole if isinstance(i, RowError)]
    assert codes == [(5, "invalid_number"), (8, "duplicate_in_list"), (9, "invalid_grade"),
                     (10, "unknown_timezone"), (11, "unknown_region"), (12, "empty")]
    assert parser.stats.errors == 5 and parser.stats.duplicates == 1 and parser.stats.leads == 5


# -- UTF-16 (and UTF-32), when named: a newline is not one byte of the text ---------------

# 上 is U+4E0A and 瀊 U+700A: in UTF-16 each holds a 0x0A byte, which is not a newline.
WIDE_CSV = ('phone,name,note\n13800138000,上官,"two\nlines"\n'
            "13800138001,瀊,x\n13800138002,François,y\n")
WIDE_NDJSON = '{"phone":"13800138000","name":"上官"}\n{"phone":"13800138001","name":"瀊"}\n'
WIDE_JSON = '[{"phone":"13800138000","name":"上官"},\n{"phone":"13800138001","name":"瀊"}]'
BOM = {"le": b"\xff\xfe", "be": b"\xfe\xff"}


def wide(text: str, order: str, *, bom: bool) -> bytes:
    return (BOM[order] if bom else b"") + text.encode(f"utf-16-{order}")


def read(data: bytes, encoding: str | None, size: int) -> tuple[list[Lead], list[RowError]]:
    options = ImportOptions(default_region="CN", encoding=encoding)
    return split(list(read_leads(chunked(data, size), options)))


@pytest.mark.parametrize("text", [WIDE_CSV, WIDE_NDJSON, WIDE_JSON])
@pytest.mark.parametrize(("named", "order", "bom"), [
    ("utf-16", "le", True), ("utf-16", "be", True),  # Excel's "Unicode text" has the BOM
    ("utf-16", "le", False), ("utf-16", "be", False),
    ("UTF-16LE", "le", False), ("utf-16-be", "be", False),
    ("utf_16_le", "le", True), ("utf-16-be", "be", True),
])
@pytest.mark.parametrize("size", [1, 3, 4096])
def test_a_file_named_utf16_reads_as_its_utf8_twin(
    text: str, named: str, order: str, bom: bool, size: int
) -> None:
    expected = read(text.encode(), "utf-8", 4096)
    assert expected[1] == [] and len(expected[0]) >= 2
    leads, errors = read(wide(text, order, bom=bom), named, size)
    assert errors == []
    assert leads == expected[0]


def test_utf16_rows_come_out_as_their_lines_complete() -> None:
    """A stream: each row is out once its line has arrived, not at the end of the file."""
    parser = LeadParser(ImportOptions(default_region="CN", encoding="utf-16"))
    data = wide("phone,name\n" + "".join(f"139{i:08d},上官\n" for i in range(50)), "le",
                bom=True)
    out: list[Lead | RowError] = []
    seen_before_finish = 0
    for chunk in chunked(data, 7):
        out += parser.feed(chunk)
        seen_before_finish = len(out)
    out += parser.finish()
    assert seen_before_finish == 50 and len(out) == 50
    assert parser.stats.encoding == "utf-16"


def test_utf16_memory_stays_bounded_while_streaming() -> None:
    list(read_leads(_generated(PARSE_CACHE_SIZE, start=50_000_000), CN))
    utf16 = ImportOptions(default_region="CN", encoding="utf-16-le")
    rows = 8_000
    tracemalloc.start()
    try:
        count = sum(1 for item in read_leads(
            (line.decode().encode("utf-16-le") for line in _generated(rows)), utf16)
            if isinstance(item, Lead))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == rows
    assert peak < 2 * 1024 * 1024, peak


def test_a_line_that_is_not_valid_utf16_is_a_row_error_and_the_rest_is_read() -> None:
    good = "phone\n13800138000\n".encode("utf-16-le")
    lone = "13800138001".encode("utf-16-le") + b"\x00\xd8" + "\n".encode("utf-16-le")
    after = "13800138002\n".encode("utf-16-le") + b"\x31"  # and a dangling last byte
    leads, errors = read(good + lone + after, "utf-16-le", 5)
    assert [x.e164 for x in leads] == ["+8613800138000", "+8613800138002"]
    assert [(e.row, e.field, e.code) for e in errors] == [(3, "row", "encoding"),
                                                          (5, "row", "encoding")]
    assert all("utf-16-le" in e.message for e in errors)


def test_utf32_named_reads_too() -> None:
    leads, errors = read(WIDE_CSV.encode("utf-32"), "utf-32", 5)
    assert errors == [] and leads == read(WIDE_CSV.encode(), "utf-8", 4096)[0]
