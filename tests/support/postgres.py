"""pytest plugin: a real PostgreSQL cluster for the whole session, migrated once.

Fixtures:

- ``pg_cluster`` (session): a throwaway cluster in a temporary directory (fsync off),
  started via :mod:`cti.stack.postgres`; tests may stop and start it (outages).
- ``pg_url`` (session): URL of the ``cti`` database, migrated to head.
- ``db_engine`` (function): an engine on that database with every table emptied first.
- ``db_sessionmaker`` / ``db_session`` (function): sessions on ``db_engine``.

Fails with a clear message when no PostgreSQL server binaries are installed.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cti.config import DatabaseSettings
from cti.db.engine import make_engine, make_sessionmaker
from cti.db.migrate import upgrade
from cti.db.models import Base
from cti.stack.postgres import PostgresCluster, PostgresNotFound, find_bindir


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        find_bindir()
    except PostgresNotFound as exc:
        pytest.fail(f"no PostgreSQL for the tests: {exc}", pytrace=False)
    # mkdtemp gives a directory directly under /tmp, reachable by the postgres OS user
    # (pytest's tmp_path lives under a root-only directory).
    cluster = PostgresCluster(tempfile.mkdtemp(prefix="cti-pg-"), durable=False)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def pg_url(pg_cluster: PostgresCluster) -> str:
    upgrade(pg_cluster.url)
    return pg_cluster.url


@pytest.fixture
async def db_engine(pg_cluster: PostgresCluster, pg_url: str) -> AsyncIterator[AsyncEngine]:
    if not pg_cluster.is_running():  # an outage test that failed half-way
        pg_cluster.start()
    engine = make_engine(DatabaseSettings(url=pg_url))
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def db_sessionmaker(db_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(db_engine)


@pytest.fixture
async def db_session(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    async with db_sessionmaker() as session:
        yield session
