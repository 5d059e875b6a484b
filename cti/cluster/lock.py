"""The database's leader lock: a PostgreSQL session-level advisory lock on a connection of
its own.

PostgreSQL frees a session's advisory locks when the session ends, however it ends: a
clean stop, a crash (the socket closes), or a network cut once TCP keepalive gives up on
it (asked here to within about 11 s, instead of the kernel's two hours). That is what
lets a standby take over without anyone writing a heartbeat.

The connection runs in autocommit: a session idle in a transaction for a whole shift
would hold back VACUUM on every table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from cti.cluster.roles import Acquired, Held, HeldBy, Observation, Unreachable

log = logging.getLogger(__name__)

#: The advisory lock's key, one per database ("cti" and 0: the service's own range, see
#: cti.db.inbound_repository for another). Below 2**32, so pg_locks shows it in objid.
LEADER_LOCK_KEY = 0x637469_00

#: The replica's name is the session's application_name: what a standby reports as the
#: leader, read from pg_stat_activity. Prefixed so other tools' sessions never match.
APPLICATION_PREFIX = "cti-leader:"

# Server-side TCP keepalive for the lock's session: idle 5 s, then 3 probes 2 s apart.
KEEPALIVE = {"tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2",
             "tcp_keepalives_count": "3"}

_HOLDER = text("""
    SELECT l.pid, a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid = 0 AND l.objid = :key
      AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
""")


class LeaderLock:
    """Takes, confirms and gives back the leader lock; each call answers within
    ``timeout`` seconds with what it saw (never raises for an unreachable database).

    A confirmation that does not answer in time is not given up: the session, and so the
    lock, lives for as long as PostgreSQL keeps it, and its answer is taken at the next
    look (a slow database or a stalled event loop must not free the lock by itself). The
    session is given up only when it fails. A session this lock gave up may outlive it on
    the server for a while (a cut network): found holding the lock, it is ended, never
    taken for another replica's.
    """

    def __init__(self, url: str, replica: str, *, timeout: float,
                 idle_limit: float | None = None) -> None:
        self.replica = replica
        self._timeout = timeout
        self._idle_limit = idle_limit
        self._engine: AsyncEngine = create_async_engine(
            url, poolclass=NullPool,
            connect_args={"server_settings": {
                "application_name": f"{APPLICATION_PREFIX}{replica}"[:63], **KEEPALIVE}},
        )
        self._conn: AsyncConnection | None = None
        self._pid: int | None = None  # the session's backend
        self._holding = False  # the session took the lock
        self._asking: asyncio.Future[Any] | None = None  # a confirmation in flight
        self._given_up: set[int] = set()  # backends of this lock's earlier sessions

    async def try_acquire(self) -> Observation:
        if self._holding:  # orphaned, with the session kept: does it answer again?
            seen = await self.confirm()
            if isinstance(seen, Held):
                return Acquired()
            if self._conn is not None:
                return seen  # still no answer: the session may yet hold the lock
        try:
            return await asyncio.wait_for(self._try_acquire(), self._timeout)
        except Exception as exc:  # down, restarting, shut down by an admin, too slow
            await self._drop()
            return Unreachable(_describe(exc))

    async def confirm(self) -> Observation:
        """``Held`` while the session holding the lock answers."""
        if self._conn is None or not self._holding:
            return Unreachable("no session")
        asking = self._asking
        if asking is None:
            asking = self._asking = asyncio.ensure_future(
                self._conn.execute(text("SELECT 1")))
        done, _ = await asyncio.wait({asking}, timeout=self._timeout)
        if not done:
            return Unreachable("no answer in time")
        self._asking = None
        if (exc := asking.exception()) is not None:  # the session failed: its lock is gone
            await self._drop()
            return Unreachable(_describe(exc))
        return Held()

    async def release(self) -> None:
        """End the session, which frees the lock at once (a standby need not wait)."""
        await self._drop()
        await self._engine.dispose()

    async def _try_acquire(self) -> Observation:
        if self._conn is None:
            conn = await (await self._engine.connect()).execution_options(
                isolation_level="AUTOCOMMIT")
            self._conn = conn
            self._pid = await conn.scalar(text("SELECT pg_backend_pid()"))
            if self._idle_limit is not None:
                await self._limit_idleness(conn, self._idle_limit)
        conn = self._conn
        for _ in range(2):
            if await conn.scalar(text("SELECT pg_try_advisory_lock(:key)"),
                                 {"key": LEADER_LOCK_KEY}):
                self._holding = True
                return Acquired()
            holder = (await conn.execute(_HOLDER, {"key": LEADER_LOCK_KEY})).first()
            if holder is None:
                continue  # freed between the two questions: ask again
            if holder.pid in self._given_up:
                # This lock's own earlier session, which the server has not seen go yet.
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"),
                                   {"pid": holder.pid})
                return Unreachable("an earlier session of this replica still held the "
                                   "lock: ended it")
            name = holder.application_name
            # The standby's session is kept for its next try: a standby asks every second.
            return HeldBy(name.removeprefix(APPLICATION_PREFIX)
                          if isinstance(name, str) and name.startswith(APPLICATION_PREFIX)
                          else None)
        return Unreachable("the lock was taken and freed as it was asked for")

    @staticmethod
    async def _limit_idleness(conn: AsyncConnection, seconds: float) -> None:
        """Have PostgreSQL end the session once it has been idle ``seconds``: a leader
        whose process hangs (a blocked event loop, a paused VM) stops confirming, and its
        kernel would keep answering TCP keepalive for it for ever. (PostgreSQL 14 and
        later; an older one keeps the session, and says so once.)"""
        try:
            await conn.execute(text(f"SET idle_session_timeout = {int(seconds * 1000)}"))
        except Exception as exc:
            log.warning("the leader lock's session cannot be limited in idleness (%s): a "
                        "replica whose process hangs keeps the lock", _describe(exc))

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        asking, self._asking = self._asking, None
        if self._pid is not None:
            self._given_up.add(self._pid)
        self._pid, self._holding = None, False
        if asking is not None:
            asking.cancel()
        if conn is None:
            return
        # A session that stopped answering may not answer a close either.
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), self._timeout)
        with contextlib.suppress(Exception):
            await conn.invalidate()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    return f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
