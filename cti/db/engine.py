"""The async engine and session factory, built from :class:`DatabaseSettings`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cti.config import DatabaseSettings


def make_engine(settings: DatabaseSettings, **kwargs: Any) -> AsyncEngine:
    """An asyncpg engine that checks pooled connections before use (PostgreSQL restarts)."""
    options: dict[str, Any] = {"pool_pre_ping": True, "pool_size": 5, "max_overflow": 10}
    options.update(kwargs)
    return create_async_engine(settings.url, **options)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
