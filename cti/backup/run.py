"""``cti backup`` and ``cti restore`` (and the scheduled backup): files and programs,
around the pure decisions of ``manifest`` and ``generations``.

A backup run, holding the backup directory's lock from start to end:

1. in a new private ``.partial-*`` directory, dump the database;
2. scan the sources, and refuse a run that would drop a whole set of files because its
   directory is missing or emptied (``manifest.check_sources``); take each file (linked
   from the previous generation when unchanged, else copied and hashed); write the
   manifest;
3. rename it to its dated name (now it is complete), then remove the generations beyond
   ``keep``. Anything failing before that removes the partial directory, and a target
   directory this run created.

The database is dumped before the files are taken. Every file the dump refers to was
catalogued (and finished) before the dump began, so it is in the copy; a file finished
during the copy may be there without its row, which is harmless (the next backup has
both).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cti.backup import generations, pgtools, store
from cti.backup.copying import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    check_cancel,
    copy_file,
    link_file,
    makedirs,
    scan,
    sha256_of,
)
from cti.backup.errors import BackupBusy, DatabaseNotEmpty, ManifestError
from cti.backup.manifest import (
    DUMP_NAME,
    MANIFEST_NAME,
    FileEntry,
    FileStat,
    Manifest,
    SourceState,
    check_sources,
    plan_copy,
    split_key,
)
from cti.backup.sources import Source

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackupReport:
    generation: str
    path: Path
    copied: int  # new or changed files copied
    linked: int  # unchanged files shared with the previous generation
    dropped: int  # in the previous generation, no longer in the sources
    deferred: int  # still being written: left for the next run
    bytes_copied: int
    pruned: tuple[str, ...]  # old generations removed
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class RestoreReport:
    generation: Path
    files: int
    bytes_restored: int


def backup(database_url: str, sources: Sequence[Source], target: Path, *, keep: int,
           settle_seconds: float = 10.0, allow_empty: bool = False,
           cancel: threading.Event | None = None) -> BackupReport:
    """Make a new generation in ``target`` (see the module's docstring)."""
    db = pgtools.Target.from_url(database_url)
    created = not target.exists()
    makedirs(target, PRIVATE_DIR)
    try:
        with store.locked(target):
            store.clear_leftovers(target)
            return _backup_locked(db, sources, target, keep=keep,
                                  settle_ns=int(settle_seconds * 1e9),
                                  allow_empty=allow_empty, cancel=cancel)
    except BaseException as exc:
        # Leave no trace of a run that made nothing (but a busy directory is another's).
        if created and not isinstance(exc, BackupBusy):
            with contextlib.suppress(OSError):
                os.unlink(target / store.LOCK_NAME)
                target.rmdir()
        raise


def _backup_locked(db: pgtools.Target, sources: Sequence[Source], target: Path, *,
                   keep: int, settle_ns: int, allow_empty: bool,
                   cancel: threading.Event | None) -> BackupReport:
    started = datetime.now(UTC)
    previous = store.newest(target)
    prev_dir, prev_manifest = previous if previous is not None else (None, None)
    partial = store.new_partial(target)
    try:
        dump = partial / DUMP_NAME
        os.close(os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE))
        pgtools.dump(db, dump, cancel)  # into the private file (it would follow the umask)
        os.chmod(dump, PRIVATE_FILE)
        st = dump.stat()
        database = FileEntry(st.st_size, st.st_mtime_ns, sha256_of(dump))

        # The files, scanned after the dump: every one it has a row for is there.
        current: dict[str, FileStat] = {}
        whole: set[str] = set()
        states: list[SourceState] = []
        for source in sources:
            found = scan(source)
            states.append(SourceState(source.name, str(source.path), found is not None,
                                      len(found or {}), source.required))
            for rel, s in (found or {}).items():
                current[f"{source.name}/{rel}"] = s
                if source.is_whole(rel):
                    whole.add(f"{source.name}/{rel}")
        check_sources(states, prev_manifest, allow_empty=allow_empty)
        plan = plan_copy(prev_manifest.files if prev_manifest else {}, current,
                         now_ns=time.time_ns(), settle_ns=settle_ns, whole=whole)
        paths = {s.name: s.path for s in sources}

        entries: dict[str, FileEntry] = {}
        linked = copied = bytes_copied = 0
        deferred = len(plan.deferred)
        to_copy = list(plan.copy)

        def keep_previous(key: str) -> bool:
            """A file left for the next run keeps the version the last generation has
            (else the newest generation, which a restore takes, would have none: a
            campaign's information message re-uploaded just before the run, say)."""
            entry = prev_manifest.files.get(key) if prev_manifest is not None else None
            if entry is None or prev_dir is None:
                return False
            if not link_file(prev_dir / key, partial / key, entry.size):
                return False
            entries[key] = entry
            log.info("%s is being written: the last generation's version is kept", key)
            return True

        for key in plan.link:
            check_cancel(cancel)
            assert prev_dir is not None and prev_manifest is not None
            entry = prev_manifest.files[key]
            if link_file(prev_dir / key, partial / key, entry.size):
                entries[key] = entry
                linked += 1
            else:
                to_copy.append(key)
        for key in plan.deferred:
            check_cancel(cancel)
            keep_previous(key)
        for key in to_copy:
            file_set, rel = split_key(key)
            try:
                done = copy_file(paths[file_set] / rel, partial / key,
                                 dir_mode=PRIVATE_DIR, cancel=cancel)
            except FileNotFoundError:  # deleted by the retention sweep while we copied
                log.info("%s vanished during the backup; skipped", key)
                continue
            if done.changed:
                log.info("%s changed while it was copied: left for the next run", key)
                deferred += 1
                (partial / key).unlink(missing_ok=True)
                keep_previous(key)
                continue
            entries[key] = done.entry
            copied += 1
            bytes_copied += done.entry.size
        manifest = Manifest(started.isoformat(), database, entries)
        _write_manifest(partial, manifest)
        check_cancel(cancel)
        name = generations.name_for(started, set(os.listdir(target)))
        final = store.publish(partial, target, name)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    pruned = tuple(store.prune(target, keep))
    log.info(
        "backup generation %s in %s: database %d bytes; files %d copied (%d bytes), %d "
        "unchanged, %d dropped, %d left for the next run; %d old generations removed",
        name, target, database.size, copied, bytes_copied, linked, len(plan.dropped),
        deferred, len(pruned))
    return BackupReport(name, final, copied, linked, len(plan.dropped), deferred,
                        bytes_copied, pruned, manifest)


