"""The backup manifest and the incremental-copy decisions, as plain data (no I/O).

A generation (one backup run) is a directory holding::

    manifest.json            written last: a generation without it is not one
    database.dump            pg_dump custom format
    recordings/<path>        <spool>/monitor (finished recordings)
    voicemail/<path>         <spool>/voicemail (messages and greetings)
    moh/<path>               uploaded hold music
    sounds/<path>            uploaded prompts (IVR greetings, campaigns' abandon messages)

The manifest names every file by ``<set>/<path>`` with its size, modification time (ns),
SHA-256 and the source's permission bits (what a restore gives back). The next
generation links (shares) the files whose size and mtime did not change since the
manifest, copies the others, and leaves out those no longer in the source (the retention
sweep deleted them, and their rows with them; the older generations still have them).

Format 1 (one backup directory, ``recordings`` only, no modes) is still read: its
recordings become ``recordings/<path>``.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from cti.backup.errors import ManifestError, SourceRefused

FORMAT = 2
MANIFEST_NAME = "manifest.json"
DUMP_NAME = "database.dump"
#: The file sets, each a directory of the generation named after it.
SETS = ("recordings", "voicemail", "moh", "sounds")
RECORDINGS = "recordings"


@dataclass(frozen=True, slots=True)
class FileStat:
    """What a directory scan tells about one file, before any hashing."""

    size: int
    mtime_ns: int
    mode: int = 0o600


@dataclass(frozen=True, slots=True)
class FileEntry:
    size: int
    mtime_ns: int
    sha256: str
    mode: int | None = None  # the source's permission bits; None in format 1

    def same_file(self, found: FileStat) -> bool:
        """The file the scan found is the one this entry describes (unchanged since)."""
        return (self.size, self.mtime_ns) == (found.size, found.mtime_ns)


@dataclass(frozen=True, slots=True)
class Manifest:
    created_at: str  # ISO-8601, UTC
    database: FileEntry
    files: Mapping[str, FileEntry] = field(default_factory=dict)  # "<set>/<path>"

    def count(self, file_set: str) -> int:
        prefix = f"{file_set}/"
        return sum(1 for key in self.files if key.startswith(prefix))

    def to_json(self) -> str:
        def entry(e: FileEntry) -> dict[str, Any]:
            out: dict[str, Any] = {"size": e.size, "mtime_ns": e.mtime_ns, "sha256": e.sha256}
            if e.mode is not None:
                out["mode"] = e.mode
            return out

        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at,
                "database": {"file": DUMP_NAME, **entry(self.database)},
                "files": {k: entry(v) for k, v in sorted(self.files.items())},
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        try:
            data = json.loads(text)
            version = data.get("format")
            if version == 1:
                files = {check_key(f"{RECORDINGS}/{check_relative(name)}"): _entry(value)
                         for name, value in dict(data["recordings"]).items()}
            elif version == FORMAT:
                files = {check_key(name): _entry(value)
                         for name, value in dict(data["files"]).items()}
            else:
                raise ManifestError(f"unknown manifest format {version!r}")
            return cls(str(data["created_at"]), _entry(data["database"]), files)
        except ManifestError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ManifestError(f"unreadable manifest: {exc}") from exc


def _entry(value: Any) -> FileEntry:
    sha = str(value["sha256"])
    if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
        raise ManifestError(f"not a SHA-256: {sha!r}")
    mode = value.get("mode")
    if mode is not None and (type(mode) is not int or not 0 <= mode <= 0o7777):
        raise ManifestError(f"not a file mode: {mode!r}")
    return FileEntry(int(value["size"]), int(value["mtime_ns"]), sha, mode)


def check_relative(name: str) -> str:
    """A manifest path must stay inside its directory: no absolute paths, no ``..``."""
    path = PurePosixPath(name)
    if not name or path.is_absolute() or ".." in path.parts or "\\" in name or "\0" in name:
        raise ManifestError(f"unsafe path in manifest: {name!r}")
    return str(path)


def check_key(key: str) -> str:
    """``<set>/<path>``: a known set, and a path that stays inside it."""
    key = check_relative(key)
    parts = PurePosixPath(key).parts
    if len(parts) < 2 or parts[0] not in SETS:
        raise ManifestError(f"not a file of {', '.join(SETS)}: {key!r}")
    return key


def split_key(key: str) -> tuple[str, str]:
    file_set, _, path = key.partition("/")
    return file_set, path


# -- what a run does with each file ------------------------------------------------------

@dataclass(frozen=True, slots=True)
class CopyPlan:
    link: tuple[str, ...]  # unchanged since the previous generation: share its copy
    copy: tuple[str, ...]  # new or changed: copy and hash
    deferred: tuple[str, ...]  # written moments ago, maybe still being written: next run
    dropped: tuple[str, ...]  # in the previous generation, gone from the source


def plan_copy(
    previous: Mapping[str, FileEntry],
    current: Mapping[str, FileStat],
    *,
    now_ns: int,
    settle_ns: int,
    whole: Collection[str] = (),
) -> CopyPlan:
    """Decide what a new generation takes from each file the scan found.

    ``previous``: the last generation's files; ``current``: the source scan (same keys).
    A file modified less than ``settle_ns`` before ``now_ns`` may still be being written
    (a message, a recording outside the catalogue): it is left for the next run rather
    than copied half-written, unless it is in ``whole`` (known finished: catalogued).
    """
    link: list[str] = []
    copy: list[str] = []
    deferred: list[str] = []
    for key in sorted(current):
        found = current[key]
        before = previous.get(key)
        if before is not None and before.same_file(found):
            link.append(key)
        elif found.mtime_ns > now_ns - settle_ns and key not in whole:
            deferred.append(key)
        else:
            copy.append(key)
    dropped = tuple(sorted(set(previous) - set(current)))
    return CopyPlan(tuple(link), tuple(copy), tuple(deferred), dropped)


@dataclass(frozen=True, slots=True)
class SourceState:
    """One directory to back up, as found."""

    name: str  # the set
    directory: str  # for messages
    exists: bool
    files: int
    required: bool  # it must exist even when no backup has its files yet


def check_sources(sources: Sequence[SourceState], previous: Manifest | None, *,
                  allow_empty: bool = False) -> None:
    """Refuse a run that would drop a whole set of files from the backup because their
    directory is missing (an unmounted volume, a wrong path) or suddenly empty.

    A missing directory is refused when it is ``required`` or the previous generation
    holds files from it; an empty one when the previous generation holds files from it,
    unless ``allow_empty`` (they really were all deleted).
    """
    problems: list[str] = []
    for source in sources:
        had = previous.count(source.name) if previous is not None else 0
        if not source.exists and (source.required or had):
            problems.append(
                f"the {source.name} directory {source.directory} does not exist (not "
                f"mounted, or a wrong path?)" + (f"; the last backup holds {had} of its "
                                                 "files" if had else ""))
        elif source.exists and not source.files and had and not allow_empty:
            problems.append(
                f"the {source.name} directory {source.directory} holds no files, the last "
                f"backup {had} (an empty mount point?); pass --allow-empty if they were "
                "really all deleted")
    if problems:
        raise SourceRefused("refusing to back up: " + "; ".join(problems))
