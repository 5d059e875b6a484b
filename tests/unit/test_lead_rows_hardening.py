"""Lead rows PostgreSQL would refuse, and files whose encoding cannot be told.

One bad value is one row error naming the row and the field, never the end of the import;
what the parser hands on (leads' free fields, the error report's text) is always storable:
``jsonb`` and ``text`` refuse NaN and Infinity, U+0000 and unpaired surrogates.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.leads import (
    MAX_NESTING,
    ImportOptions,
    Lead,
    LeadParser,
    RowError,
    field_problem,
    fields_fit,
    plausibly_gb18030,
)

CN = ImportOptions(default_region="CN")


def split(items: list[Lead | RowError]) -> tuple[list[Lead], list[RowError]]:
    return [i for i in items if isinstance(i, Lead)], [i for i in items if isinstance(i, RowError)]


def parse(data: bytes, options: ImportOptions = CN) -> tuple[list[Lead], list[RowError],
                                                              LeadParser]:
    parser = LeadParser(options)
    items = parser.feed(data) + parser.finish()
    leads, errors = split(items)
    return leads, errors, parser


def adds_up(parser: LeadParser) -> bool:
    s = parser.stats
    return s.rows == s.leads + s.errors + s.duplicates


def storable_text(text: str | None) -> bool:
    """What PostgreSQL's text takes: UTF-8 without U+0000."""
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def storable_json(value: object) -> bool:
    """What PostgreSQL's jsonb takes (as the import writes it: json.dumps, UTF-8)."""
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
        text.encode("utf-8")
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in text and "\x00" not in text


# -- one rule for free fields (imports and the lead PATCH endpoints) ---------------------


@pytest.mark.parametrize(("fields", "key", "code"), [
    ({"n": math.nan}, "n", "not_finite"),
    ({"ok": 1, "n": math.inf}, "n", "not_finite"),
    ({"n": -math.inf}, "n", "not_finite"),
    ({"note": "a\x00b"}, "note", "invalid_character"),
    ({"note": "\ud800"}, "note", "invalid_character"),
    ({"a\x00": "x"}, "a\x00", "invalid_character"),
    ({"deep": {"x": [1, {"y": math.nan}]}}, "deep", "not_finite"),
    ({"deep": [["\udfff"]]}, "deep", "invalid_character"),
    ({"deep": {"k\x00": 1}}, "deep", "invalid_character"),
])
def test_a_value_postgresql_refuses_is_named(fields: dict[str, object], key: str,
                                             code: str) -> None:
    problem = field_problem(fields)
    assert problem is not None and (problem.key, problem.code) == (key, code)
    assert not fields_fit(fields)  # the lead PATCH endpoints refuse it too


def test_nesting_is_bounded() -> None:
    value: object = 1
    for _ in range(MAX_NESTING):
        value = [value]
    assert field_problem({"x": value}) is None
    problem = field_problem({"x": [value]})
    assert problem is not None and problem.code == "too_deep"


@pytest.mark.parametrize("fields", [
    {}, {"n": 1.5, "m": -0.0, "big": 10**30, "t": True, "z": None, "s": "张三 😀"},
    {"nested": {"a": [1, 2.5, "x", None]}},
])
def test_storable_fields_pass(fields: dict[str, object]) -> None:
    assert field_problem(fields) is None and fields_fit(fields)


# -- imports: the row is rejected, the rest imported -------------------------------------


def test_nan_and_infinity_in_ndjson_are_row_errors_naming_the_field() -> None:
    data = (b'{"phone":"13400000001","name":"good1"}\n'
            b'{"phone":"13400000002","score":NaN}\n'
            b'{"phone":"13400000003","score":-Infinity}\n'
            b'{"phone":"13400000004","score":1e400}\n'
            b'{"phone":"13400000005","name":"good5"}\n')
    leads, errors, parser = parse(data)
    assert [x.row for x in leads] == [1, 5]
    assert [(e.row, e.field, e.code, e.value) for e in errors] == [
        (2, "score", "not_finite", "NaN"),
        (3, "score", "not_finite", "-Infinity"),
        (4, "score", "not_finite", "Infinity"),
    ]
    assert errors[0].message.startswith("score: must be a finite number")
    assert adds_up(parser)


def test_infinity_in_a_json_array_is_a_row_error() -> None:
    data = (b'[{"phone":"13400000011","name":"good1"},{"phone":"13400000012",'
            b'"score":Infinity},{"phone":"13400000013","name":"good3"}]')
    leads, errors, parser = parse(data)
    assert [x.row for x in leads] == [1, 3]
    assert [(e.row, e.field, e.code) for e in errors] == [(2, "score", "not_finite")]
    assert adds_up(parser)