def _write_manifest(directory: Path, manifest: Manifest) -> None:
    """Last of a generation's files; fsync'd, since the rename that follows publishes it."""
    path = directory / MANIFEST_NAME
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(manifest.to_json())
        out.flush()
        os.fsync(out.fileno())


def verify(generation: Path) -> Manifest:
    """Check every file of a generation against its manifest; nothing is changed."""
    manifest = store.read_manifest(generation)
    if manifest is None:
        raise ManifestError(f"{generation} holds no {MANIFEST_NAME}: not a backup")
    problems: list[str] = []

    def check(path: Path, entry: FileEntry, label: str) -> None:
        if not path.is_file():
            problems.append(f"{label}: missing")
        elif path.stat().st_size != entry.size or sha256_of(path) != entry.sha256:
            problems.append(f"{label}: content does not match the manifest")

    check(generation / DUMP_NAME, manifest.database, DUMP_NAME)
    for key, entry in manifest.files.items():
        check(generation / key, entry, key)
    if problems:
        raise ManifestError("backup damaged: " + "; ".join(problems[:20]))
    return manifest


def restore(database_url: str, destinations: Mapping[str, Path], source: Path, *,
            generation: str | None = None, clean: bool = False) -> RestoreReport:
    """Verify a generation (the newest complete one in ``source``, or the one named),
    then restore the database and put each file back into its set's directory, with the
    permission bits it had.

    Without ``clean`` the database must have no tables yet (a fresh ``createdb``): a
    restore never mixes a backup into live data by accident.
    """
    with store.locked(source, shared=True):
        chosen = store.resolve(source, generation)
        manifest = verify(chosen)
        db = pgtools.Target.from_url(database_url)
        if not clean:
            tables = pgtools.table_count(db)
            if tables:
                raise DatabaseNotEmpty(
                    f"database {db.database!r} already has {tables} tables: restore into "
                    "an empty database, or pass --clean to replace its contents"
                )
        pgtools.restore(db, chosen / DUMP_NAME, clean=clean)
        restored = 0
        for key, entry in sorted(manifest.files.items()):
            file_set, rel = split_key(key)
            mode = entry.mode if entry.mode is not None else 0o600
            done = copy_file(chosen / key, destinations[file_set] / rel, mode=mode)
            if done.changed or done.entry.sha256 != entry.sha256:  # since verify()
                raise ManifestError(f"{key} changed during the restore")
            restored += entry.size
    log.info("restored %s: database and %d files (%d bytes)", chosen, len(manifest.files),
             restored)
    return RestoreReport(chosen, len(manifest.files), restored)
