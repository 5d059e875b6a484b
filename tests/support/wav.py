"""WAV files made with the stdlib, for upload tests: tones of a given length and shape."""

from __future__ import annotations

import io
import math
import wave
from array import array


def tone_wav(seconds: float, *, rate: int = 8000, channels: int = 1, width: int = 2,
             frequency: float = 440.0) -> bytes:
    """A sine tone as a WAV file (16-bit unless ``width`` says otherwise)."""
    frames = round(seconds * rate)
    if width == 2:
        one = array("h", (round(8000 * math.sin(2 * math.pi * frequency * n / rate))
                          for n in range(frames)))
        mono = one.tobytes()
    else:  # unsigned 8-bit
        mono = bytes(128 + round(60 * math.sin(2 * math.pi * frequency * n / rate))
                     for n in range(frames))
    data = b"".join(mono[i:i + width] * channels for i in range(0, len(mono), width))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(data)
    return out.getvalue()


def samples_of(data: bytes) -> tuple[int, int, int, bytes]:
    """(channels, sample width, rate, the samples) of a WAV file."""
    with wave.open(io.BytesIO(data), "rb") as w:
        return (w.getnchannels(), w.getsampwidth(), w.getframerate(),
                w.readframes(w.getnframes()))
