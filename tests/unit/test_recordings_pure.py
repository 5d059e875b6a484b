"""Pure recordings logic: WAV headers, HTTP ranges, retention rules, names."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recordings import naming, retention, wav
from recordings.errors import InvalidWav, RangeError, RetentionTooShort
from recordings.ranges import ByteRange, parse_range

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


# -- WAV -----------------------------------------------------------------------------------


def test_asterisk_mono_header_gives_duration_from_data_size() -> None:
    head = wav.canonical_header(1, 8000, 16, 80_000)
    info = wav.parse_header(head, 44 + 80_000)
    assert (info.channels, info.sample_rate, info.bits_per_sample) == (1, 8000, 16)
    assert info.data_offset == 44 and info.data_size == 80_000
    assert info.duration == 5.0


def test_a_stale_data_size_is_replaced_by_what_the_file_holds() -> None:
    # Asterisk rewrites the sizes when it closes the file; after a crash they say 0.
    assert wav.parse_header(wav.canonical_header(1, 8000, 16, 0), 44 + 16_000).duration == 1.0
    # A declared size past the end of the file is cut to the file.
    assert wav.parse_header(wav.canonical_header(1, 8000, 16, 10**6), 44 + 8_001).data_size \
        == 8_000  # and to whole frames


def test_chunks_before_data_are_skipped() -> None:
    fmt = struct.pack("<IHHIIHH", 16, 1, 1, 8000, 16000, 2, 16)
    head = b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b"fmt " + fmt + b"LIST" + \
        struct.pack("<I", 3) + b"abc\x00" + b"data" + struct.pack("<I", 160)
    info = wav.parse_header(head, len(head) + 160)
    assert info.data_offset == len(head) and info.data_size == 160


@pytest.mark.parametrize("head", [
    b"", b"RIFF\x00\x00\x00\x00WAVX", b"RIFF\x00\x00\x00\x00WAVEdata\x00\x00\x00\x00",
    wav.canonical_header(1, 8000, 16, 0).replace(b"\x01\x00\x01\x00", b"\x31\x00\x01\x00", 1),
])
def test_not_a_pcm_wav_is_refused(head: bytes) -> None:
    with pytest.raises(InvalidWav):
        wav.parse_header(head, 1000)


def test_mixmonitor_interleaved_file_becomes_stereo_at_the_same_length_in_bytes() -> None:
    # MixMonitor D: 5 s of two interleaved channels under a mono header (10 s at 8 kHz).
    mono = wav.parse_header(wav.canonical_header(1, 8000, 16, 160_000), 44 + 160_000)
    assert mono.duration == 10.0
    fixed = wav.as_interleaved_stereo(mono)
    stereo = wav.parse_header(fixed, 44 + 160_000)
    assert len(fixed) == 44
    assert (stereo.channels, stereo.sample_rate, stereo.byte_rate) == (2, 8000, 32_000)
    assert stereo.duration == 5.0


@given(st.integers(1, 2), st.sampled_from([8000, 16000]), st.integers(0, 10**7))
def test_header_round_trip(channels: int, rate: int, frames: int) -> None:
    size = frames * channels * 2
    info = wav.parse_header(wav.canonical_header(channels, rate, 16, size), 44 + size)
    assert info.data_size == size
    assert info.duration == pytest.approx(frames / rate)


# -- ranges ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-99", ByteRange(0, 99)),
    ("bytes=100-", ByteRange(100, 999)),
    ("bytes=-100", ByteRange(900, 999)),
    ("bytes=-5000", ByteRange(0, 999)),
    ("bytes=990-5000", ByteRange(990, 999)),
    ("bytes = 5-5", ByteRange(5, 5)),
    ("Bytes=7-8", ByteRange(7, 8)),
])
def test_satisfiable_ranges(header: str, expected: ByteRange) -> None:
    assert parse_range(header, 1000) == expected


@pytest.mark.parametrize("header", [None, "items=0-10", "bytes=0-0,5-9", "Bytes=0-1, 4-"])
def test_no_range_another_unit_or_several_ranges_mean_the_whole_file(
        header: str | None) -> None:
    # RFC 9110 14.2: an unknown unit MUST be ignored; several ranges MAY be.
    assert parse_range(header, 1000) is None


@pytest.mark.parametrize("header", [
    "bytes=1000-", "bytes=2000-3000", "bytes=-0", "bytes=5-4", "bytes=-", "bytes=abc",
    "0-100", "bytes=" + "9" * 300 + "-",
])
def test_malformed_or_unsatisfiable_byte_ranges_are_refused(header: str) -> None:
    with pytest.raises(RangeError) as raised:
        parse_range(header, 1000)
    assert raised.value.size == 1000


def test_an_empty_file_satisfies_no_range() -> None:
    with pytest.raises(RangeError):
        parse_range("bytes=0-", 0)


@given(st.integers(1, 10**9), st.data())
def test_any_served_range_lies_inside_the_file(size: int, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, size + 10))
    end = data.draw(st.one_of(st.none(), st.integers(0, size + 10)))
    header = f"bytes={start}-{'' if end is None else end}"
    try:
        got = parse_range(header, size)
    except RangeError:
        assert start >= size or (end is not None and end < start)
        return
    assert got is not None
    assert 0 <= got.start <= got.end < size
    assert got.start == start
    assert got.length == (min(end, size - 1) if end is not None else size - 1) - start + 1


# -- retention ---------------------------------------------------------------------------------


def test_retention_floor_is_three_calendar_months() -> None:
    # 1 July + 92 days = 1 October: no three-month span is longer.
    assert datetime(2026, 7, 1) + timedelta(days=retention.RETENTION_FLOOR_DAYS) \
        == datetime(2026, 10, 1)
    assert retention.check_retention(92) == 92
    with pytest.raises(RetentionTooShort):
        retention.check_retention(91)


def test_expiry_uses_the_group_override_else_the_default() -> None:
    overrides = {"sales": 365}
    old = NOW - timedelta(days=100)
    assert retention.is_expired(old, "support", NOW, 92, overrides)
    assert not retention.is_expired(old, "sales", NOW, 92, overrides)
    assert retention.is_expired(old, None, NOW, 92, overrides)
    assert not retention.is_expired(NOW - timedelta(days=91), None, NOW, 92, overrides)


@given(st.integers(92, 5000), st.dictionaries(st.text("abc", min_size=1), st.integers(92, 5000)),
       st.integers(0, 6000), st.sampled_from(["a", "b", "c", None]))
def test_scan_cutoff_never_hides_an_expired_recording(
    default: int, overrides: dict[str, int], age_days: int, key: str | None
) -> None:
    started = NOW - timedelta(days=age_days, seconds=1)
    if retention.is_expired(started, key, NOW, default, overrides):
        assert started < retention.scan_cutoff(NOW, default, overrides)


@pytest.mark.parametrize("key", ["sales", "campaign-42", "support_vip"])
def test_policy_keys(key: str) -> None:
    assert retention.valid_policy_key(key)


@pytest.mark.parametrize("key", ["", "..", "a/b", "x" * 81, "a b", "a\nb"])
def test_bad_policy_keys(key: str) -> None:
    assert not retention.valid_policy_key(key)


# -- names ---------------------------------------------------------------------------------------


def test_ready_names() -> None:
    assert naming.parse_ready_name("1795601481.0.wav") == naming.ReadyName("1795601481.0", False)
    assert naming.parse_ready_name("1795601489.2.stereo.wav") == \
        naming.ReadyName("1795601489.2", True)
    for foreign in ("x.wav", "1.2.mp3", "../1.2.wav", "1.2.wav.tmp", ".1.2.wav"):
        assert naming.parse_ready_name(foreign) is None


def test_store_path_and_download_name() -> None:
    started = datetime(2026, 11, 25, 10, 11, 30, tzinfo=UTC)
    assert str(naming.store_path(started, "1795601481.0")) == "2026/11/25/1795601481.0.wav"
    assert naming.download_name(42, started, "sales", "1001", "+33612345678") == \
        "20261125-101130_sales_1001_+33612345678_42.wav"
    assert naming.download_name(7, started, None, None, 'a"b;c') == "20261125-101130_a-b-c_7.wav"


@pytest.mark.parametrize(("model", "body"), [
    ("HoldIn", {"hold": "yes"}), ("HoldIn", {"hold": 1}),
    ("PolicyIn", {"retention_days": "400"}), ("PolicyIn", {"retention_days": True}),
    ("PolicyIn", {"retention_days": 400, "stereo": "no"}),
])
def test_recordings_inputs_are_strict(model: str, body: dict[str, object]) -> None:
    """A legal hold or a retention is not set by a string that looks like one."""
    from pydantic import ValidationError

    from cti.api import recording_schemas

    with pytest.raises(ValidationError):
        getattr(recording_schemas, model).model_validate(body)
    assert recording_schemas.PolicyIn.model_validate({"retention_days": 400}).stereo is False


def test_a_campaign_key_names_a_campaign_id_a_postgresql_integer_can_hold() -> None:
    assert retention.campaign_of("campaign-12") == 12
    assert retention.campaign_of("campaign-2147483647") == 2**31 - 1
    for key in ("campaign-2147483648", "campaign-012", "campaign-", "campaign-1x", "sales",
                "Campaign-1", "click-to-dial"):
        assert retention.campaign_of(key) is None, key
