"""The async engine and session factory, built from :class:`DatabaseSettings`, and what
an unreachable database looks like to the code that uses them."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cti.config import DatabaseSettings

log = logging.getLogger(__name__)


def make_engine(settings: DatabaseSettings, **kwargs: Any) -> AsyncEngine:
    """An asyncpg engine that checks pooled connections before use (PostgreSQL restarts)."""
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    options.update(kwargs)
    return create_async_engine(settings.url, **options)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


#: Failures that mean "the database cannot be reached right now" (down, restarting, the
#: pool exhausted), not "our query is wrong": the latter stay errors so bugs are seen.
DATABASE_DOWN: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.TimeoutError,  # pool exhausted
    OSError,
    TimeoutError,
)


@asynccontextmanager
async def session_or(
    maker: async_sessionmaker[AsyncSession], unavailable: Callable[[BaseException], Exception]
) -> AsyncIterator[AsyncSession]:
    """A session; an unreachable database is logged and raised as `unavailable(exc)`,
    the boundary's own error (a 503 over REST)."""
    try:
        async with maker() as session:
            yield session
    except DATABASE_DOWN as exc:
        log.warning("database unavailable: %s", exc)
        raise unavailable(exc) from exc
