"""Standing by, leading, and stepping down: the leader lock looked at every ``interval``.

The composition root gives ``lead`` (start driving Asterisk) and ``deposed`` (stop the
process: another replica leads). The first look happens in ``start``, before the API
serves, so a replica alone on its database is ready as soon as it is up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from cti.cluster.roles import HeldBy, Observation, Role, Unreachable, confirms, leads, step
from cti.health import ComponentStatus
from cti.tasks import Background

log = logging.getLogger(__name__)


class Lock(Protocol):
    replica: str

    async def try_acquire(self) -> Observation: ...
    async def confirm(self) -> Observation: ...
    async def release(self) -> None: ...


class Leadership:
    def __init__(self, lock: Lock, *, interval: float, lead: Callable[[], Awaitable[None]],
                 deposed: Callable[[], Awaitable[None]]) -> None:
        self._lock = lock
        self._interval = interval
        self._lead = lead
        self._deposed = deposed
        self.role = Role.STANDBY
        self.leader: str | None = None  # who holds the lock, as last seen by a standby
        self.error: str | None = None  # why the database could not be asked, if so
        self._since = time.monotonic()
        self._task = Background("leadership", self._run)

    @property
    def leads(self) -> bool:
        return leads(self.role)

    async def start(self) -> None:
        await self.look()
        self._task.start()

    async def stop(self) -> None:
        """Stop looking (no takeover while the process stops); the lock stays held."""
        await self._task.stop()

    async def release(self) -> None:
        """Give the lock back: a standby takes over at its next look."""
        await self._lock.release()

    async def look(self) -> None:
        """Look at the lock once and act on what changed."""
        seen = await (self._lock.confirm() if confirms(self.role) else self._lock.try_acquire())
        before, self.role = self.role, step(self.role, seen)
        if isinstance(seen, HeldBy):
            self.leader = seen.holder
        elif leads(self.role):
            self.leader = self._lock.replica
        self.error = seen.error if isinstance(seen, Unreachable) else None
        if self.role is before:
            return
        self._since = time.monotonic()
        match before, self.role:
            case Role.STANDBY, Role.LEADING:
                log.info("replica %s took the leader lock: driving Asterisk",
                         self._lock.replica)
                await self._lead()
            case Role.LEADING, Role.ORPHANED:
                log.warning("replica %s lost its database session (%s): still leading, "
                            "taking the lock back as soon as PostgreSQL answers",
                            self._lock.replica, self.error)
            case Role.ORPHANED, Role.LEADING:
                log.info("replica %s took the leader lock back", self._lock.replica)
            case _, Role.DEPOSED:
                log.critical("replica %s: %s took the leader lock while this replica had "
                             "lost the database; stopping so that only one drives Asterisk",
                             self._lock.replica, self.leader or "another replica")
                await self._deposed()

    async def _run(self) -> None:
        while self.role is not Role.DEPOSED:
            await asyncio.sleep(self._interval)
            try:
                await self.look()
            except Exception:  # taking over failed half-way: let a supervisor restart us
                log.exception("replica %s could not take over", self._lock.replica)
                self.role = Role.DEPOSED
                await self._deposed()

    def health(self) -> ComponentStatus:
        detail: dict[str, object] = {
            "role": self.role.value, "replica": self._lock.replica,
            "since_seconds": round(time.monotonic() - self._since, 1),
        }
        if self.leader is not None:
            detail["leader"] = self.leader
        if self.error is not None:
            detail["error"] = self.error
        return ComponentStatus("leadership", self.leads, detail)
