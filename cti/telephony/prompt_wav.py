"""Recorded prompts (a campaign's abandon message), checked with the stdlib ``wave`` module.

Asterisk's WAV reader (``format_wav``) plays 16-bit mono PCM only: at 8 kHz from a
``.wav`` file and at 16 kHz from a ``.wav16`` file. A 16 kHz ``.wav`` is refused when the
call reaches Playback, and the customer hears nothing, which is what the regulators'
information message must never be. So uploads are checked, not converted: anything else
is refused with its reason, and the call centre exports its recording again rather than
the service guessing at it.

A good upload is written back out as a plain WAV (44-byte header, then the samples):
extra chunks (``LIST`` tags, odd-sized chunks with a pad byte) that Asterisk's reader
trips over are dropped, and the header always says how many samples there are.

Pure: bytes in, a :class:`Prompt` or :class:`PromptRejected` out.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

#: The file extension Asterisk reads each accepted sample rate from.
EXTENSIONS: dict[int, str] = {8000: "wav", 16000: "wav16"}
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
MIN_SECONDS = 0.5  # shorter cannot name a seller and a number: a slip, not a message
#: Room for a recorder's extra header chunks (tags, cue points) around the samples.
HEADER_ALLOWANCE = 64 * 1024


class PromptRejected(ValueError):
    """The upload is not a prompt Asterisk can play; ``reason`` is a stable code:
    ``not_wav``, ``not_pcm16``, ``not_mono``, ``unsupported_rate``, ``empty``,
    ``too_short``, ``silent``, ``too_long``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True, slots=True)
class Prompt:
    rate: int
    frames: int
    wav: bytes  # the plain WAV to store

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    @property
    def extension(self) -> str:
        return EXTENSIONS[self.rate]


def max_upload_bytes(max_seconds: int) -> int:
    """The largest body worth reading: ``max_seconds`` at the highest rate, and headers."""
    return max_seconds * max(EXTENSIONS) * SAMPLE_WIDTH + HEADER_ALLOWANCE


def check_prompt(data: bytes, *, max_seconds: float) -> Prompt:
    """``data`` (a WAV file) as a prompt Asterisk plays; raises :class:`PromptRejected`."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
            # One frame past the limit is enough to know; the header's count may lie.
            limit = int(max_seconds * rate)
            samples = w.readframes(limit + 1)
    except (wave.Error, EOFError, RuntimeError) as exc:
        # wave refuses compressed, float and extensible WAVs as an "unknown format", and
        # a chunk whose size points past the file with a bare RuntimeError.
        why = str(exc) or "it ends before its header does"
        raise PromptRejected(
            "not_wav", f"not a PCM WAV file ({why}): send 16-bit mono PCM WAV") from exc
    if width != SAMPLE_WIDTH:
        raise PromptRejected("not_pcm16", f"the samples are {8 * width}-bit: record 16-bit PCM")
    if channels != 1:
        raise PromptRejected("not_mono", f"the audio has {channels} channels: record mono")
    if rate not in EXTENSIONS:
        raise PromptRejected(
            "unsupported_rate", f"the sample rate is {rate} Hz: record at 8000 or 16000 Hz")
    frames = len(samples) // SAMPLE_WIDTH
    samples = samples[: frames * SAMPLE_WIDTH]
    if frames == 0:
        raise PromptRejected("empty", "the recording holds no audio")
    if frames > limit:
        raise PromptRejected("too_long", f"the recording is longer than {max_seconds:g} s")
    if frames < MIN_SECONDS * rate:
        raise PromptRejected(
            "too_short", f"the recording lasts {frames / rate:.2f} s, less than "
            f"{MIN_SECONDS} s")
    if not samples.strip(b"\x00"):
        raise PromptRejected("silent", "the recording is silence")
    return Prompt(rate=rate, frames=frames, wav=_plain_wav(samples, rate))


def _plain_wav(samples: bytes, rate: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(SAMPLE_WIDTH)
        w.setframerate(rate)
        w.writeframes(samples)
    return out.getvalue()
