"""``cti backup`` / ``cti restore`` against the real PostgreSQL, run as the real command.

Round trip: rows and recordings in a migrated database -> backup -> restore into a fresh
empty database and an empty recordings directory -> the same rows, the same bytes.
Incremental: a second backup copies nothing unchanged, then only what changed, and drops
what the source lost. Refusals: a non-empty database without --clean, a damaged backup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from cti.config import DatabaseSettings
from cti.db.engine import make_engine
from cti.db.migrate import upgrade_async
from cti.stack.postgres import PostgresCluster


def _env(url: str, root: Path) -> dict[str, str]:
    return {
        **os.environ,
        "CTI_ENVIRONMENT": "test",
        "CTI_DATABASE__URL": url,
        "CTI_ASTERISK__ROOT": str(root),
        "CTI_ASTERISK__SPOOL_DIR": "/spool",
    }


def cti(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cti", *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


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
    (recordings / "2026" / "11").mkdir(parents=True)
    (recordings / "a.wav").write_bytes(b"RIFF" + os.urandom(40_000))
    (recordings / "2026" / "11" / "b.wav").write_bytes(b"RIFF" + os.urandom(10_000))
    src_env = _env(src_url, src_root)

    done = cti(src_env, "backup", "--target", str(target))
    assert done.returncode == 0, done.stderr
    assert "2 recordings copied, 0 unchanged, 0 removed" in done.stderr
    manifest = json.loads((target / "manifest.json").read_text())
    assert set(manifest["recordings"]) == {"a.wav", "2026/11/b.wav"}
    assert (target / "database.dump").read_bytes()[:5] == b"PGDMP"  # custom format

    # Incremental: nothing changed -> nothing copied (the copy keeps its inode and mtime).
    before = (target / "recordings" / "a.wav").stat()
    done = cti(src_env, "backup", "--target", str(target))
    assert "0 recordings copied, 2 unchanged, 0 removed" in done.stderr, done.stderr
    after = (target / "recordings" / "a.wav").stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    # One new, one changed, one deleted by the retention sweep.
    (recordings / "c.wav").write_bytes(b"RIFF" + os.urandom(5_000))
    (recordings / "a.wav").write_bytes(b"RIFF" + os.urandom(41_000))
    (recordings / "2026" / "11" / "b.wav").unlink()
    done = cti(src_env, "backup", "--target", str(target))
    assert "2 recordings copied, 0 unchanged, 1 removed" in done.stderr, done.stderr
    assert _tree(target / "recordings") == _tree(recordings)

    # Restore into an empty database and an empty recordings directory.
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
    recordings = tmp_path / "src" / "spool" / "monitor"
    recordings.mkdir(parents=True)
    (recordings / "a.wav").write_bytes(b"RIFF" + os.urandom(2_000))
    target = tmp_path / "backup"
    assert cti(_env(src_url, tmp_path / "src"), "backup", "--target", str(target)).returncode == 0

    copy = target / "recordings" / "a.wav"
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
