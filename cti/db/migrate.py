"""Run the Alembic migrations programmatically (``upgrade(url)``) or from a running loop.

The migrations live in ``migrations/`` at the top of the repository, next to ``cti/``;
``alembic.ini`` there makes the ``alembic`` command work as well.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

log = logging.getLogger(__name__)

_Runner = Callable[[Config], None]

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic config pointing at the shipped migrations and the given database."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise FileNotFoundError(f"Alembic migrations not found in {MIGRATIONS_DIR}")
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision`` (blocking; no running loop)."""
    log.info("migrating database up to %s", revision)
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    log.info("migrating database down to %s", revision)
    command.downgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    """Same as :func:`upgrade`, from inside a running event loop."""
    await _run_async(url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade_async(url: str, revision: str = "base") -> None:
    await _run_async(url, lambda cfg: command.downgrade(cfg, revision))


async def _run_async(url: str, run: _Runner) -> None:
    cfg = alembic_config(url)
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:

            def _in_sync(sync_conn: Connection) -> None:
                cfg.attributes["connection"] = sync_conn
                run(cfg)

            await conn.run_sync(_in_sync)
    finally:
        await engine.dispose()