def test_nul_in_a_csv_cell_is_a_row_error_naming_the_column() -> None:
    data = (b"phone,name,tz,grade\n13912888881,a,,\n1391\x00288888,b,,\n13912888883,bad\x00name,,\n"
            b'13912888884,"quoted\x00",,\n13912888885,x,Asia/\x00,\n13912888886,x,,\x00\n'
            b"13912888887,ok,,\n")
    leads, errors, parser = parse(data)
    assert [x.row for x in leads] == [2, 8]
    assert [(e.row, e.field, e.code) for e in errors] == [
        (3, "phone", "invalid_character"), (4, "name", "invalid_character"),
        (5, "name", "invalid_character"), (6, "timezone", "invalid_character"),
        (7, "grade", "invalid_character"),
    ]
    assert errors[1].value == "bad\u2400name"  # shown, storable
    assert adds_up(parser)


def test_lone_surrogates_in_json_are_row_errors() -> None:
    data = (b'{"phone":"13400000021","note":"\\ud800"}\n'
            b'{"phone":"13400000022","\\udfff":"x"}\n'
            b'{"phone":"13400000023","note":"\\ud83d\\ude00"}\n')  # a pair: one character
    leads, errors, parser = parse(data)
    assert [(x.row, x.fields) for x in leads] == [(3, {"note": "😀"})]
    assert [(e.row, e.code) for e in errors] == [(1, "invalid_character"),
                                                 (2, "invalid_character")]
    assert all(storable_text(t) for e in errors for t in (e.field, e.message, e.value))
    assert adds_up(parser)


def test_json_nested_too_deeply_is_a_row_error() -> None:
    too_deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    beyond_python = "[" * 5000 + "]" * 5000  # json.loads raises RecursionError
    data = (f'{{"phone":"13400000031","x":{too_deep}}}\n'
            f'{{"phone":"13400000032","x":{beyond_python}}}\n'
            '{"phone":"13400000033"}\n').encode()
    leads, errors, parser = parse(data)
    assert [x.row for x in leads] == [3]
    assert [(e.row, e.field, e.code) for e in errors] == [(1, "x", "too_deep"),
                                                          (2, "row", "malformed_json")]
    assert adds_up(parser)


def test_the_report_is_storable_whatever_the_file_holds() -> None:
    """A row error's text comes from the file (a value, a column's name): no NUL reaches
    PostgreSQL, and the field fits its 16-character column."""
    data = (b"phone,a_very_long_column_name_indeed\n"
            b"13912888891,x\x00\n"
            b"not a number\x00,y\n")
    _, errors, _ = parse(data)
    assert [e.code for e in errors] == ["invalid_character", "invalid_character"]
    assert errors[0].field == "a_very_long_col…" and len(errors[0].field) == 16
    assert "a_very_long_column_name_indeed" in errors[0].message
    error = RowError(row=1, field="x\x00", code="c", message="m\x00", value="\ud800")
    assert (error.field, error.message, error.value) == ("x\u2400", "m\u2400", "\ufffd")


def test_a_header_with_a_nul_is_one_file_error() -> None:
    # Detecting the encoding, a first line with a NUL is not text at all.
    leads, errors, _ = parse(b"phone,n\x00\n13912888881,a\n")
    assert leads == [] and [(e.field, e.code) for e in errors] == [("file", "unreadable")]
    # With the encoding given, the first line is read: its bad column is named.
    leads, errors, _ = parse(b"phone,n\x00\n13912888881,a\n",
                             ImportOptions(default_region="CN", encoding="utf-8"))
    assert leads == [] and [(e.field, e.code) for e in errors] == [("file", "unreadable")]
    assert "column 2" in errors[0].message


@pytest.mark.parametrize("data", [
    b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03phone\n13912888881\n",  # gzip
    b"PK\x03\x04\x14\x00\x06\x00\n13912888881\n",  # xlsx (zip)
    "phone\n13912888881\n".encode("utf-16"),  # Excel's "Unicode text"
    "phone\n13912888881\n".encode("utf-16-be"),
])
def test_binary_or_utf16_is_one_file_error(data: bytes) -> None:
    leads, errors, _ = parse(data)
    assert leads == [] and [(e.field, e.code) for e in errors] == [("file", "unreadable")]
    assert "not text" in errors[0].message


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.one_of(
    st.integers(0, 99).map(lambda n: f'"phone":"1391288{n:04d}"'),
    st.sampled_from(['"x":NaN', '"x":Infinity', '"x":-Infinity', '"x":1e999', '"x":"\\u0000"',
                     '"x":"\\ud800"', '"\\u0000":1', '"x":["\\udc00"]', '"x":{"y":NaN}',
                     '"x":1.5', '"x":"ok"', '"phone":NaN', '"tz":"\\u0000"']),
), min_size=1, max_size=4), max_size=25), st.booleans())
def test_whatever_a_json_row_holds_the_output_is_storable(
    rows: list[list[str]], as_array: bool
) -> None:
    objects = ["{" + ",".join(r) + "}" for r in rows]
    data = ("[" + ",".join(objects) + "]" if as_array else "\n".join(objects)).encode()
    leads, errors, parser = parse(data)
    assert all(storable_json(x.fields) for x in leads)
    assert all(storable_text(t) for e in errors for t in (e.field, e.code, e.message, e.value))
    assert all(len(e.field) <= 16 and len(e.code) <= 32 for e in errors)
    assert adds_up(parser) and parser.stats.rows == len(rows)


