"""Backup runs at the file level: pg_dump is replaced, everything else is real files.

(The same runs against the real PostgreSQL, as ``cti backup``, are in
tests/integration/test_backup.py.)
"""

from __future__ import annotations

import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from cti.backup import pgtools, run, store
from cti.backup.errors import BackupBusy, Cancelled, SourceRefused
from cti.backup.manifest import DUMP_NAME, MANIFEST_NAME
from cti.backup.sources import Source, sources
from cti.config import AsteriskFilesSettings

URL = "postgresql://cti@127.0.0.1:1/cti"
HOUR_AGO = time.time() - 3600

Dump = Callable[[pgtools.Target, Path, "threading.Event | None"], None]


@pytest.fixture
def dumps(monkeypatch: pytest.MonkeyPatch) -> list[Dump]:
    """pg_dump replaced: each run writes a small dump, then calls the hooks queued."""
    hooks: list[Dump] = []

    def fake_dump(db: pgtools.Target, out: Path, cancel: threading.Event | None = None) -> None:
        out.write_bytes(b"PGDMP fake")
        if hooks:
            hooks.pop(0)(db, out, cancel)

    monkeypatch.setattr(pgtools, "dump", fake_dump)
    return hooks


def _write(path: Path, data: bytes = b"RIFF....", mtime: float = HOUR_AGO) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))
    return path


def _sources(root: Path) -> list[Source]:
    """What the service backs up, its Asterisk's directories under ``root``."""
    return sources(AsteriskFilesSettings(root=str(root), spool_dir="/spool", moh_dir="/moh",
                                         sounds_dir="/sounds"))


def _backup(root: Path, target: Path, **kw: object) -> run.BackupReport:
    options: dict[str, object] = {"keep": 7, "settle_seconds": 10.0, **kw}
    return run.backup(URL, _sources(root), target, **options)  # type: ignore[arg-type]


def _entries(target: Path) -> list[str]:
    return sorted(p.name for p in target.iterdir())


def test_unchanged_files_are_shared_with_the_last_generation(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "cti" / "store" / "a.wav")
    first = _backup(root, target)
    _write(root / "spool" / "monitor" / "cti" / "store" / "b.wav")
    second = _backup(root, target)
    assert (first.copied, first.linked, second.copied, second.linked) == (1, 0, 1, 1)
    a1, a2 = (r.path / "recordings" / "cti" / "store" / "a.wav" for r in (first, second))
    assert a1.stat().st_ino == a2.stat().st_ino and a2.stat().st_nlink == 2
    assert _entries(target) == [".lock", first.generation, second.generation]


def test_a_missing_source_never_drops_files_from_the_backup(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "voicemail" / "g" / "1" / "INBOX" / "msg0000.wav")
    _write(root / "spool" / "monitor" / "a.wav")
    first = _backup(root, target)
    os.rename(root / "spool" / "voicemail", tmp_path / "unmounted")
    with pytest.raises(SourceRefused, match=str(root / "spool" / "voicemail")):
        _backup(root, target)
    assert _entries(target) == [".lock", first.generation]  # nothing new, nothing removed
    assert (first.path / "voicemail" / "g" / "1" / "INBOX" / "msg0000.wav").is_file()


