"""``cti backup`` and ``cti restore``: files and programs, around the pure manifest logic.

Order matters for consistency: the database is dumped first, then the recordings are
copied. Every recording the dump refers to was finished before the dump began, so it is in
the copy; a recording finished during the copy may be there without its row, which is
harmless (the next backup has both).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cti.backup import pgtools
from cti.backup.errors import DatabaseNotEmpty, ManifestError
from cti.backup.manifest import (
    DUMP_NAME,
    MANIFEST_NAME,
    RECORDINGS_DIR,
    FileEntry,
    FileStat,
    Manifest,
    plan_copy,
)

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class BackupReport:
    copied: int
    unchanged: int
    removed: int
    bytes_copied: int
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class RestoreReport:
    recordings: int
    bytes_restored: int


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def scan(root: Path) -> dict[str, FileStat]:
    """Regular files under ``root`` (relative POSIX paths); temporary dot-files skipped."""
    found: dict[str, FileStat] = {}
    if not root.is_dir():
        return found
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink() or path.name.startswith("."):
            continue
        st = path.stat()
        found[path.relative_to(root).as_posix()] = FileStat(st.st_size, st.st_mtime_ns)
    return found


def _copy_file(src: Path, dst: Path, mtime_ns: int | None = None) -> str:
    """Copy through a temporary file renamed over ``dst``; returns the copy's SHA-256."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            while chunk := inp.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if mtime_ns is not None:
            os.utime(tmp, ns=(mtime_ns, mtime_ns))
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return digest.hexdigest()


def read_manifest(directory: Path) -> Manifest | None:
    path = directory / MANIFEST_NAME
    try:
        return Manifest.from_json(path.read_text())
    except FileNotFoundError:
        return None


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".manifest.", dir=directory)
    with os.fdopen(fd, "w") as out:
        out.write(manifest.to_json())
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, directory / MANIFEST_NAME)


def backup(database_url: str, recordings_dir: Path, target: Path) -> BackupReport:
    target.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(target)
    db = pgtools.Target.from_url(database_url)

    # 1. The database: into a temporary name, renamed only once complete.
    dump_tmp = target / f".{DUMP_NAME}.partial"
    pgtools.dump(db, dump_tmp)
    st = dump_tmp.stat()
    database = FileEntry(st.st_size, st.st_mtime_ns, sha256_of(dump_tmp))

    # 2. The recordings, incrementally.
    synced = sync_recordings(recordings_dir, target / RECORDINGS_DIR,
                             previous.recordings if previous else {})

    # 3. Commit: the dump takes its final name, then the manifest that describes it.
    os.replace(dump_tmp, target / DUMP_NAME)
    manifest = Manifest(datetime.now(UTC).isoformat(), database, synced.entries)
    _write_manifest(target, manifest)
    log.info(
        "backup in %s: database %d bytes; recordings %d copied (%d bytes), %d unchanged, "
        "%d removed",
        target, database.size, synced.copied, synced.bytes_copied, synced.unchanged,
        synced.removed,
    )
    return BackupReport(synced.copied, synced.unchanged, synced.removed, synced.bytes_copied,
                        manifest)


@dataclass(frozen=True, slots=True)
class Synced:
    entries: dict[str, FileEntry]
    copied: int
    unchanged: int
    removed: int
    bytes_copied: int


def sync_recordings(source_dir: Path, backup_dir: Path,
                    previous: Mapping[str, FileEntry]) -> Synced:
    """Mirror ``source_dir`` into ``backup_dir``: copy (and hash) only what changed since
    ``previous`` (the last manifest's entries), drop what the source no longer has."""
    source = scan(source_dir)
    present = {name: s.size for name, s in scan(backup_dir).items()}
    plan = plan_copy(previous, source, present)
    entries = {name: previous[name] for name in plan.keep}
    copied_bytes = 0
    for name in plan.copy:
        try:
            sha = _copy_file(source_dir / name, backup_dir / name, source[name].mtime_ns)
        except FileNotFoundError:  # deleted by the retention sweep while we copied
            log.info("recording %s vanished during the backup; skipped", name)
            continue
        entries[name] = FileEntry(source[name].size, source[name].mtime_ns, sha)
        copied_bytes += source[name].size
    for name in plan.remove:
        with contextlib.suppress(FileNotFoundError):
            (backup_dir / name).unlink()
    return Synced(entries, len(entries) - len(plan.keep), len(plan.keep), len(plan.remove),
                  copied_bytes)


def verify(source: Path) -> Manifest:
    """Check every file of a backup against its manifest; nothing is changed."""
    manifest = read_manifest(source)
    if manifest is None:
        raise ManifestError(f"{source} holds no {MANIFEST_NAME}: not a backup")
    problems: list[str] = []

    def check(path: Path, entry: FileEntry, label: str) -> None:
        if not path.is_file():
            problems.append(f"{label}: missing")
        elif path.stat().st_size != entry.size or sha256_of(path) != entry.sha256:
            problems.append(f"{label}: content does not match the manifest")

    check(source / DUMP_NAME, manifest.database, DUMP_NAME)
    for name, entry in manifest.recordings.items():
        check(source / RECORDINGS_DIR / name, entry, f"{RECORDINGS_DIR}/{name}")
    if problems:
        raise ManifestError("backup damaged: " + "; ".join(problems[:20]))
    return manifest


def restore(
    database_url: str, recordings_dir: Path, source: Path, *, clean: bool = False
) -> RestoreReport:
    """Verify, then restore the database and the recordings.

    Without ``clean`` the database must have no tables yet (a fresh ``createdb``): a
    restore never mixes a backup into live data by accident.
    """
    manifest = verify(source)
    db = pgtools.Target.from_url(database_url)
    if not clean:
        tables = pgtools.table_count(db)
        if tables:
            raise DatabaseNotEmpty(
                f"database {db.database!r} already has {tables} tables: restore into an "
                "empty database, or pass --clean to replace its contents"
            )
    pgtools.restore(db, source / DUMP_NAME, clean=clean)
    restored = 0
    for name, entry in sorted(manifest.recordings.items()):
        sha = _copy_file(source / RECORDINGS_DIR / name, recordings_dir / name, entry.mtime_ns)
        if sha != entry.sha256:  # the backup changed under us between verify and copy
            raise ManifestError(f"{RECORDINGS_DIR}/{name} changed during the restore")
        restored += entry.size
    log.info("restored %s: database and %d recordings (%d bytes)",
             source, len(manifest.recordings), restored)
    return RestoreReport(len(manifest.recordings), restored)
