"""An unreachable database becomes the boundary's own error; a wrong query does not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, cast

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.errors import Unavailable
from cti.api.sessions import db_session
from cti.db.engine import session_or


class Down(Exception):
    pass


def maker_failing_with(error: BaseException) -> async_sessionmaker[AsyncSession]:
    @asynccontextmanager
    async def session() -> AsyncIterator[Any]:
        raise error
        yield  # pragma: no cover

    return cast(async_sessionmaker[AsyncSession], session)


@pytest.mark.parametrize("error", [
    sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()),
    sa_exc.InterfaceError("SELECT 1", {}, Exception("connection is closed")),
    sa_exc.TimeoutError("QueuePool limit reached"),
    ConnectionRefusedError(111, "refused"),
    TimeoutError(),
])
async def test_an_unreachable_database_is_the_callers_error(error: BaseException) -> None:
    with pytest.raises(Down) as raised:
        async with session_or(maker_failing_with(error), lambda exc: Down(str(exc))):
            pass
    assert raised.value.__cause__ is error


async def test_a_wrong_query_stays_a_bug() -> None:
    error = sa_exc.ProgrammingError("SELEC 1", {}, Exception("syntax error"))
    with pytest.raises(sa_exc.ProgrammingError):
        async with session_or(maker_failing_with(error), lambda exc: Down(str(exc))):
            pass


async def test_rest_services_answer_503_database() -> None:
    error = sa_exc.OperationalError("SELECT 1", {}, ConnectionRefusedError())
    with pytest.raises(Unavailable) as raised:
        async with db_session(maker_failing_with(error)):
            pass
    assert raised.value.status == 503
