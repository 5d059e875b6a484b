"""Voicemail listing and hold-music conversion, each as a ratio to a baseline in the run.

Usage: .venv/bin/python bench/bench_media.py [--messages 4000] [--track-seconds 180]
       [--rounds 5]

- **spool listing**: ``VoicemailSpool.messages()`` (what ``GET /v1/voicemail`` does on each
  request) over ``--messages`` messages in 4 boxes: cold (a new reader: every ``.txt`` and
  WAV header read) and warm (the service's long-lived reader: only stats, its cache
  answers), against a baseline that only lists the message files (``os.scandir``), the
  least any listing from the spool must do.
- **conversion**: ``convert_to_moh`` (pydub + ffmpeg, the upload path) of an MP3 track of
  ``--track-seconds`` seconds, against one ``ffmpeg`` command doing the same conversion
  (the least the conversion can cost).

Medians of ``--rounds`` rounds are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

from cti.telephony.moh import convert_to_moh
from cti.telephony.voicemail import VoicemailSpool

TXT = """;
; Message Information file
;
[message]
origmailbox={box}
context=queue-entry
exten={box}
callerchan=PJSIP/trunk-{n:08x}
callerid="Customer" <06{n:08d}>
origtime={origtime}
msg_id={origtime}-{n:08x}
flag=
duration=1
"""


def make_spool(root: Path, messages: int) -> None:
    frames = b"\x00\x01" * 8000  # 1 s of 8 kHz 16-bit mono
    for n in range(messages):
        box = f"group{n % 4}"
        folder = root / box / ("INBOX" if n % 3 else "Old")
        folder.mkdir(parents=True, exist_ok=True)
        base = folder / f"msg{n // 4:04d}"
        base.with_suffix(".txt").write_text(TXT.format(box=box, n=n, origtime=1_764_000_000 + n))
        with wave.open(str(base.with_suffix(".wav")), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(8000)
            w.writeframes(frames)


def scandir_names(root: Path) -> int:
    count = 0
    for box in os.scandir(root):
        for folder in ("INBOX", "Old"):
            with os.scandir(Path(box.path) / folder) as entries:
                count += sum(1 for e in entries if e.name.endswith(".txt"))
    return count


def timed(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--track-seconds", type=int, default=180)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    results: dict[str, object] = {"rounds": args.rounds}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "groups"
        make_spool(root, args.messages)
        spool = VoicemailSpool(root, "groups")
        assert len(spool.messages()) == args.messages == scandir_names(root)
        baseline = timed(lambda: scandir_names(root), args.rounds)
        cold = timed(lambda: VoicemailSpool(root, "groups").messages(), args.rounds)
        warm = timed(spool.messages, args.rounds)
        results["spool"] = {
            "messages": args.messages,
            "scandir_ms": round(baseline * 1000, 2),
            "cold_listing_ms": round(cold * 1000, 2),
            "cold_ratio": round(cold / baseline, 1),
            "warm_listing_ms": round(warm * 1000, 2),
            "warm_ratio": round(warm / baseline, 1),
        }

        track = Path(tmp) / "track.mp3"
        subprocess.run(
            ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i",
             f"sine=frequency=440:sample_rate=44100:duration={args.track_seconds}",
             "-ac", "2", "-codec:a", "libmp3lame", "-b:a", "128k", str(track)],
            check=True, timeout=300,
        )
        out = Path(tmp) / "out.wav"

        def ffmpeg_only() -> None:
            subprocess.run(
                ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(track),
                 "-ac", "1", "-ar", "8000", "-sample_fmt", "s16", str(out)],
                check=True, timeout=300,
            )

        baseline = timed(ffmpeg_only, args.rounds)
        converting = timed(lambda: convert_to_moh(track, out, max_seconds=3600), args.rounds)
        results["conversion"] = {
            "track_seconds": args.track_seconds,
            "ffmpeg_ms": round(baseline * 1000, 1),
            "convert_to_moh_ms": round(converting * 1000, 1),
            "ratio": round(converting / baseline, 2),
        }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
