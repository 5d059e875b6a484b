"""RIFF/WAVE header parsing and the stereo header fix. Pure functions over bytes.

Asterisk's ``format_wav`` writes a canonical 44-byte header (``RIFF``, ``fmt `` of 16
bytes, ``data``); we still walk the chunks, so files from elsewhere parse too. Duration is
measured from the audio: data bytes / byte rate. A data size the header gets wrong (a
crash before Asterisk rewrote it: 0, or larger than the file) is replaced by what the file
holds.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from recordings.errors import InvalidWav

CANONICAL_HEADER_SIZE = 44
PCM = 1
_MAX_HEADER_SCAN = 4096  # fmt and data chunks must start within this many bytes


@dataclass(frozen=True, slots=True)
class WavInfo:
    channels: int
    sample_rate: int
    bits_per_sample: int
    data_offset: int
    data_size: int  # bytes of audio actually present

    @property
    def byte_rate(self) -> int:
        return self.sample_rate * self.channels * self.bits_per_sample // 8

    @property
    def duration(self) -> float:
        """Seconds of audio, from the data size."""
        return self.data_size / self.byte_rate


def parse_header(head: bytes, file_size: int) -> WavInfo:
    """Parse the first bytes of a WAV file (at least up to its ``data`` chunk header).

    ``file_size`` is the whole file's size, used to bound the data chunk.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise InvalidWav("not a RIFF/WAVE file")
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    while pos + 8 <= len(head):
        chunk_id = head[pos : pos + 4]
        (chunk_size,) = struct.unpack_from("<I", head, pos + 4)
        body = pos + 8
        if chunk_id == b"fmt ":
            if chunk_size < 16 or body + 16 > len(head):
                raise InvalidWav("fmt chunk too short")
            audio_format, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", head, body)
            fmt = (audio_format, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                raise InvalidWav("data chunk before fmt chunk")
            audio_format, channels, rate, bits = fmt
            if audio_format != PCM:
                raise InvalidWav(f"audio format {audio_format} is not PCM")
            if channels < 1 or rate < 1 or bits not in (8, 16, 24, 32):
                raise InvalidWav(f"unusable fmt: {channels} channels, {rate} Hz, {bits} bits")
            present = max(0, file_size - body)
            declared = chunk_size
            size = present if declared == 0 or declared > present else declared
            frame = channels * bits // 8
            return WavInfo(channels, rate, bits, body, size - size % frame)
        pos = body + chunk_size + (chunk_size & 1)  # chunks are word-aligned
    raise InvalidWav("no data chunk in the header")


def header_scan_size() -> int:
    return _MAX_HEADER_SCAN


def canonical_header(channels: int, sample_rate: int, bits: int, data_size: int) -> bytes:
    """A 44-byte PCM WAV header."""
    block_align = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data_size)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, PCM, channels, sample_rate, sample_rate * block_align,
                      block_align, bits)
        + b"data"
        + struct.pack("<I", data_size)
    )


def as_interleaved_stereo(info: WavInfo) -> bytes:
    """The header for a file MixMonitor wrote with its ``D`` option.

    ``D`` interleaves the channel's read and write audio sample by sample but keeps the mono
    header (twice the samples at the same rate). Audio bytes stay as they are; only the
    header changes: two channels, the same rate, twice the byte rate.
    """
    if info.channels != 1 or info.data_offset != CANONICAL_HEADER_SIZE:
        raise InvalidWav("only a canonical mono header can be turned into interleaved stereo")
    frame = 2 * info.bits_per_sample // 8
    return canonical_header(2, info.sample_rate, info.bits_per_sample,
                            info.data_size - info.data_size % frame)
