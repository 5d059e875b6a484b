"""The backup directory: its lock, its generations, the one being written.

    DIR/.lock                    flock'd by a backup (exclusive) or a restore (shared)
    DIR/.partial-<random>/       the generation being written (0700); renamed to its
                                 name once its manifest is in, so a generation either
                                 is complete or does not exist; a crashed run's leftover
                                 is removed by the next run
    DIR/2026-11-25T020000Z/      complete generations (a manifest.json each)

A directory written by ``cti backup`` before generations (its manifest.json, dump and
recordings directly in DIR) is read as one more generation, older than any dated one: a
restore finds it when there is nothing newer, and the first generation shares its
unchanged recordings. Retention never removes it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from cti.backup import generations
from cti.backup.copying import PRIVATE_DIR, fsync_dir, makedirs
from cti.backup.errors import BackupBusy, ManifestError
from cti.backup.manifest import MANIFEST_NAME, Manifest

log = logging.getLogger(__name__)

LOCK_NAME = ".lock"
PARTIAL_PREFIX = ".partial-"
_LEGACY_PARTIAL = ".database.dump.partial"  # the single-directory layout's temporary dump


@contextlib.contextmanager
def locked(target: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the backup directory's lock, or fail at once naming who holds it.

    A backup takes it exclusively, for its whole run; a restore shares it, so that no
    backup prunes the generation it reads. A restore from a directory it cannot write
    (read-only media) goes without."""
    path = target / LOCK_NAME
    try:
        fd = (os.open(path, os.O_RDONLY) if shared
              else os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    except FileNotFoundError:
        if shared:  # nobody ever backed up here with a lock: nobody to wait for
            yield
            return
        raise
    try:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupBusy(
                f"another backup is running in {target}; restore when it has finished"
                if shared else
                f"another backup is running in {target} (or a restore is reading it); "
                "this one gave up") from None
        yield
    finally:
        os.close(fd)  # releases the flock


def complete(target: Path) -> list[str]:
    """The complete generations in ``target``, oldest first."""
    try:
        names = [e.name for e in os.scandir(target) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return [n for n in generations.oldest_first(names) if (target / n / MANIFEST_NAME).is_file()]


def read_manifest(directory: Path) -> Manifest | None:
    try:
        return Manifest.from_json((directory / MANIFEST_NAME).read_text())
    except FileNotFoundError:
        return None


def newest(target: Path) -> tuple[Path, Manifest] | None:
    """The newest complete generation and its manifest (a single-directory backup when
    there is no dated one); None: nothing backed up here yet."""
    for name in reversed(complete(target)):
        try:
            manifest = read_manifest(target / name)
        except ManifestError as exc:  # damaged: build on the one before (it stays)
            log.error("backup generation %s is damaged (%s): not building on it", name, exc)
            continue
        if manifest is not None:
            return target / name, manifest
    legacy = read_manifest(target)
    return (target, legacy) if legacy is not None else None


def newest_time(target: Path) -> datetime | None:
    """When the newest complete generation's run started."""
    names = complete(target)
    parsed = generations.parse(names[-1]) if names else None
    return parsed[0] if parsed is not None else None


def resolve(source: Path, generation: str | None) -> Path:
    """The generation a restore reads: the one named, or the newest complete one."""
    names = complete(source)
    if generation is not None:
        if generations.is_name(generation) and generation in names:
            return source / generation
        have = ", ".join(names) or "none"
        raise ManifestError(f"{source} holds no complete generation {generation!r} "
                            f"(complete generations: {have})")
    if names:
        return source / names[-1]
    if (source / MANIFEST_NAME).is_file():  # a single-directory backup, or a generation
        return source
    raise ManifestError(f"{source} holds no {MANIFEST_NAME} and no complete generation: "
                        "not a backup")


def clear_leftovers(target: Path) -> None:
    """Remove what crashed runs left (only under the lock: no run is writing them)."""
    for entry in os.scandir(target):
        if entry.name.startswith(PARTIAL_PREFIX) and entry.is_dir(follow_symlinks=False):
            log.warning("removing %s, left by a backup that did not finish", entry.path)
            shutil.rmtree(entry.path)
        elif entry.name == _LEGACY_PARTIAL:
            os.unlink(entry.path)


def new_partial(target: Path) -> Path:
    makedirs(target, PRIVATE_DIR)
    return Path(tempfile.mkdtemp(prefix=PARTIAL_PREFIX, dir=target))  # 0700


def publish(partial: Path, target: Path, name: str) -> Path:
    """Make a written generation complete: one rename, then made durable."""
    final = target / name
    os.rename(partial, final)  # never over an existing generation (rename of a directory
    fsync_dir(target)  # onto a non-empty one fails)
    return final


def prune(target: Path, keep: int) -> list[str]:
    """Remove the oldest complete generations beyond ``keep``. A generation that cannot
    be removed is logged and left; the next run tries again."""
    removed: list[str] = []
    for name in generations.beyond_keep(complete(target), keep):
        try:
            # Renamed first, so that a half-removed generation never looks complete.
            doomed = target / f"{PARTIAL_PREFIX}pruned-{name}"
            os.rename(target / name, doomed)
            shutil.rmtree(doomed)
        except OSError:
            log.exception("could not remove the old backup generation %s", name)
            continue
        removed.append(name)
        log.info("backup generation %s removed (more than %d kept)", name, keep)
    return removed