# -- encodings: GB18030 only when the text reads as Chinese -----------------------------


LATIN1 = "phone,name\n13912345681,José Müller\n13912345682,François\n13912345683,Smith\n"


def test_a_latin1_file_is_not_read_as_gb18030() -> None:
    leads, errors, parser = parse(LATIN1.encode("latin-1"))
    assert [(x.row, x.fields) for x in leads] == [(4, {"name": "Smith"})]
    assert [(e.row, e.code) for e in errors] == [(2, "encoding"), (3, "encoding")]
    assert "?encoding=" in errors[0].message and "charset=" in errors[0].message
    assert parser.stats.encoding is None and adds_up(parser)
    # Given its encoding, every row reads right.
    leads, errors, parser = parse(LATIN1.encode("latin-1"),
                                  ImportOptions(default_region="CN", encoding="latin-1"))
    assert errors == [] and [x.fields["name"] for x in leads] == ["José Müller", "François",
                                                                   "Smith"]


def test_one_latin1_line_that_decodes_as_gb18030_is_not_enough() -> None:
    data = "phone,name\n13912345682,François\n".encode("latin-1")
    leads, errors, _ = parse(data)
    assert leads == [] and [e.code for e in errors] == ["encoding"]


@pytest.mark.parametrize("text", [
    "电话,姓名,等级\n13800138000,张三,H\n0991-5551234,李四,a\n",
    "phone,name\n13800138000,张珺\n",  # a rare character in a name, next to a common one
    "phone,name\n13800138000,珺\n13800138001,王五\n13800138002,赵六\n",
    "phone,name,city\n13800138000,John,上海\n" + "13800138009,x,y\n" * 3000,
])
def test_gbk_still_reads_as_gb18030(text: str) -> None:
    leads, errors, parser = parse(text.encode("gbk"))
    assert errors == [] or all(e.code == "duplicate_in_list" for e in errors)
    assert parser.stats.encoding == "gb18030" and leads
    names = {x.fields.get("姓名") or x.fields.get("name") for x in leads}
    assert names & {"张三", "张珺", "珺", "John"}


@pytest.mark.parametrize(("encoding", "expected"), [("utf-8", "utf-8"),
                                                    ("utf-8-sig", "utf-8-sig")])
def test_utf8_and_bom_are_unchanged(encoding: str, expected: str) -> None:
    leads, errors, parser = parse("phone,name\n13800138000,José 张三\n".encode(encoding))
    assert errors == [] and parser.stats.encoding == expected
    assert leads[0].fields == {"name": "José 张三"}


def test_rows_held_for_the_sample_keep_their_order_and_numbers() -> None:
    lines = ["phone,name"] + [f"1380013{i:04d},{'王' if i % 3 else 'x'}" for i in range(40)]
    data = "\n".join(lines).encode("gbk")
    for size in (1, 7, 100, len(data)):
        parser = LeadParser(CN)
        items = [i for k in range(0, len(data), size) for i in parser.feed(data[k:k + size])]
        items += parser.finish()
        assert [i.row for i in items] == list(range(2, 42))
        assert all(isinstance(i, Lead) for i in items)


@pytest.mark.parametrize(("lines", "plausible"), [
    ([b"13800138000,\xd5\xc5\xc8\xfd"], True),  # 张三
    (["François".encode("latin-1")], False),
    (["Ångström".encode("latin-1")], False),
    (["José Müller".encode("latin-1")], False),  # does not even decode
    ([b"\xff\xfe"], False),
])
def test_plausibly_gb18030(lines: list[bytes], plausible: bool) -> None:
    assert plausibly_gb18030(lines) is plausible


def test_a_json_array_named_utf8_may_start_with_a_bom() -> None:
    data = '\ufeff[{"phone":"13800138000","name":"张三"}]'.encode()
    leads, errors, _ = parse(data, ImportOptions(default_region="CN", encoding="utf-8"))
    assert errors == [] and leads[0].fields == {"name": "张三"}
