"""Recorded prompts (abandon messages): what Asterisk's WAV reader plays is accepted and
written back plain; everything else is refused with a stable reason."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.telephony.prompt_wav import (
    HEADER_ALLOWANCE,
    PromptRejected,
    check_prompt,
    max_upload_bytes,
)
from tests.support.wav import samples_of, tone_wav

MAX = 30


def with_format_tag(data: bytes, tag: int) -> bytes:
    """The same file with another ``fmt`` format tag (1 is PCM)."""
    return data[:20] + struct.pack("<H", tag) + data[22:]


def with_chunk_before_data(data: bytes, chunk_id: bytes, payload: bytes) -> bytes:
    """Insert a chunk (padded to even size, as RIFF wants) between ``fmt`` and ``data``."""
    chunk = chunk_id + struct.pack("<I", len(payload)) + payload + b"\0" * (len(payload) % 2)
    body = data[:36] + chunk + data[36:]
    return body[:4] + struct.pack("<I", len(body) - 8) + body[8:]


@pytest.mark.parametrize(("rate", "extension"), [(8000, "wav"), (16000, "wav16")])
def test_mono_16_bit_at_8_or_16_khz_is_accepted_and_kept_as_recorded(
    rate: int, extension: str
) -> None:
    data = tone_wav(3.0, rate=rate)
    prompt = check_prompt(data, max_seconds=MAX)
    assert (prompt.rate, prompt.frames, prompt.seconds) == (rate, 3 * rate, 3.0)
    assert prompt.extension == extension  # Asterisk reads 16 kHz only from .wav16
    assert samples_of(prompt.wav) == samples_of(data)


def test_extra_chunks_are_dropped_from_what_is_stored() -> None:
    """A recorder's LIST tags (here odd-sized, with its pad byte) trip Asterisk's reader."""
    plain = tone_wav(1.0)
    tagged = with_chunk_before_data(plain, b"LIST", b"INFOISFT\x05\0\0\0Rec\0\0")
    prompt = check_prompt(tagged, max_seconds=MAX)
    assert prompt.wav == plain  # a 44-byte header and the samples, nothing else
    assert b"LIST" not in prompt.wav


def test_a_header_claiming_more_than_the_file_holds_counts_what_is_there() -> None:
    whole = tone_wav(2.0)
    prompt = check_prompt(whole[: 44 + 8000 * 2], max_seconds=MAX)
    assert prompt.frames == 8000 and prompt.wav[40:44] == struct.pack("<I", 16000)


@pytest.mark.parametrize(("data", "reason", "words"), [
    (tone_wav(2.0, channels=2), "not_mono", "2 channels"),
    (tone_wav(2.0, rate=44100), "unsupported_rate", "44100 Hz"),
    (tone_wav(2.0, rate=22050), "unsupported_rate", "22050 Hz"),
    (tone_wav(2.0, width=1), "not_pcm16", "8-bit"),
    (with_format_tag(tone_wav(2.0), 3), "not_wav", "unknown format: 3"),  # float
    (with_format_tag(tone_wav(2.0), 7), "not_wav", "unknown format: 7"),  # mu-law
    (b"", "not_wav", "ends before its header"),
    (b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(500), "not_wav", "RIFF"),  # an MP3
    (b"hello, this is not audio", "not_wav", "PCM WAV"),
    (tone_wav(2.0)[:30], "not_wav", "PCM WAV"),  # cut inside the header
    (tone_wav(0.0), "empty", "no audio"),
    (tone_wav(0.2), "too_short", "0.20 s"),
    (tone_wav(2.0, frequency=0.0), "silent", "silence"),
    (tone_wav(MAX + 0.5), "too_long", f"longer than {MAX} s"),
    (tone_wav(MAX + 0.5, rate=16000), "too_long", f"longer than {MAX} s"),
])
def test_what_asterisk_cannot_play_is_refused_with_its_reason(
    data: bytes, reason: str, words: str
) -> None:
    with pytest.raises(PromptRejected) as refused:
        check_prompt(data, max_seconds=MAX)
    assert refused.value.reason == reason
    assert words in refused.value.message


def test_exactly_the_longest_allowed_is_accepted() -> None:
    assert check_prompt(tone_wav(MAX, rate=16000), max_seconds=MAX).seconds == MAX


def test_the_body_cap_holds_the_longest_recording_at_the_highest_rate() -> None:
    longest = tone_wav(MAX, rate=16000)
    assert len(longest) <= max_upload_bytes(MAX) == MAX * 16000 * 2 + HEADER_ALLOWANCE


@settings(max_examples=300)
@given(st.binary(max_size=200) | st.builds(
    lambda cut, junk: tone_wav(0.6)[:cut] + junk,
    st.integers(min_value=0, max_value=9700), st.binary(max_size=64)))
def test_any_bytes_are_a_prompt_or_refused_never_an_error(data: bytes) -> None:
    try:
        prompt = check_prompt(data, max_seconds=MAX)
    except PromptRejected as refused:
        assert refused.reason in {"not_wav", "not_pcm16", "not_mono", "unsupported_rate",
                                  "empty", "too_short", "silent", "too_long"}
    else:
        assert samples_of(prompt.wav)[:3] == (1, 2, prompt.rate)
