"""Hold-music classes: names, uploaded audio checks and conversion, ``musiconhold.conf``.

Asterisk's WAV reader plays only mono 16-bit PCM at 8 (or 16) kHz, so every upload is
converted (pydub, which shells out to ffmpeg for MP3 and OGG) to mono 16-bit 8 kHz WAV.
The converted file is staged beside the class directories and renamed into place, so a
failed or partial upload never leaves a half-written file where Asterisk looks.

A class is written into ``musiconhold.conf`` only once it has a file: res_musiconhold
refuses a ``mode=files`` class whose directory is empty.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

# Lower-case identifiers: they become a configuration section and a directory name.
CLASS_PATTERN = r"^[a-z][a-z0-9_-]{0,39}$"
FILE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}\.wav$"
_CLASS = re.compile(CLASS_PATTERN)
_FILE = re.compile(FILE_PATTERN)
# Names res_musiconhold or the shipped musiconhold.conf already use.
RESERVED_CLASSES = frozenset({"default", "general"})
STAGING_DIR = ".staging"

TARGET_RATE = 8000
TARGET_CHANNELS = 1
TARGET_SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
MIN_SECONDS = 0.5


class MohError(Exception):
    """Base of hold-music errors.

    MohError
     +-- NotAudio            the upload is none of WAV, MP3, OGG (by its content)
     +-- UndecodableAudio    it looks like one but cannot be decoded
     +-- AudioTooLong        it decodes to more than the configured maximum
     +-- AudioTooShort       it decodes to (almost) nothing
    """


class NotAudio(MohError):
    pass


class UndecodableAudio(MohError):
    pass


class AudioTooLong(MohError):
    pass


class AudioTooShort(MohError):
    pass


def is_class_name(name: str) -> bool:
    return _CLASS.match(name) is not None and name not in RESERVED_CLASSES


def is_file_name(name: str) -> bool:
    return _FILE.match(name) is not None


def file_name_for(upload_name: str | None, fallback: str) -> str:
    """A safe ``.wav`` name derived from the uploaded file's name: ``"Summer Song.mp3"`` ->
    ``"summer-song.wav"``; ``fallback`` (already safe) when nothing usable remains."""
    stem = PurePosixPath((upload_name or "").replace("\\", "/")).name
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_stem.lower()).strip("-_")[:64].rstrip("-_")
    name = f"{slug}.wav"
    return name if is_file_name(name) else fallback


def sniff_format(head: bytes) -> str:
    """The container of an upload from its first bytes: ``wav``, ``mp3`` or ``ogg``.

    The declared content type and file name are not trusted; raises ``NotAudio``.
    """
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:3] == b"ID3":
        return "mp3"
    # A bare MPEG audio frame: 11 sync bits, MPEG version not reserved, layer III.
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        version = (head[1] >> 3) & 0x03
        layer = (head[1] >> 1) & 0x03
        if version != 0x01 and layer == 0x01:
            return "mp3"
    raise NotAudio("the upload is not WAV, MP3 or OGG audio")


@dataclass(frozen=True, slots=True)
class Converted:
    source_format: str
    duration: float  # seconds
    source_rate: int
    source_channels: int


def convert_to_moh(source: Path, target: Path, *, max_seconds: float) -> Converted:
    """Decode ``source`` (sniffed) and write it to ``target`` as mono 16-bit 8 kHz PCM WAV.

    Blocking (pydub and ffmpeg): run it in a thread. ``target`` is written in place; the
    caller stages it and renames it into the class directory.
    """
    # pydub is imported here, not at module level: it is only needed while converting,
    # and importing it warns (audioop is deprecated) and probes for ffmpeg.
    from pydub import AudioSegment
    from pydub.exceptions import CouldntDecodeError

    with source.open("rb") as f:
        fmt = sniff_format(f.read(64))
        f.seek(0)
        try:
            # A file object we close ourselves: given a path, pydub leaves it open.
            audio = AudioSegment.from_file(f, format=fmt)
        except (CouldntDecodeError, IndexError, ValueError, OSError) as exc:
            # pydub raises CouldntDecodeError for ffmpeg failures; its own WAV reader
            # raises IndexError/ValueError on truncated headers.
            raise UndecodableAudio(f"the {fmt.upper()} upload could not be decoded") from exc
    seconds = len(audio) / 1000.0
    if seconds > max_seconds:
        raise AudioTooLong(f"the audio lasts {seconds:.0f} s, more than {max_seconds:.0f} s")
    if seconds < MIN_SECONDS:
        raise AudioTooShort(f"the audio lasts {seconds:.2f} s, less than {MIN_SECONDS} s")
    out = (
        audio.set_channels(TARGET_CHANNELS)
        .set_frame_rate(TARGET_RATE)
        .set_sample_width(TARGET_SAMPLE_WIDTH)
    )
    with target.open("wb") as f:
        out.export(f, format="wav")
    return Converted(fmt, seconds, audio.frame_rate, audio.channels)


class MohDirectory:
    """The class directories under the hold-music root, as the service reaches them."""

    def __init__(self, host_root: Path) -> None:
        self.root = host_root

    def class_dir(self, name: str) -> Path:
        if not is_class_name(name):
            raise ValueError(f"{name!r} is not a hold-music class name")
        return self.root / name

    def staging(self) -> Path:
        path = self.root / STAGING_DIR
        path.mkdir(parents=True, exist_ok=True)
        return path

    def new_staged_file(self) -> Path:
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".wav", dir=self.staging())
        os.close(fd)
        return Path(name)

    def install(self, staged: Path, class_name: str, file_name: str) -> Path:
        """fsync the staged file and rename it into the class directory (atomic)."""
        if not is_file_name(file_name):
            raise ValueError(f"{file_name!r} is not a hold-music file name")
        target_dir = self.class_dir(class_name)
        target_dir.mkdir(parents=True, exist_ok=True)
        with staged.open("rb") as f:
            os.fsync(f.fileno())
        os.chmod(staged, 0o644)
        target = target_dir / file_name
        os.replace(staged, target)
        return target

    def withdraw_file(self, class_name: str, file_name: str) -> Path | None:
        """Move a file out of its class directory (atomic), so the next reload no longer
        finds it; the caller deletes what is returned once Asterisk has reloaded."""
        if not is_file_name(file_name):
            raise ValueError(f"{file_name!r} is not a hold-music file name")
        withdrawn = self.staging() / f"withdrawn-{class_name}-{file_name}"
        try:
            os.replace(self.class_dir(class_name) / file_name, withdrawn)
        except FileNotFoundError:
            return None
        return withdrawn

    def remove_class(self, class_name: str) -> None:
        directory = self.class_dir(class_name)
        if not directory.is_dir():
            return
        for child in directory.iterdir():
            if child.is_file():
                child.unlink()
        with contextlib.suppress(OSError):  # something we did not put there stays
            directory.rmdir()


@dataclass(frozen=True, slots=True)
class MohClassConf:
    name: str
    file_count: int


def render_musiconhold(classes: Iterable[MohClassConf], moh_root: PurePosixPath) -> str:
    """``cti/musiconhold.conf``: one ``mode=files`` class per class that has files."""
    if re.search(r"[\r\n\0;\[\]]", str(moh_root)):
        raise ValueError(f"hold-music directory {str(moh_root)!r} is not usable in a .conf")
    lines = ["; Written by the CTI service from PostgreSQL (music-on-hold classes); do not edit."]
    for c in sorted(classes, key=lambda c: c.name):
        if not is_class_name(c.name):
            raise ValueError(f"{c.name!r} is not a hold-music class name")
        if c.file_count <= 0:
            continue  # res_musiconhold refuses an empty mode=files class
        lines += ["", f"[{c.name}]", "mode = files", f"directory = {moh_root / c.name}",
                  "sort = alpha"]
    return "\n".join(lines) + "\n"
