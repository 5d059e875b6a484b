"""Database sessions for the REST services: an unreachable database is a 503."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.errors import Unavailable
from cti.db.engine import session_or


def _unavailable(_: BaseException) -> Unavailable:
    return Unavailable("database")


def db_session(
    maker: async_sessionmaker[AsyncSession],
) -> AbstractAsyncContextManager[AsyncSession]:
    return session_or(maker, _unavailable)
