"""The backup manifest and the incremental-copy decision, as plain data (no I/O).

A backup directory holds::

    manifest.json        written last: a backup without it (or with an older one) is the
                         previous backup, never a half-written one
    database.dump        pg_dump custom format
    recordings/<path>    the recordings, mirrored from the recordings directory

The manifest names every file with its size, modification time (ns) and SHA-256. The
next backup copies only the recordings whose size or mtime changed since the manifest,
and drops those no longer in the source (the retention sweep deleted them, and their
database rows with them).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from cti.backup.errors import ManifestError

FORMAT = 1
MANIFEST_NAME = "manifest.json"
DUMP_NAME = "database.dump"
RECORDINGS_DIR = "recordings"


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a directory scan tells about one file, before any hashing."""

    size: int
    mtime_ns: int


@dataclass(frozen=True, slots=True)
class FileEntry:
    size: int
    mtime_ns: int
    sha256: str

    @property
    def stat(self) -> FileStat:
        return FileStat(self.size, self.mtime_ns)


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: str  # ISO-8601, UTC
    database: FileEntry
    recordings: Mapping[str, FileEntry] = field(default_factory=dict)

    def to_json(self) -> str:
        def entry(e: FileEntry) -> dict[str, Any]:
            return {"size": e.size, "mtime_ns": e.mtime_ns, "sha256": e.sha256}

        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at,
                "database": {"file": DUMP_NAME, **entry(self.database)},
                "recordings": {k: entry(v) for k, v in sorted(self.recordings.items())},
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("format") != FORMAT:
                raise ManifestError(f"unknown manifest format {data.get('format')!r}")
            recordings = {
                check_relative(name): _entry(value)
                for name, value in dict(data["recordings"]).items()
            }
            return cls(str(data["created_at"]), _entry(data["database"]), recordings)
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"unreadable manifest: {exc}") from exc


def _entry(value: Any) -> FileEntry:
    sha = str(value["sha256"])
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ManifestError(f"not a SHA-256: {sha!r}")
    return FileEntry(int(value["size"]), int(value["mtime_ns"]), sha)


def check_relative(name: str) -> str:
    """A manifest path must stay inside its directory: no absolute paths, no ``..``."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        raise ManifestError(f"unsafe path in manifest: {name!r}")
    return str(path)


@dataclass(frozen=True, slots=True)
class CopyPlan:
    copy: tuple[str, ...]  # new or changed: copy and hash
    keep: tuple[str, ...]  # unchanged since the previous backup: reuse its entry
    remove: tuple[str, ...]  # gone from the source: drop from the backup


def plan_copy(
    previous: Mapping[str, FileEntry],
    current: Mapping[str, FileStat],
    present_in_backup: Mapping[str, int],
) -> CopyPlan:
    """Decide what an incremental backup copies.

    ``previous``: the last manifest's recordings; ``current``: the source scan;
    ``present_in_backup``: size of each file found in the backup directory. A file is kept
    only when size and mtime match the manifest and the backup still holds it whole.
    """
    copy: list[str] = []
    keep: list[str] = []
    for name in sorted(current):
        before = previous.get(name)
        if (
            before is not None
            and before.stat == current[name]
            and present_in_backup.get(name) == before.size
        ):
            keep.append(name)
        else:
            copy.append(name)
    remove = tuple(sorted(set(present_in_backup) - set(current)))
    return CopyPlan(tuple(copy), tuple(keep), remove)
