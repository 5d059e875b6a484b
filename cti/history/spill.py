"""Spill segments: history records parked on disk while PostgreSQL is unreachable.

Each segment is one JSON-lines file named by a growing sequence number; lower numbers
hold older records. A segment is written to a temporary name, fsync'd, then renamed (and
the directory fsync'd), so a crash leaves either a whole segment or none. The methods
here block (file I/O); the writer calls them in a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from cti.history.records import Record

log = logging.getLogger(__name__)

_PREFIX = "spill-"
_SUFFIX = ".jsonl"


class SpillStore:
    """Ordered segments of records in ``directory``; oldest first."""

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._segments: dict[int, int] = {}  # seq -> number of records
        self._next_seq = 1

    def load(self) -> int:
        """Register segments left by a previous run; returns how many records they hold."""
        if not self.directory.is_dir():
            return 0
        for tmp in self.directory.glob(f"{_PREFIX}*{_SUFFIX}.tmp"):
            log.warning("removing incomplete spill segment %s", tmp)
            tmp.unlink(missing_ok=True)
        found: dict[int, int] = {}
        for path in self.directory.glob(f"{_PREFIX}*{_SUFFIX}"):
            seq_text = path.name[len(_PREFIX) : -len(_SUFFIX)]
            if not seq_text.isdigit():
                continue
            with path.open("rb") as fh:
                found[int(seq_text)] = sum(1 for line in fh if line.strip())
        with self._lock:
            self._segments.update(found)
            if self._segments:
                self._next_seq = max(self._next_seq, max(self._segments) + 1)
            return sum(found.values())

    @property
    def records(self) -> int:
        with self._lock:
            return sum(self._segments.values())

    def __bool__(self) -> bool:
        with self._lock:
            return bool(self._segments)

    def allocate(self) -> int:
        """Reserve the next sequence number (call in order; write may happen later)."""
        with self._lock:
            seq = self._next_seq
            self._next_seq += 1
            return seq

    def write(self, seq: int, records: list[Record]) -> Path:
        """Write and fsync one segment, then make it visible to :meth:`oldest`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(seq)
        tmp = path.with_name(path.name + ".tmp")
        data = "".join(json.dumps(r, separators=(",", ":"), default=str) + "\n" for r in records)
        try:
            with tmp.open("w", encoding="utf-8") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            tmp.replace(path)
            self._fsync_dir()
        except OSError:
            # The caller keeps the records and retries under another number: a partial
            # file left here would only eat what is left of a full disk.
            _remove_quietly(tmp)
            _remove_quietly(path)
            raise
        with self._lock:
            self._segments[seq] = len(records)
        log.info("spilled %d history records to %s", len(records), path)
        return path

    def oldest(self) -> tuple[int, list[Record]] | None:
        """The oldest segment's sequence number and records, or None when empty."""
        while True:
            with self._lock:
                if not self._segments:
                    return None
                seq = min(self._segments)
            path = self._path(seq)
            try:
                with path.open(encoding="utf-8") as fh:
                    return seq, [json.loads(line) for line in fh if line.strip()]
            except (OSError, ValueError) as exc:
                bad = path.with_name(path.name + ".corrupt")
                try:
                    if path.exists():
                        path.replace(bad)
                except OSError as move_exc:  # the next start tries it again
                    log.error("unreadable spill segment %s (%s), and it cannot be moved "
                              "aside (%s); skipped until the next start", path, exc, move_exc)
                else:
                    log.error("unreadable spill segment %s (%s); moved to %s", path, exc, bad)
                with self._lock:
                    self._segments.pop(seq, None)

    def remove(self, seq: int) -> None:
        """Forget a segment whose records are safely in the database, then delete it.

        Forgotten first: if the file cannot be deleted (OSError), this run must still not
        write its records again.
        """
        with self._lock:
            self._segments.pop(seq, None)
        self._path(seq).unlink(missing_ok=True)

    def write_rejected(self, records: list[Record], reason: str) -> Path:
        """Park records the database refused (bad data) for a human to look at."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f"rejected-{self.allocate():012d}{_SUFFIX}"
        try:
            with path.open("w", encoding="utf-8") as fh:
                fh.write(json.dumps({"reason": reason}, default=str) + "\n")
                for rec in records:
                    fh.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            _remove_quietly(path)  # the caller keeps the records and tries again
            raise
        return path

    def _path(self, seq: int) -> Path:
        return self.directory / f"{_PREFIX}{seq:012d}{_SUFFIX}"

    def _fsync_dir(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _remove_quietly(path: Path) -> None:
    """Best effort after a failed write: the write's own error is the one to report."""
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("could not remove the partial spill file %s: %s", path, exc)
