"""The directories shared with Asterisk, and every file operation on recordings.

Layout under ``<spool>/monitor/cti`` (``AsteriskFiles.recordings_dir``)::

    recording/   MixMonitor writes here; never read by the service
    ready/       complete files (the post-process ``mv`` is a rename), not catalogued yet
    store/YYYY/MM/DD/<linkedid>.wav   catalogued: each has a row; served from here

and per policy key a stereo marker ``<etc>/cti/recording-stereo/<key>`` the dialplan tests.
Every function here blocks (file I/O): async callers run them in a thread.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from cti.telephony.files import AsteriskFiles
from recordings import wav
from recordings.errors import InvalidWav

log = logging.getLogger(__name__)

HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class Inspected:
    info: wav.WavInfo
    size: int
    sha256: str


class RecordingDirs:
    def __init__(self, base: Path, stereo_markers: Path) -> None:
        self.base = base
        self.recording = base / "recording"
        self.ready = base / "ready"
        self.store = base / "store"
        self.stereo_markers = stereo_markers

    @classmethod
    def from_files(cls, files: AsteriskFiles) -> RecordingDirs:
        return cls(files.recordings_dir / "cti", files.generated_dir / "recording-stereo")

    def ensure(self) -> None:
        for path in (self.recording, self.ready, self.store, self.stereo_markers):
            path.mkdir(parents=True, exist_ok=True)

    # -- ready files ---------------------------------------------------------------
    def ready_files(self) -> list[Path]:
        try:
            with os.scandir(self.ready) as entries:
                return sorted(Path(e.path) for e in entries if e.is_file())
        except FileNotFoundError:
            return []

    def store_file(self, relative: PurePosixPath | str) -> Path:
        path = self.store / PurePosixPath(relative)
        # Rows hold paths we made; refuse anything that would leave the store anyway.
        if ".." in PurePosixPath(relative).parts or PurePosixPath(relative).is_absolute():
            raise ValueError(f"bad store path {relative!r}")
        return path

    def move_to_store(self, ready_file: Path, relative: PurePosixPath) -> None:
        target = self.store_file(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(ready_file, target)

    def unlink(self, relative: str) -> bool:
        """Delete a stored file; False when it was already gone (a resumed batch)."""
        try:
            os.unlink(self.store_file(relative))
        except FileNotFoundError:
            return False
        return True

    def store_files(self) -> Iterator[str]:
        """Every file in the store, as its relative path (for the orphan report)."""
        for dirpath, _, names in os.walk(self.store):
            rel = PurePosixPath(Path(dirpath).relative_to(self.store).as_posix())
            for name in names:
                yield str(rel / name) if str(rel) != "." else name

    # -- stereo markers -------------------------------------------------------------
    def set_stereo(self, key: str, stereo: bool) -> None:
        marker = self.stereo_markers / key
        if stereo:
            self.stereo_markers.mkdir(parents=True, exist_ok=True)
            marker.touch()
        else:
            with contextlib.suppress(FileNotFoundError):
                marker.unlink()

    def stereo_keys(self) -> set[str]:
        try:
            return {p.name for p in self.stereo_markers.iterdir() if p.is_file()}
        except FileNotFoundError:
            return set()


def inspect(path: Path, *, interleaved: bool) -> Inspected:
    """Read a finished recording once: its header (fixed first for MixMonitor's ``D``
    files, see :func:`recordings.wav.as_interleaved_stereo`), size and SHA-256."""
    with open(path, "r+b" if interleaved else "rb") as f:
        size = os.fstat(f.fileno()).st_size
        info = wav.parse_header(f.read(wav.header_scan_size()), size)
        if interleaved and info.channels == 1:
            # Rewriting 44 bytes in place is safe: the file is not served before it has a
            # row, and a retry sees channels == 2 and leaves it alone.
            header = wav.as_interleaved_stereo(info)
            os.pwrite(f.fileno(), header, 0)
            os.fsync(f.fileno())
            info = wav.parse_header(header, size)
        elif interleaved and info.channels != 2:
            raise InvalidWav(f"a stereo recording with {info.channels} channels")
        f.seek(0)
        digest = hashlib.sha256()
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
    return Inspected(info, size, digest.hexdigest())
