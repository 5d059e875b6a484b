"""File operations of backups and restores: scanning, copying, linking (all blocking).

A backup's own files and directories are private (0600 / 0700): they hold customers'
voices and the whole database. A copy goes through a temporary file in the same
directory, fsync'd, then renamed, so a copy is whole or absent.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import stat
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from cti.backup.errors import Cancelled
from cti.backup.manifest import FileEntry, FileStat
from cti.backup.sources import Source

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("backup cancelled")


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _raise(error: OSError) -> None:
    if not isinstance(error, FileNotFoundError):  # not merely removed meanwhile
        raise error


def scan(source: Source) -> dict[str, FileStat] | None:
    """Regular files under the source (relative POSIX paths), leaving out what it skips;
    None when the directory does not exist. An unreadable directory is an error, never a
    silent gap (its files would drop out of the backup); one removed meanwhile is not."""
    if not source.path.is_dir():
        return None
    found: dict[str, FileStat] = {}
    for dirpath, dirnames, filenames in os.walk(source.path, onerror=_raise):
        here = Path(dirpath).relative_to(source.path).as_posix()
        dirnames[:] = [d for d in dirnames
                       if not source.skips(d if here == "." else f"{here}/{d}")]
        for name in filenames:
            if name.startswith("."):
                continue
            try:
                st = os.lstat(os.path.join(dirpath, name))
            except FileNotFoundError:  # the retention sweep deleted it meanwhile
                continue
            if stat.S_ISREG(st.st_mode):  # no symlinks, sockets or pipes
                rel = name if here == "." else f"{here}/{name}"
                found[rel] = FileStat(st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode))
    return found


def makedirs(path: Path, mode: int = PRIVATE_DIR) -> None:
    """``mkdir -p`` giving every directory it creates ``mode`` (os.makedirs gives it only
    to the last one)."""
    missing: list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:  # made meanwhile by someone else: theirs
            continue
        os.chmod(directory, mode)  # mkdir's mode is filtered by the umask


@dataclass(frozen=True, slots=True)
class Copied:
    entry: FileEntry
    changed: bool  # the source changed while it was read: the copy was discarded


def copy_file(src: Path, dst: Path, *, mode: int = PRIVATE_FILE, dir_mode: int | None = None,
              cancel: threading.Event | None = None) -> Copied:
    """Copy ``src`` to ``dst`` with ``src``'s mtime and ``mode``; the copy's SHA-256 in
    the entry (whose mode is the source's). A source rewritten during the copy (its size
    or mtime moved) is not kept. ``dir_mode``: for the directories made on the way
    (None: the umask's default)."""
    if dir_mode is None:
        dst.parent.mkdir(parents=True, exist_ok=True)
    else:
        makedirs(dst.parent, dir_mode)
    digest = hashlib.sha256()
    written = 0
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", dir=dst.parent)
    try:
        with os.fdopen(fd, "wb") as out, src.open("rb") as inp:
            before = os.fstat(inp.fileno())
            while chunk := inp.read(_CHUNK):
                check_cancel(cancel)
                digest.update(chunk)
                out.write(chunk)
                written += len(chunk)
            out.flush()
            os.fsync(out.fileno())
            after = os.fstat(inp.fileno())
        entry = FileEntry(before.st_size, before.st_mtime_ns, digest.hexdigest(),
                          stat.S_IMODE(before.st_mode))
        changed = (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns)
        if changed or written != before.st_size:
            os.unlink(tmp)
            return Copied(entry, True)
        os.chmod(tmp, mode)
        os.utime(tmp, ns=(before.st_mtime_ns, before.st_mtime_ns))
        os.replace(tmp, dst)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Copied(entry, False)


_NO_LINKS = frozenset({errno.EPERM, errno.EXDEV, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP})


def link_file(src: Path, dst: Path, size: int) -> bool:
    """Hard-link the previous generation's copy ``src`` as ``dst``: the new generation
    shares it at no cost. False when it cannot be shared (gone, not whole, or a file
    system without hard links): the caller copies instead."""
    makedirs(dst.parent)
    try:
        os.link(src, dst)
    except FileNotFoundError:
        return False
    except OSError as exc:
        if exc.errno not in _NO_LINKS:
            raise
        log.warning("cannot hard-link %s (%s): copying it instead", src, exc.strerror)
        return False
    if dst.stat().st_size != size:  # the old copy is damaged: take a fresh one
        os.unlink(dst)
        return False
    return True


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
