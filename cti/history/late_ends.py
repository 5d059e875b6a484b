"""Calls whose end nobody saw, settled from Asterisk's channel event log (I/O).

Two kinds of history rows (see :mod:`cti.history.unseen`):

- *stale*: up in history, but Asterisk no longer has the call once a connection is ready
  again (the mirror, just rebuilt from Asterisk's lists, does not hold it): it ended while
  no service followed Asterisk. Each ready connection has its node's stale rows looked at.
- *closed at a reconnect*: the resync's ``ended_unseen`` entry; their figures ran on to
  the reconnect.

Each pass (every ``interval``, on the leading replica only) settles what it can: rows the
history writer still holds are left for a later pass (the writer's own word comes first),
and a call whose log is not complete yet (cel_pgsql writes behind) is looked at again
until ``patience`` has passed. A stale call the log knows nothing of (an Asterisk without
the log, rows swept) is closed at the last time history heard of it, and says so.

Updates are guarded by the row's ``updated_at``: a row the writer changed meanwhile is
left alone. A stale row's ``updated_at`` becomes a second before its end, so the writer's
own record of the end, should it still come, replaces it; a corrected row's, just after
the resync's record it held, which cannot undo the correction (``_settled_stamp``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Row, and_, exists, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.connection import AmiConnection
from cti.db import dialer_repository
from cti.db.engine import DATABASE_DOWN
from cti.db.models import CallEventRow, CallRow
from cti.domain.events import CallTimelineEntry, DomainEvent
from cti.history.unseen import Ending, Recorded, ending
from cti.tasks import Background

log = logging.getLogger(__name__)

ENDED = "ended"
#: The timeline entry of a settled call (the resync's is ``ended_unseen`` too).
STALE_KIND = "ended_unseen"
CORRECTED_KIND = "corrected_from_log"
LEFT_QUEUE_KIND = "left_queue"  # the tracker's: the maximum wait sent the caller on
NO_LOG_GRACE = 10.0  # seconds a call with no log row at all is waited for
# The settled row's updated_at is this long before the end the log gives: the writer's
# own record of the end, stamped with the Hangup it heard (milliseconds from the log's
# time, either side), still replaces it if it comes.
WRITER_MARGIN = 1.0


@dataclass(slots=True)
class _Due:
    first_seen: float
    stale: bool


class LateEnds:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *,
                 trunks: Collection[str], live_ids: Callable[[], Collection[str]],
                 pending_ids: Callable[[], Collection[str]], interval: float = 2.0,
                 patience: float = 120.0, clock: Callable[[], float] = time.time) -> None:
        self._sessions = sessionmaker
        self._trunks = frozenset(trunks)
        self._live_ids = live_ids
        self._pending_ids = pending_ids
        self._interval = interval
        self._patience = patience
        self._clock = clock
        self._due: dict[str, _Due] = {}  # call id -> since when it waits to be settled
        self._nodes: set[str] = set()  # nodes whose stale rows are to be looked for
        self._task = Background("late-ends", self._run)
        self.settled = 0  # calls settled from the log since start
        self.closed_blind = 0  # stale calls the log knew nothing of

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallTimelineEntry) and event.kind == STALE_KIND:
                self._due.setdefault(event.call_id, _Due(self._clock(), stale=False))

    async def on_ready(self, conn: AmiConnection) -> None:
        self._nodes.add(conn.name)

    def start(self) -> None:
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.settle()
            except DATABASE_DOWN as exc:  # the next pass tries again
                log.warning("could not settle calls from the channel event log: %s", exc)
            except Exception:
                log.exception("settling calls from the channel event log failed")

    async def settle(self) -> None:
        """One pass: look for stale rows of the nodes that came back, then settle every
        call due whose log is complete and whose row the writer no longer holds."""
        held = set(self._pending_ids())
        async with self._sessions() as session:
            for node in sorted(self._nodes):
                # The mirror and the writer, asked together right before the query: a
                # call they hold is followed; one that left both is in its row already.
                followed = set(self._live_ids()) | held
                for call_id in await _stale_ids(session, node, followed):
                    self._due.setdefault(call_id, _Due(self._clock(), stale=True))
            self._nodes.clear()
            ready = [i for i in self._due if i not in held]
            if not ready:
                return
            rows = await _rows(session, ready)
            logs = await dialer_repository.channel_events(
                session, [r.linkedid for r in rows.values()])
        now = self._clock()
        # Asked again after the reads: a reconnect may have found a call up meanwhile.
        followed = set(self._live_ids()) | set(self._pending_ids())
        for call_id in ready:
            due = self._due[call_id]
            if now - due.first_seen < self._interval:
                # Found this pass: the writer may not have taken the call's last records
                # yet (a resync's end among them), which must reach the row first.
                continue
            row = rows.get(call_id)
            if row is None or (row.state == ENDED) == due.stale:
                del self._due[call_id]  # gone, or the writer recorded its end itself
                continue
            events = logs.get(row.linkedid, [])
            settled = ending(_recorded(row), events, self._trunks)
            # A log still being written (or a channel still up) is waited for; a call it
            # has no row of at all, only briefly (cel_pgsql writes milliseconds behind).
            if settled is None and now - due.first_seen < (
                    self._patience if events else min(self._patience, NO_LOG_GRACE)):
                continue
            if call_id in followed:
                del self._due[call_id]  # followed again (a reconnect found it up)
                continue
            if settled is None and events:
                # A channel of it has no end in the log after all this time: up still, or
                # its end lost. Closing it blind could end a live call; the next reconnect
                # looks again.
                del self._due[call_id]
                log.warning("call %s: its channel event log shows a channel with no end; "
                            "left as history holds it", call_id)
                continue
            async with self._sessions() as session, session.begin():
                done = await self._apply(session, row, settled, due.stale)
            del self._due[call_id]
            if done:
                log.info("call %s settled from the channel event log: %s", call_id,
                         ", ".join(settled.changed) if settled else "closed without a log")

    async def _apply(self, session: AsyncSession, row: Row[Any], settled: Ending | None,
                     stale: bool) -> bool:
        if settled is None:
            if not stale:
                return False  # closed at the reconnect, and the log cannot say better
            # Nothing to go by: closed at the last time history heard of it.
            settled = Ending(row.updated_at.timestamp(), _epoch(row.answered_at), row.seat_id,
                             row.wait_seconds, row.talk_seconds, row.abandoned, ("ended_at",))
            self.closed_blind += 1
            source = "none: the channel event log has no rows for this call"
        elif not settled.changed:
            return False
        else:
            self.settled += 1
            source = "channel event log"
        end = _dt(settled.ended_at)
        result = await session.execute(
            update(CallRow)
            .where(and_(CallRow.id == row.id, CallRow.updated_at == row.updated_at))
            .values(state=ENDED, ended_at=end, answered_at=_dt(settled.answered_at),
                    seat_id=settled.seat_id, wait_seconds=settled.wait_seconds,
                    talk_seconds=settled.talk_seconds, abandoned=settled.abandoned,
                    updated_at=_settled_stamp(row, settled, stale)))
        if not getattr(result, "rowcount", 0):
            return False  # the writer changed it meanwhile: its word stands
        detail: dict[str, Any] = {"source": source, "changed": list(settled.changed)}
        if stale:
            detail["reason"] = "ended while no service followed Asterisk"
        else:
            detail["closed_at"] = row.ended_at.isoformat() if row.ended_at else None
        await session.execute(insert(CallEventRow).values(
            call_id=row.id, kind=STALE_KIND if stale else CORRECTED_KIND, at=end,
            seat_id=settled.seat_id, skill_group=row.skill_group, detail=detail))
        return True

    @property
    def waiting(self) -> int:
        return len(self._due)


async def _stale_ids(session: AsyncSession, node: str, followed: Collection[str]) -> list[str]:
    rows = await session.execute(
        select(CallRow.id).where(CallRow.node == node, CallRow.state != ENDED))
    return [i for (i,) in rows if i not in followed]


async def _rows(session: AsyncSession, ids: Collection[str]) -> Mapping[str, Any]:
    left_queue = exists().where(CallEventRow.call_id == CallRow.id,
                                CallEventRow.kind == LEFT_QUEUE_KIND)
    rows = await session.execute(
        select(CallRow.id, CallRow.linkedid, CallRow.state, CallRow.direction,
               CallRow.seat_id, CallRow.skill_group, CallRow.queued_at, CallRow.answered_at,
               CallRow.ended_at, CallRow.wait_seconds, CallRow.talk_seconds,
               CallRow.abandoned, CallRow.updated_at, left_queue.label("left_queue"))
        .where(CallRow.id.in_(list(ids))))
    return {r.id: r for r in rows}


def _recorded(row: Row[Any]) -> Recorded:
    return Recorded(row.id, row.linkedid, row.seat_id, _epoch(row.queued_at),
                    _epoch(row.answered_at), _epoch(row.ended_at) if row.state == ENDED
                    else None, row.wait_seconds, row.talk_seconds, row.abandoned,
                    inbound=row.direction == "inbound", left_queue=bool(row.left_queue))


def _settled_stamp(row: Any, settled: Ending, stale: bool) -> datetime:
    """The settled row's ``updated_at``. Stale (the tracker never heard its end): a second
    before the log's end, so the tracker's own record, stamped with the Hangup it heard,
    still replaces it if it comes. Closed at a reconnect: just after the resync's record,
    which the row holds, so that record, should the writer write it again, cannot undo
    the correction (no better record can come: the hangup was never heard)."""
    if stale:
        return datetime.fromtimestamp(settled.ended_at - WRITER_MARGIN, UTC)
    return cast(datetime, row.updated_at) + timedelta(milliseconds=1)


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def _dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)