def test_an_emptied_source_is_backed_up_only_when_allowed(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    _backup(root, target)
    (root / "spool" / "monitor" / "a.wav").unlink()
    with pytest.raises(SourceRefused, match="--allow-empty"):
        _backup(root, target)
    report = _backup(root, target, allow_empty=True)
    assert report.dropped == 1 and report.manifest.files == {}


def test_a_second_backup_into_the_same_directory_fails_at_once(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    refused: list[BaseException] = []

    def second_run(*_: object) -> None:  # while the first one dumps
        with pytest.raises(BackupBusy, match=f"another backup is running in {target}") as e:
            _backup(root, target)
        refused.append(e.value)

    dumps.append(second_run)
    report = _backup(root, target)
    assert refused and run.verify(report.path) == report.manifest
    assert _entries(target) == [".lock", report.generation]


def test_a_restore_reading_the_directory_keeps_backups_out(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    _backup(root, target)
    with store.locked(target, shared=True), pytest.raises(BackupBusy):
        _backup(root, target)


@pytest.mark.parametrize("new_target", [True, False])
def test_a_failed_run_leaves_nothing_behind(
    dumps: list[Dump], tmp_path: Path, new_target: bool
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    before = [] if new_target else [".lock", _backup(root, target).generation]

    def disk_full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    dumps.append(disk_full)
    with pytest.raises(OSError, match="No space left"):
        _backup(root, target)
    assert (_entries(target) if target.exists() else []) == before


def test_a_cancelled_run_removes_its_partial_generation(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    first = _backup(root, target)
    _write(root / "spool" / "monitor" / "b.wav")
    cancel = threading.Event()
    dumps.append(lambda *_: cancel.set())  # the service stops while pg_dump runs
    with pytest.raises(Cancelled):
        _backup(root, target, cancel=cancel)
    assert _entries(target) == [".lock", first.generation]


def test_leftovers_of_a_crashed_run_are_removed_by_the_next(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    crashed = store.new_partial(target)
    _write(crashed / DUMP_NAME, b"half")
    (target / ".database.dump.partial").write_bytes(b"")  # the single-directory layout's
    report = _backup(root, target)
    assert _entries(target) == [".lock", report.generation]


def test_files_still_being_written_wait_for_the_next_run(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    monitor, box = root / "spool" / "monitor", root / "spool" / "voicemail" / "g" / "1"
    _write(monitor / "cti" / "recording" / "1.1.wav")  # MixMonitor is writing it
    _write(monitor / "cti" / "ready" / "2.1.wav")  # the cataloguer has not taken it yet
    _write(monitor / "cti" / "store" / "3.1.wav", mtime=time.time())  # catalogued: whole
    fresh = _write(monitor / "own" / "4.wav", mtime=time.time())  # nothing says finished
    _write(box / "tmp" / "x.wav")  # a message being left
    _write(box / "INBOX" / ".lock")
    _write(root / "moh" / ".staging" / "upload-1.wav")  # an upload being converted
    report = _backup(root, target)
    assert set(report.manifest.files) == {"recordings/cti/store/3.1.wav"}
    assert report.deferred == 1

    os.utime(fresh, (HOUR_AGO, HOUR_AGO))
    report = _backup(root, target)
    assert set(report.manifest.files) == {"recordings/cti/store/3.1.wav",
                                          "recordings/own/4.wav"}


def test_a_file_being_rewritten_keeps_the_last_generations_version(
    dumps: list[Dump], tmp_path: Path
) -> None:
    # A campaign's information message re-uploaded seconds before the run: the newest
    # generation (what a restore takes) must still have a message, the one it had.
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "cti" / "store" / "a.wav")
    message = _write(root / "sounds" / "campaigns" / "7.wav", b"RIFF-old")
    first = _backup(root, target)
    _write(message, b"RIFF-new-and-longer", mtime=time.time())
    second = _backup(root, target)
    key = "sounds/campaigns/7.wav"
    assert second.deferred == 1 and key in second.manifest.files
    assert (second.path / key).read_bytes() == b"RIFF-old"
    assert (second.path / key).stat().st_ino == (first.path / key).stat().st_ino
    os.utime(message, (HOUR_AGO, HOUR_AGO))
    third = _backup(root, target)
    assert (third.path / key).read_bytes() == b"RIFF-new-and-longer"


def test_everything_in_a_backup_is_private(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "2026" / "11" / "a.wav").chmod(0o644)
    old_umask = os.umask(0o022)
    try:
        _backup(root, target)
        _write(root / "spool" / "monitor" / "b.wav")
        report = _backup(root, target)
    finally:
        os.umask(old_umask)
    for path in [target, *target.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))
    assert report.manifest.files["recordings/2026/11/a.wav"].mode == 0o644  # for restore


def test_retention_keeps_the_newest_and_restore_picks_them(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    made = []
    for n in range(4):
        _write(root / "spool" / "monitor" / f"{n}.wav")
        made.append(_backup(root, target, keep=2))
    assert made[2].pruned == (made[0].generation,) and made[3].pruned == (made[1].generation,)
    assert store.complete(target) == [made[2].generation, made[3].generation]
    assert store.resolve(target, None) == made[3].path
    assert store.resolve(target, made[2].generation) == made[2].path
    assert (made[3].path / "recordings" / "0.wav").is_file()  # still shared, still there


def test_a_single_directory_backup_is_read_and_shared(
    dumps: list[Dump], tmp_path: Path
) -> None:
    """A backup directory made before generations (manifest format 1, files in DIR)."""
    root, target = tmp_path / "src", tmp_path / "backup"
    wav = _write(root / "spool" / "monitor" / "a.wav")
    copy = _write(target / "recordings" / "a.wav", wav.read_bytes())
    (target / DUMP_NAME).write_bytes(b"PGDMP old")
    st = wav.stat()
    sha = run.sha256_of(wav)
    dump_sha = run.sha256_of(target / DUMP_NAME)
    (target / MANIFEST_NAME).write_text(
        f'{{"format": 1, "created_at": "2026-01-01T00:00:00+00:00", "database": {{"file": '
        f'"database.dump", "size": 9, "mtime_ns": 1, "sha256": "{dump_sha}"}}, "recordings": '
        f'{{"a.wav": {{"size": {st.st_size}, "mtime_ns": {st.st_mtime_ns}, "sha256": "{sha}"}}}}}}')
    assert store.resolve(target, None) == target
    assert run.verify(target).count("recordings") == 1

    report = _backup(root, target, keep=1)
    assert (report.copied, report.linked) == (0, 1)
    assert (report.path / "recordings" / "a.wav").stat().st_ino == copy.stat().st_ino
    assert store.resolve(target, None) == report.path
    assert (target / MANIFEST_NAME).is_file()  # never pruned


def test_a_damaged_last_generation_is_not_built_on(
    dumps: list[Dump], tmp_path: Path
) -> None:
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav")
    first = _backup(root, target)
    second = _backup(root, target)
    (second.path / MANIFEST_NAME).write_text("{")
    third = _backup(root, target)
    assert (third.copied, third.linked) == (0, 1)
    a1, a3 = (r.path / "recordings" / "a.wav" for r in (first, third))
    assert a1.stat().st_ino == a3.stat().st_ino
