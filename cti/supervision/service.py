"""Supervision sessions: start, change mode, stop; ended from the live events.

Every session is audited in ``supervision_sessions`` before Asterisk is asked anything, so
an attempt that fails is on record too. A session ends, with the time the events carry,
when the supervisor's leg ends (``CallEnded`` of the leg's own call id), when the agent's
call ends, or when its phone never rang; stop hangs the leg up and waits for that end.

Mode changes are audited whichever way they are made: through the API (``change_mode``,
``via: api``) or by keys pressed on the supervisor's phone (DTMF 4/5/6, which ChanSpy's
``d`` option acts on by itself; the service sees them as ``DtmfReceived`` on the leg and
records them, ``via: phone``). The API's own change is made with a digit received on the
same leg; it holds the session's lock until its audit is written, and a digit is recorded
only if it changes the audited mode, so that digit is never recorded twice.

The bus subscriber runs inside the live consumer: it only picks the events that concern an
open session and enqueues them; one owned task consumes them and writes the audit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiError
from cti.bus import Bus
from cti.db import repositories
from cti.db.engine import session_or
from cti.domain.events import (
    CallEnded,
    CallUpdated,
    DomainEvent,
    DtmfReceived,
    NodeConnectionChanged,
)
from cti.domain.model import SUPERVISION_LEG_PREFIX, Call, Seat
from cti.supervision import repository as repo
from cti.supervision import rules
from cti.supervision.errors import (
    CallNotFound,
    CallNotLive,
    PhoneBusy,
    PhoneInvalid,
    SessionEnded,
    SessionNotConnected,
    SessionNotFound,
    Unavailable,
)
from cti.supervision.rules import EndReason, Mode
from cti.telephony.phones import phone_state

log = logging.getLogger(__name__)



def _unavailable(_: BaseException) -> Unavailable:
    return Unavailable("the database is unavailable", component="database")


class LiveTelephony(Protocol):
    """What supervision needs from the live core (``cti.live.LiveCore``)."""

    def seats(self) -> Mapping[str, Seat]: ...

    def active_calls(self) -> Mapping[str, Call]: ...

    def connection(self, node: str) -> AmiConnection: ...

    def devices(self) -> Mapping[str, Mapping[str, str]]: ...


@dataclass(eq=False)
class _Open:
    """An open session as the consumer tracks it."""

    id: str
    call_id: str
    node: str
    phone_seat_id: str
    channel_id: str
    started_at: float
    seen: bool = False  # the supervisor's leg appeared in the events
    stop_requested: bool = False
    agent_uniqueid: str | None = None  # the spied channel (None: recovered after a restart)
    done: asyncio.Event = field(default_factory=asyncio.Event)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def spy_call_id(self) -> str:
        return rules.spy_call_id(self.node, self.channel_id)


@dataclass(frozen=True, slots=True)
class _Deadline:
    session_id: str


class SupervisionService:
    def __init__(
        self,
        live: LiveTelephony,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], float] = time.time,
        ring_timeout_ms: int = rules.RING_TIMEOUT_MS,
        stop_wait: float = 5.0,
        trunk_endpoints: Collection[str],
    ) -> None:
        self._live = live
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._ring_timeout_ms = ring_timeout_ms
        self._stop_wait = stop_wait
        self._trunks = frozenset(trunk_endpoints)  # PJSIP endpoints that are no phones
        self._open: dict[str, _Open] = {}
        self._by_spy: dict[str, _Open] = {}
        self._queue: asyncio.Queue[DomainEvent | _Deadline] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._timers: set[asyncio.TimerHandle] = set()
        # One start at a time: the phone-busy check and the tracking must not interleave.
        self._begin_lock = asyncio.Lock()

    # --- lifecycle -----------------------------------------------------------------

    def attach(self, bus: Bus) -> None:
        bus.subscribe("supervision", self._on_events)

    async def start(self) -> None:
        """Take over sessions left open by a previous run, then consume events.

        They count as seen: the first resync of their node ends those whose leg is gone.
        """
        try:
            async with self._db() as db:
                for r in await repo.open_sessions(db):
                    self._track(_Open(r.id, r.call_id, r.node, r.phone_seat_id,
                                      r.spy_channel_id, r.started_at.timestamp(), seen=True))
        except Unavailable:
            log.warning("supervision: database unavailable, open sessions not reloaded")
        self._task = asyncio.create_task(self._consume(), name="supervision")

    async def close(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # --- commands ------------------------------------------------------------------

    async def begin(self, supervisor: str, supervisor_seat: str | None, call_id: str,
                    mode: Mode, phone: str | None) -> repo.SessionRecord:
        async with self._begin_lock:
            return await self._begin(supervisor, supervisor_seat, call_id, mode, phone)

    async def _begin(self, supervisor: str, supervisor_seat: str | None, call_id: str,
                     mode: Mode, phone: str | None) -> repo.SessionRecord:
        live = self._live.active_calls().get(call_id)
        if live is None:
            await self._known_call(call_id)
        call = rules.monitorable(live, call_id)
        assert call.seat_id is not None  # monitorable() checked it
        phone_seat, interface = await self._phone(phone or supervisor_seat, call)
        if any(o.phone_seat_id == phone_seat for o in self._open.values()):
            raise PhoneBusy(f"seat {phone_seat!r} is already supervising a call",
                            phone=phone_seat)
        agent = self._live.seats().get(call.seat_id)
        agent_interface = agent.interface if agent else f"PJSIP/{call.seat_id}"
        conn = self._live.connection(call.node)
        try:
            target = rules.agent_channel(await actions.channels(conn), call.linkedid,
                                         agent_interface)
        except AmiError as exc:
            raise Unavailable(f"Asterisk: {exc}", component=f"ami:{call.node}") from exc
        if target is None:
            raise CallNotLive(f"the agent's channel of call {call_id!r} is gone",
                              call_id=call_id)

        session_id = uuid.uuid4().hex
        now = self._clock()
        record = repo.SessionRecord(
            id=session_id, call_id=call_id, node=call.node, supervisor=supervisor,
            phone_seat_id=phone_seat, agent_seat_id=call.seat_id, agent_channel=target.name,
            spy_channel_id=f"{SUPERVISION_LEG_PREFIX}{session_id}", mode=mode.value,
            mode_changes=[_change(mode, now, supervisor, "api")], started_at=repo.at(now),
            ended_at=None, end_reason=None, duration_seconds=None,
        )
        async with self._db() as db:
            await repo.insert(db, record)
        opened = self._track(_Open(session_id, call_id, call.node, phone_seat,
                                   record.spy_channel_id, now,
                                   agent_uniqueid=target.uniqueid))
        log.info("supervision %s: %s %s call %s (agent %s, channel %s) from seat %s",
                 session_id, supervisor, mode.value, call_id, call.seat_id, target.name,
                 phone_seat)
        try:
            await actions.originate_to_dialplan(
                conn, interface=interface, context=rules.CONTEXT, exten=mode.value,
                channel_id=record.spy_channel_id,
                variables={"CTI_SPY_TARGET": target.name, "CTI_SESSION": session_id},
                caller_id_name=f"Supervision {call.seat_id}", caller_id_number=call.seat_id,
                timeout_ms=self._ring_timeout_ms,
            )
        except AmiError as exc:
            await self._end(opened, self._clock(), EndReason.FAILED)
            raise Unavailable(f"Asterisk did not ring seat {phone_seat}: {exc}",
                              component=f"ami:{call.node}") from exc
        # A phone that never rings leaves no events: end the session after the timeout.
        delay = self._ring_timeout_ms / 1000 + 10
        timer = asyncio.get_running_loop().call_later(
            delay, self._queue.put_nowait, _Deadline(session_id))
        self._timers.add(timer)
        return record

    async def change_mode(self, supervisor: str, call_id: str, session_id: str,
                          mode: Mode) -> repo.SessionRecord:
        record = await self._session(call_id, session_id)
        opened = self._open.get(session_id)
        if record.ended_at is not None or opened is None:
            raise SessionEnded(f"session {session_id!r} has ended", session_id=session_id)
        async with opened.lock:
            record = await self._session(call_id, session_id)
            if record.mode == mode.value:
                return record
            conn = self._live.connection(opened.node)
            try:
                leg = next((c for c in await actions.channels(conn)
                            if c.uniqueid == opened.channel_id), None)
                if leg is None or leg.state != rules.CHANNEL_UP or leg.application != "ChanSpy":
                    raise SessionNotConnected(
                        f"the supervisor's phone (seat {opened.phone_seat_id}) is not "
                        "connected yet", session_id=session_id)
                await actions.play_dtmf(conn, opened.channel_id, rules.DTMF[mode])
            except AmiError as exc:
                raise Unavailable(f"Asterisk: {exc}", component=f"ami:{opened.node}") from exc
            async with self._db() as db:
                if not await repo.set_mode(db, session_id, mode.value,
                                           _change(mode, self._clock(), supervisor, "api")):
                    raise SessionEnded(f"session {session_id!r} has ended",
                                       session_id=session_id)
            log.info("supervision %s: %s switched to %s", session_id, supervisor, mode.value)
        return await self._session(call_id, session_id)

    async def stop(self, call_id: str, session_id: str) -> repo.SessionRecord:
        """Hang up the supervisor's leg and wait (bounded) for its end to be recorded."""
        record = await self._session(call_id, session_id)
        opened = self._open.get(session_id)
        if record.ended_at is not None or opened is None:
            return record
        opened.stop_requested = True
        try:
            await actions.hangup(self._live.connection(opened.node), opened.channel_id)
        except AmiActionFailed:
            # No such channel: gone already (its end is on its way) or never created.
            if not opened.seen:
                await self._end(opened, self._clock(), EndReason.STOPPED)
        except AmiError as exc:
            opened.stop_requested = False
            raise Unavailable(f"Asterisk: {exc}", component=f"ami:{opened.node}") from exc
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(opened.done.wait(), self._stop_wait)
        return await self._session(call_id, session_id)

    async def session(self, call_id: str, session_id: str) -> repo.SessionRecord:
        return await self._session(call_id, session_id)

    async def sessions(self, call_id: str) -> list[repo.SessionRecord]:
        async with self._db() as db:
            found = await repo.for_call(db, call_id)
        if not found and call_id not in self._live.active_calls():
            await self._known_call(call_id)
        return found

    # --- helpers -------------------------------------------------------------------

    def _db(self) -> AbstractAsyncContextManager[AsyncSession]:
        return session_or(self._sessionmaker, _unavailable)

    async def _known_call(self, call_id: str) -> None:
        """404 for an id nobody knows; returns for a call only history knows."""
        async with self._db() as db:
            if await repositories.get_call(db, call_id) is None:
                raise CallNotFound(f"call {call_id!r} not found", call_id=call_id)

    async def _session(self, call_id: str, session_id: str) -> repo.SessionRecord:
        async with self._db() as db:
            record = await repo.get(db, session_id)
        if record is None or record.call_id != call_id:
            raise SessionNotFound(f"session {session_id!r} not found on call {call_id!r}",
                                  session_id=session_id)
        return record

    async def _phone(self, seat_id: str | None, call: Call) -> tuple[str, str]:
        """The supervisor's phone: a configured seat (or one Asterisk reports)."""
        if seat_id is None:
            raise PhoneInvalid("the supervisor has no seat: name the phone seat", field="phone")
        if seat_id in self._trunks:  # the leg would call out through the carrier
            raise PhoneInvalid(f"{seat_id!r} is the carrier trunk, not a seat", field="phone")
        async with self._db() as db:
            configured = await repositories.get_seat(db, seat_id)
        live = self._live.seats().get(seat_id)
        if configured is not None:
            interface, node = configured.interface, configured.node
        elif live is not None:
            interface, node = live.interface, live.node
        else:
            raise PhoneInvalid(f"seat {seat_id!r} is not a configured seat", field="phone")
        rules.check_phone(seat_id, interface, node, call,
                          phone_state(self._live.devices(), node, interface))
        return seat_id, interface

    def _track(self, opened: _Open) -> _Open:
        self._open[opened.id] = opened
        self._by_spy[opened.spy_call_id] = opened
        return opened

    # --- events --------------------------------------------------------------------

    def _on_events(self, events: Sequence[DomainEvent]) -> None:
        """Bus subscriber (inside the live consumer): pick, enqueue, return."""
        if not self._open:
            return
        calls = {o.call_id for o in self._open.values()}
        for event in events:
            if isinstance(event, CallUpdated | CallEnded):
                if event.call.id in self._by_spy or event.call.id in calls:
                    self._queue.put_nowait(event)
            elif isinstance(event, DtmfReceived):
                if event.call_id in self._by_spy:  # the supervisor's leg: keys pressed
                    self._queue.put_nowait(event)
            elif isinstance(event, NodeConnectionChanged) and event.connected:
                self._queue.put_nowait(event)

    async def _consume(self) -> None:
        while True:
            item = await self._queue.get()
            try:
                await self._apply(item)
            except Exception:
                log.exception("supervision: failed on %s", type(item).__name__)

    async def _apply(self, item: DomainEvent | _Deadline) -> None:
        if isinstance(item, _Deadline):
            opened = self._open.get(item.session_id)
            if opened is not None and not opened.seen:
                await self._end(opened, self._clock(), EndReason.FAILED)
        elif isinstance(item, CallUpdated):
            if (opened := self._by_spy.get(item.call.id)) is not None:
                opened.seen = True
        elif isinstance(item, CallEnded):
            if (opened := self._by_spy.get(item.call.id)) is not None:
                call_ended = rules.spied_call_over(
                    self._live.active_calls().get(opened.call_id), opened.agent_uniqueid)
                reason = rules.end_reason(stop_requested=opened.stop_requested,
                                          call_ended=call_ended, seen=True)
                await self._end(opened, item.at, reason)
            for o in [o for o in self._open.values() if o.call_id == item.call.id]:
                await self._end(o, item.at, EndReason.CALL_ENDED)
                # ChanSpy's E option hangs up an answered leg; one still ringing is ours.
                with contextlib.suppress(AmiError):
                    await actions.hangup(self._live.connection(o.node), o.channel_id)
        elif isinstance(item, NodeConnectionChanged):
            await self._reconcile(item.node, item.at)
        elif isinstance(item, DtmfReceived):
            opened = self._by_spy.get(item.call_id)
            mode = rules.mode_of_digit(item.digit)
            if opened is not None and mode is not None and item.uniqueid == opened.channel_id:
                await self._pressed(opened, mode, item.at)

    async def _pressed(self, opened: _Open, mode: Mode, at: float) -> None:
        """The supervisor pressed a mode key on the phone: ChanSpy switched; audit it."""
        # The lock: after an API change in progress has written its audit.
        async with opened.lock, self._db() as db:
            record = await repo.get(db, opened.id)
            if record is None or record.ended_at is not None or record.mode == mode.value:
                return
            await repo.set_mode(db, opened.id, mode.value,
                                _change(mode, at, record.supervisor, "phone"))
        log.info("supervision %s: %s switched to %s on the phone (seat %s)", opened.id,
                 record.supervisor, mode.value, opened.phone_seat_id)

    async def _reconcile(self, node: str, at: float) -> None:
        """After a resync: sessions whose leg Asterisk no longer has ended unseen."""
        live = self._live.active_calls()
        grace = self._ring_timeout_ms / 1000 + 10
        for o in [o for o in self._open.values() if o.node == node]:
            if o.spy_call_id not in live and (o.seen or at - o.started_at > grace):
                await self._end(o, at, EndReason.LOST)

    async def _end(self, opened: _Open, at: float, reason: EndReason) -> None:
        if self._open.pop(opened.id, None) is None:
            return
        self._by_spy.pop(opened.spy_call_id, None)
        duration = rules.duration_seconds(opened.started_at, at)
        delay = 0.5
        while True:  # the audit must get its end: retry through a database outage
            try:
                async with self._db() as db:
                    await repo.end(db, opened.id, repo.at(at), reason.value, duration)
                break
            except Unavailable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        opened.done.set()
        log.info("supervision %s ended: %s after %ds", opened.id, reason.value, duration)


def _change(mode: Mode, at: float, by: str, via: str) -> dict[str, str]:
    """One audited mode change: which, when, who, and how (``api`` or ``phone``)."""
    return {"mode": mode.value, "at": repo.at(at).isoformat(), "by": by, "via": via}
