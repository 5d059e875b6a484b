"""Migrations against a real PostgreSQL: up, no drift from the models, down, up again."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import create_async_engine

from cti.db.metadata import metadata
from cti.db.migrate import downgrade_async, upgrade, upgrade_async
from cti.stack.postgres import PostgresCluster

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def scratch_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A database of its own, so going down to base does not disturb other tests."""
    name = "cti_migrations"
    pg_cluster.drop_database(name)
    pg_cluster.create_database(name)
    try:
        yield pg_cluster.url_for(name)
    finally:
        pg_cluster.drop_database(name)


def _diff(conn: Connection) -> list[Any]:
    ctx = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return list(compare_metadata(ctx, metadata))


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


async def _inspect_db(url: str) -> tuple[set[str], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            tables = await conn.run_sync(_tables)
            diff = await conn.run_sync(_diff)
    finally:
        await engine.dispose()
    return tables, diff


async def test_models_and_migrations_do_not_drift(scratch_url: str) -> None:
    await upgrade_async(scratch_url)
    tables, diff = await _inspect_db(scratch_url)
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert diff == []


async def test_downgrade_to_base_and_up_again(scratch_url: str) -> None:
    await upgrade_async(scratch_url)
    await downgrade_async(scratch_url, "base")
    tables, _ = await _inspect_db(scratch_url)
    assert tables == {"alembic_version"}

    await upgrade_async(scratch_url)
    tables, diff = await _inspect_db(scratch_url)
    assert tables == set(metadata.tables) | {"alembic_version"}
    assert diff == []


def test_blocking_upgrade_is_idempotent(scratch_url: str) -> None:
    upgrade(scratch_url)
    upgrade(scratch_url)  # already at head: nothing to do, no error


def test_alembic_command_line_uses_the_shipped_ini(scratch_url: str) -> None:
    alembic = Path(sys.executable).with_name("alembic")
    res = subprocess.run(
        [str(alembic), "-x", f"url={scratch_url}", "upgrade", "head"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    res = subprocess.run(
        [str(alembic), "-x", f"url={scratch_url}", "current"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    head = sorted(p.name for p in (REPO / "migrations" / "versions").glob("[0-9]*.py"))[-1][:4]
    assert f"{head} (head)" in res.stdout, res.stdout + res.stderr


async def test_stored_caller_ids_are_brought_to_e164(scratch_url: str) -> None:
    """Campaigns saved before caller IDs were normalised: a national one is read in the
    campaign's region (4008001234 went to the trunk as +4008001234, a Romanian number);
    one that is no number is left for a PATCH to fix."""
    from sqlalchemy import text

    await upgrade_async(scratch_url, "0020")
    engine = create_async_engine(scratch_url)
    columns = ("name, mode, caller_id, default_region, windows, max_attempts, retry_delays, "
               "grade_cadences, cap_per_day, cap_per_week, state")
    try:
        async with engine.begin() as conn:
            for name, caller, region in (("cn", "4008001234", "CN"),
                                         ("sh", "02161234567", None),
                                         ("ok", "+862161234567", "CN"),
                                         ("bad", "95", "CN")):
                await conn.execute(text(
                    f"INSERT INTO campaigns ({columns}) VALUES (:n, 'progressive', :c, :r, "
                    "'[]', 3, '{}', '{}', 1, 3, 'draft')"), {"n": name, "c": caller, "r": region})
        await upgrade_async(scratch_url)
        async with engine.connect() as conn:
            found = dict((await conn.execute(text("SELECT name, caller_id FROM campaigns"))).all())
    finally:
        await engine.dispose()
    assert found == {"cn": "+864008001234", "sh": "+862161234567", "ok": "+862161234567",
                     "bad": "95"}
