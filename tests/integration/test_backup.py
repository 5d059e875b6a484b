"""``cti backup`` / ``cti restore`` against the real PostgreSQL, run as the real command.

Round trip: rows and files in a migrated database -> backup -> restore into a fresh empty
database and empty Asterisk directories -> the same rows, the same bytes. Generations:
each run is a dated directory; an unchanged file is a hard link to the previous
generation's copy, never copied again; the oldest beyond ``CTI_BACKUP__KEEP`` go once a
new one is complete; restore takes the newest, or the one named. Refusals: a source
directory missing or emptied (it would drop files from the backup), a second backup into
the same directory, an empty ``--target``, a non-empty database without --clean, a
damaged backup. A failed run leaves nothing behind; files still being written wait for
the next run; nothing in a backup is readable by other users.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from cti.backup.pgtools import find_tool
from cti.config import DatabaseSettings
from cti.db.engine import make_engine
from cti.db.migrate import upgrade, upgrade_async
from cti.stack.postgres import PostgresCluster

HOUR_AGO = time.time() - 3600


def _env(url: str, root: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CTI_BACKUP__")},
        "CTI_ENVIRONMENT": "test",
        "CTI_DATABASE__URL": url,
        "CTI_ASTERISK__ROOT": str(root),
        "CTI_ASTERISK__SPOOL_DIR": "/spool",
        "CTI_ASTERISK__MOH_DIR": "/moh",
        "CTI_ASTERISK__SOUNDS_DIR": "/sounds",
        "CTI_BACKUP__SETTLE_SECONDS": "0",  # these tests' files are written just before
        **extra,
    }


def cti(env: dict[str, str], *args: str, cwd: Path | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False, cwd=cwd)


def _write(path: Path, data: bytes, *, mtime: float | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def _wav(n: int) -> bytes:
    return b"RIFF" + os.urandom(n)


def _generations(target: Path) -> list[Path]:
    """Complete generations, oldest first."""
    return sorted(p for p in target.iterdir()
                  if not p.name.startswith(".") and (p / "manifest.json").is_file())


def _files(generation: Path) -> set[str]:
    return set(json.loads((generation / "manifest.json").read_text())["files"])


async def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as conn:
            out = {}
            for table in ("users", "seats", "calls", "call_events"):
                result = await conn.execute(text(f"SELECT * FROM {table} ORDER BY 1"))
                out[table] = [tuple(r) for r in result]
            version = await conn.execute(text("SELECT version_num FROM alembic_version"))
            out["alembic_version"] = [tuple(r) for r in version]
            return out
    finally:
        await engine.dispose()


async def _table_count(url: str) -> int:
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with engine.connect() as conn:
            n = await conn.scalar(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            )
            return int(n or 0)
    finally:
        await engine.dispose()


async def _seed(url: str) -> None:
    await upgrade_async(url)
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text(
                "INSERT INTO users (username, role, seat_id) VALUES ('boss', 'supervisor', '1003')"
            ))
            await conn.execute(text(
                "INSERT INTO seats (id, node, interface) VALUES ('1001', 'node1', 'PJSIP/1001')"
            ))
            await conn.execute(text(
                "INSERT INTO calls (id, node, linkedid, direction, state, customer_number, "
                "started_at, updated_at) VALUES ('node1:1.1', 'node1', '1.1', 'inbound', "
                "'ended', '0612345678', now(), now())"
            ))
            await conn.execute(text(
                "INSERT INTO call_events (call_id, kind, at, detail) VALUES "
                "('node1:1.1', 'started', now(), '{\"channel\": \"PJSIP/trunk-1\"}')"
            ))
    finally:
        await engine.dispose()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def databases(pg_cluster: PostgresCluster) -> tuple[str, str]:
    for name in ("backup_src", "backup_dst"):
        pg_cluster.drop_database(name)
        pg_cluster.create_database(name)
    return pg_cluster.url_for("backup_src"), pg_cluster.url_for("backup_dst")


async def test_backup_then_restore_round_trips(databases: tuple[str, str],
                                               tmp_path: Path) -> None:
    src_url, dst_url = databases
    await _seed(src_url)
    src_root, dst_root, target = tmp_path / "src", tmp_path / "dst", tmp_path / "backup"
    recordings = src_root / "spool" / "monitor"
    _write(recordings / "a.wav", _wav(40_000))
    _write(recordings / "2026" / "11" / "b.wav", _wav(10_000))
    src_env = _env(src_url, src_root)

    done = cti(src_env, "backup", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "2 files copied, 0 unchanged, 0 dropped" in done.stderr
    [first] = _generations(target)
    assert _files(first) == {"recordings/a.wav", "recordings/2026/11/b.wav"}
    assert (first / "database.dump").read_bytes()[:5] == b"PGDMP"  # custom format

    # Incremental: nothing changed -> nothing copied; the new generation's file is the
    # same inode as the previous one's (a hard link), so it costs no space.
    done = cti(src_env, "backup", "--target", str(target))
    assert "0 files copied, 2 unchanged, 0 dropped" in done.stderr, done.stderr
    first, second = _generations(target)
    before, after = (g / "recordings" / "a.wav" for g in (first, second))
    assert after.stat().st_ino == before.stat().st_ino

    # One new, one changed, one deleted by the retention sweep.
    _write(recordings / "c.wav", _wav(5_000))
    _write(recordings / "a.wav", _wav(41_000))
    (recordings / "2026" / "11" / "b.wav").unlink()
    done = cti(src_env, "backup", "--target", str(target))
    assert "2 files copied, 0 unchanged, 1 dropped" in done.stderr, done.stderr
    newest = _generations(target)[-1]
    assert _tree(newest / "recordings") == _tree(recordings)
    assert "2026/11/b.wav" in _tree(first / "recordings")  # older generations keep it

    # Restore (the newest generation) into an empty database and recordings directory.
    dst_env = _env(dst_url, dst_root)
    assert await _table_count(dst_url) == 0
    done = cti(dst_env, "restore", "--from", str(target))
    assert done.returncode == 0, done.stderr
    assert await _rows(dst_url) == await _rows(src_url)
    assert _tree(dst_root / "spool" / "monitor") == _tree(recordings)

    # Again without --clean: refused, nothing changed.
    done = cti(dst_env, "restore", "--from", str(target))
    assert done.returncode == 1
    assert "already has" in done.stderr and "--clean" in done.stderr
    # With --clean: the database is replaced by the backup's contents.
    await _add_user(dst_url, "intruder")
    done = cti(dst_env, "restore", "--from", str(target), "--clean")
    assert done.returncode == 0, done.stderr
    assert await _rows(dst_url) == await _rows(src_url)


async def _add_user(url: str, name: str) -> None:
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO users (username, role) VALUES (:n, 'agent')"),
                               {"n": name})
    finally:
        await engine.dispose()


async def test_damaged_backup_is_refused_before_anything_changes(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, dst_url = databases
    await _seed(src_url)
    _write(tmp_path / "src" / "spool" / "monitor" / "a.wav", _wav(2_000))
    target = tmp_path / "backup"
    assert cti(_env(src_url, tmp_path / "src"), "backup", "--target", str(target)).returncode == 0

    copy = _generations(target)[-1] / "recordings" / "a.wav"
    data = bytearray(copy.read_bytes())
    data[100] ^= 0xFF
    copy.write_bytes(bytes(data))
    done = cti(_env(dst_url, tmp_path / "dst"), "restore", "--from", str(target))
    assert done.returncode == 1
    assert "recordings/a.wav: content does not match the manifest" in done.stderr
    assert await _table_count(dst_url) == 0
    assert not (tmp_path / "dst" / "spool" / "monitor" / "a.wav").exists()

    done = cti(_env(dst_url, tmp_path / "dst"), "restore", "--from", str(tmp_path / "nothing"))
    assert done.returncode == 1 and "not a backup" in done.stderr


# -- P1: a missing or emptied source never drops files from the backup -----------------

async def test_missing_recordings_directory_is_refused_and_the_backup_keeps_its_files(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, _ = databases
    await _seed(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav", _wav(2_000))
    assert cti(_env(src_url, root), "backup", "--target", str(target)).returncode == 0

    # The spool moved (an unmounted volume, a typo in CTI_ASTERISK__SPOOL_DIR).
    env = _env(src_url, root, CTI_ASTERISK__SPOOL_DIR="/wrong/spool")
    done = cti(env, "backup", "--target", str(target))
    assert done.returncode == 1, done.stderr
    assert str(root / "wrong" / "spool" / "monitor") in done.stderr
    [only] = _generations(target)
    assert (only / "recordings" / "a.wav").is_file()
    assert _files(only) == {"recordings/a.wav"}


async def test_an_emptied_source_is_refused_unless_told(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, _ = databases
    await _seed(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    box = root / "spool" / "voicemail" / "groups" / "sales" / "INBOX"
    _write(root / "spool" / "monitor" / "a.wav", _wav(2_000))
    _write(box / "msg0000.wav", _wav(2_000))
    env = _env(src_url, root)
    assert cti(env, "backup", "--target", str(target)).returncode == 0

    shutil.rmtree(box)  # an empty mount point where the voicemail volume should be
    done = cti(env, "backup", "--target", str(target))
    assert done.returncode == 1, done.stderr
    assert str(root / "spool" / "voicemail") in done.stderr and "--allow-empty" in done.stderr
    assert len(_generations(target)) == 1

    done = cti(env, "backup", "--target", str(target), "--allow-empty")
    assert done.returncode == 0, done.stderr
    assert _files(_generations(target)[-1]) == {"recordings/a.wav"}


# -- P2: one backup at a time into a directory ----------------------------------------

def test_a_second_backup_into_the_same_directory_fails_at_once(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, dst_url = databases
    upgrade(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav", _wav(20_000))
    # A pg_dump that takes a while, and says when it has started.
    bindir, started = tmp_path / "bin", tmp_path / "started"
    bindir.mkdir()
    slow = bindir / "pg_dump"
    slow.write_text(f'#!/bin/sh\ntouch "{started}"\nsleep 3\nexec {find_tool("pg_dump")} "$@"\n')
    slow.chmod(0o755)
    env = _env(src_url, root, CTI_PG_BINDIR=str(bindir))

    first = subprocess.Popen([sys.executable, "-m", "cti", "backup", "--target", str(target)],
                             env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        t0 = time.monotonic()
        second = cti(env, "backup", "--target", str(target))
        assert second.returncode == 1, second.stderr
        assert f"another backup is running in {target}" in second.stderr
        assert time.monotonic() - t0 < 2.5  # at once, not after the first one
        _, err = first.communicate(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    [generation] = _generations(target)
    assert sorted(p.name for p in target.iterdir()) == [".lock", generation.name]
    done = cti(_env(dst_url, tmp_path / "dst"), "restore", "--from", str(target))
    assert done.returncode == 0, done.stderr


# -- P3: voicemail, uploaded prompts and hold music ------------------------------------

async def test_voicemail_prompts_and_hold_music_are_backed_up_and_restored(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, dst_url = databases
    await _seed(src_url)
    src, dst, target = tmp_path / "src", tmp_path / "dst", tmp_path / "backup"
    box = src / "spool" / "voicemail" / "groups" / "sales"
    _write(src / "spool" / "monitor" / "a.wav", _wav(2_000))
    _write(box / "INBOX" / "msg0000.wav", _wav(3_000))
    _write(box / "INBOX" / "msg0000.txt", b"[message]\ncallerid=0612345678\n")
    _write(box / "tmp" / "abc123.wav", _wav(100))  # Asterisk still recording it
    _write(src / "moh" / "jazz" / "track.wav", _wav(4_000))
    _write(src / "moh" / ".staging" / "upload-1.wav", _wav(100))  # an upload converting
    _write(src / "sounds" / "campaigns" / "7.wav", _wav(1_000))
    _write(src / "sounds" / "ivr" / "welcome.wav", _wav(1_500))
    (src / "moh" / "jazz" / "track.wav").chmod(0o644)  # what Asterisk needs to read

    done = cti(_env(src_url, src), "backup", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert _files(_generations(target)[-1]) == {
        "recordings/a.wav", "voicemail/groups/sales/INBOX/msg0000.wav",
        "voicemail/groups/sales/INBOX/msg0000.txt", "moh/jazz/track.wav",
        "sounds/campaigns/7.wav", "sounds/ivr/welcome.wav",
    }

    done = cti(_env(dst_url, dst), "restore", "--from", str(target))
    assert done.returncode == 0, done.stderr
    for part in ("spool/monitor", "spool/voicemail/groups/sales/INBOX", "moh/jazz",
                 "sounds"):
        assert _tree(dst / part) == _tree(src / part), part
    assert not (dst / "spool" / "voicemail" / "groups" / "sales" / "tmp").exists()
    assert stat.S_IMODE((dst / "moh" / "jazz" / "track.wav").stat().st_mode) == 0o644


# -- P4: generations and retention -----------------------------------------------------

async def test_the_oldest_generations_beyond_keep_go_and_restore_takes_any_kept_one(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, dst_url = databases
    await _seed(src_url)
    src, target = tmp_path / "src", tmp_path / "backup"
    recordings = src / "spool" / "monitor"
    env = _env(src_url, src, CTI_BACKUP__KEEP="2")
    versions = [_wav(1_000), _wav(1_100)]
    _write(recordings / "a.wav", versions[0], mtime=HOUR_AGO)
    assert cti(env, "backup", "--target", str(target)).returncode == 0
    _write(recordings / "a.wav", versions[1], mtime=HOUR_AGO + 1)
    assert cti(env, "backup", "--target", str(target)).returncode == 0
    first, second = _generations(target)
    _write(recordings / "c.wav", _wav(500), mtime=HOUR_AGO)
    done = cti(env, "backup", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "1 old generation removed" in done.stderr
    assert _generations(target)[0].name == second.name
    assert not first.exists()

    dst = tmp_path / "dst"
    done = cti(_env(dst_url, dst), "restore", "--from", str(target),
               "--generation", second.name)
    assert done.returncode == 0, done.stderr
    assert _tree(dst / "spool" / "monitor") == {"a.wav": versions[1]}

    done = cti(_env(dst_url, dst), "restore", "--from", str(target), "--clean",
               "--generation", first.name)
    assert done.returncode == 1
    assert first.name in done.stderr and second.name in done.stderr  # names what there is


# -- P16: edge cases -------------------------------------------------------------------

@pytest.mark.parametrize("command", [["backup", "--target", ""], ["restore", "--from", ""],
                                     ["backup", "--target", "  "]])
def test_an_empty_directory_argument_is_refused(command: list[str], tmp_path: Path) -> None:
    done = cti(_env("postgresql+asyncpg://cti@127.0.0.1:1/cti", tmp_path / "src"), *command,
               cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert command[1] in done.stderr
    assert list(tmp_path.iterdir()) == []


async def test_a_failed_backup_leaves_nothing_behind(
    databases: tuple[str, str], pg_cluster: PostgresCluster, tmp_path: Path
) -> None:
    src_url, _ = databases
    await _seed(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "a.wav", _wav(2_000))
    no_db = _env(pg_cluster.url_for("no_such_database"), root)

    done = cti(no_db, "backup", "--target", str(target))  # a new directory
    assert done.returncode == 1 and "no_such_database" in done.stderr, done.stderr
    assert not target.exists()

    assert cti(_env(src_url, root), "backup", "--target", str(target)).returncode == 0
    [good] = _generations(target)
    done = cti(no_db, "backup", "--target", str(target))
    assert done.returncode == 1
    assert sorted(p.name for p in target.iterdir()) == [".lock", good.name]


# -- P18: files still being written wait for the next run -----------------------------

async def test_recordings_being_written_are_left_for_the_next_run(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, _ = databases
    await _seed(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    cti_dir = root / "spool" / "monitor" / "cti"
    store = cti_dir / "store" / "2026" / "11" / "25"
    message = root / "spool" / "voicemail" / "groups" / "sales" / "INBOX" / "msg0000.wav"
    _write(cti_dir / "recording" / "1.1.wav", _wav(500), mtime=HOUR_AGO)  # MixMonitor's
    _write(cti_dir / "ready" / "2.1.wav", _wav(500), mtime=HOUR_AGO)  # not catalogued yet
    _write(store / "3.1.wav", _wav(500))  # catalogued a moment ago: whole, and has a row
    _write(store / "4.1.wav", _wav(500), mtime=HOUR_AGO)
    _write(root / "spool" / "monitor" / "own" / "5.wav", _wav(500))  # outside the catalogue
    _write(message, _wav(500))  # written a moment ago: nothing says it is finished
    env = _env(src_url, root, CTI_BACKUP__SETTLE_SECONDS="30")

    done = cti(env, "backup", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "2 left for the next run" in done.stderr
    assert _files(_generations(target)[-1]) == {"recordings/cti/store/2026/11/25/3.1.wav",
                                                "recordings/cti/store/2026/11/25/4.1.wav"}

    for path in (root / "spool" / "monitor" / "own" / "5.wav", message):
        os.utime(path, (HOUR_AGO, HOUR_AGO))
    os.replace(cti_dir / "ready" / "2.1.wav", store / "2.1.wav")  # catalogued meanwhile
    assert cti(env, "backup", "--target", str(target)).returncode == 0
    assert _files(_generations(target)[-1]) == {
        *(f"recordings/cti/store/2026/11/25/{n}.1.wav" for n in (2, 3, 4)),
        "recordings/own/5.wav", "voicemail/groups/sales/INBOX/msg0000.wav"}


# -- P20: private files ----------------------------------------------------------------

async def test_nothing_in_a_backup_is_readable_by_others(
    databases: tuple[str, str], tmp_path: Path
) -> None:
    src_url, _ = databases
    await _seed(src_url)
    root, target = tmp_path / "src", tmp_path / "backup"
    _write(root / "spool" / "monitor" / "2026" / "a.wav", _wav(2_000))
    (root / "spool" / "monitor" / "2026" / "a.wav").chmod(0o644)
    env = _env(src_url, root)
    for _ in range(2):  # copied, then linked
        done = cti(env, "backup", "--target", str(target))
        assert done.returncode == 0, done.stderr
    generation = _generations(target)[-1]
    assert stat.S_IMODE((generation / "database.dump").stat().st_mode) == 0o600
    for path in [target, *target.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), (path, oct(mode))


def test_a_held_lock_is_named(tmp_path: Path) -> None:
    """The lock is an flock on ``<target>/.lock``: anything holding it keeps backups out."""
    target = tmp_path / "backup"
    target.mkdir()
    with open(target / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        done = cti(_env("postgresql+asyncpg://cti@127.0.0.1:1/cti", tmp_path / "src"),
                   "backup", "--target", str(target))
    assert done.returncode == 1
    assert f"another backup is running in {target}" in done.stderr
