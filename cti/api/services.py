"""What the REST routes ask for, answered from the live mirror and from PostgreSQL.

The live mirror (:class:`cti.domain.view.LiveView`) says what happens now; PostgreSQL (via
:class:`cti.api.store.Store`) holds configuration and history. Where both know a thing,
the live mirror wins. A call that has left the mirror and whose end the history writer
has not written yet is answered from the writer's :class:`PendingCalls`, which also win
over the call's older row in history. A call's timeline is history's plus the entries
the writer has not written yet (:mod:`cti.api.timeline`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Collection, Sequence

from cti.api.auth import Caller, listed_seat
from cti.api.errors import NotFound, Unavailable
from cti.api.paging import merge_page, store_window
from cti.api.schemas import (
    CallDetailOut,
    CallOut,
    CallStatusFilter,
    ComponentOut,
    Page,
    ReadinessOut,
    SeatOut,
    SkillGroupOut,
    TimelineEntryOut,
    epoch_to_datetime,
)
from cti.api.store import CallFilter, ConfiguredSeat, ConfiguredSkillGroup, Store
from cti.api.timeline import merge_timeline
from cti.domain.model import Call, is_supervision_leg
from cti.domain.view import LiveView
from cti.health import HealthReporter, statuses
from cti.history.pending import PendingCalls

logger = logging.getLogger(__name__)


async def _configured_seats(store: Store) -> dict[str, ConfiguredSeat]:
    """Configured seats, or none while the database is down: live state comes from
    Asterisk, so a wallboard keeps working through a database outage."""
    try:
        return {c.id: c for c in await store.seats()}
    except Unavailable:
        logger.warning("database unavailable: serving live seats only")
        return {}


async def _configured_groups(store: Store) -> dict[str, ConfiguredSkillGroup]:
    try:
        return {c.name: c for c in await store.skill_groups()}
    except Unavailable:
        logger.warning("database unavailable: serving live skill groups only")
        return {}


class SeatService:
    def __init__(self, live: LiveView, store: Store, *, trunks: Collection[str] = ()) -> None:
        self._live = live
        self._store = store
        # The carrier's endpoints: an older version took them for seats (and stored them)
        self._trunks = frozenset(trunks)

    async def list(self) -> list[SeatOut]:
        """Seats Asterisk knows, plus configured ones it does not know yet (offline)."""
        live = self._live.seats()
        configured = await _configured_seats(self._store)
        seats = {
            seat_id: SeatOut.from_live(seat, _seat_name(configured.get(seat_id)))
            for seat_id, seat in live.items() if seat_id not in self._trunks
        }
        for c in configured.values():
            if c.id not in seats and c.id not in self._trunks:
                seats[c.id] = SeatOut.configured_only(c.id, c.node, c.interface, c.display_name)
        return [seats[k] for k in sorted(seats)]

    async def get(self, seat_id: str) -> SeatOut:
        if seat_id in self._trunks:
            raise NotFound("seat", seat_id)
        configured = await _configured_seats(self._store)
        seat = self._live.seats().get(seat_id)
        if seat is not None:
            return SeatOut.from_live(seat, _seat_name(configured.get(seat_id)))
        c = configured.get(seat_id)
        if c is None:
            raise NotFound("seat", seat_id)
        return SeatOut.configured_only(c.id, c.node, c.interface, c.display_name)


def _seat_name(configured: ConfiguredSeat | None) -> str | None:
    return None if configured is None else configured.display_name


class SkillGroupService:
    def __init__(self, live: LiveView, store: Store) -> None:
        self._live = live
        self._store = store

    async def list(self) -> list[SkillGroupOut]:
        """Live skill groups, plus configured ones Asterisk does not have yet."""
        configured = await _configured_groups(self._store)
        groups = {
            name: SkillGroupOut.from_live(group, _group_name(configured.get(name)))
            for name, group in self._live.skill_groups().items()
        }
        for c in configured.values():
            if c.name not in groups:
                groups[c.name] = SkillGroupOut.configured_only(
                    c.name, c.node, c.display_name, c.penalties
                )
        return [groups[k] for k in sorted(groups)]

    async def get(self, name: str) -> SkillGroupOut:
        configured = await _configured_groups(self._store)
        group = self._live.skill_groups().get(name)
        if group is not None:
            return SkillGroupOut.from_live(group, _group_name(configured.get(name)))
        c = configured.get(name)
        if c is None:
            raise NotFound("skill group", name)
        return SkillGroupOut.configured_only(c.name, c.node, c.display_name, c.penalties)


def _group_name(configured: ConfiguredSkillGroup | None) -> str | None:
    return None if configured is None else configured.display_name


def seat_call(call_id: str, call_seat: str | None, seat_id: str) -> bool:
    """Whether a call is ``seat_id``'s. A supervision leg never is: shown to the agent
    listened to, it would tell them that someone listens. (The tracker gives such a leg
    no seat, so history's seat filter leaves it out as well; the id check keeps the live
    side safe should it ever be given one.)"""
    return call_seat == seat_id and not is_supervision_leg(call_id)


def live_call_matches(call: Call, where: CallFilter, ringing: str | None = None) -> bool:
    """The history filter applied to a live call (started_at within [since, until)).
    ``ringing``: the call the filtered seat is being offered, which is the seat's too
    (a call is given its seat when answered; the agent needs it while it rings)."""
    if where.customer_number is not None and call.customer_number != where.customer_number:
        return False
    if (where.seat_id is not None and call.id != ringing
            and not seat_call(call.id, call.seat_id, where.seat_id)):
        return False
    started = epoch_to_datetime(call.started_at)
    assert started is not None
    if where.since is not None and started < where.since:
        return False
    return where.until is None or started < where.until


def newest_first(calls: Sequence[CallOut]) -> list[CallOut]:
    return sorted(calls, key=lambda c: (c.started_at, c.id), reverse=True)


class CallService:
    def __init__(self, live: LiveView, store: Store, pending: PendingCalls | None = None) -> None:
        """``pending``: the history writer's ended calls (without one, none)."""
        self._live = live
        self._store = store
        self._pending = pending if pending is not None else PendingCalls()

    async def list(
        self, caller: Caller, where: CallFilter, status: CallStatusFilter, *, limit: int,
        offset: int,
    ) -> Page[CallOut]:
        """Active calls first (newest first), then ended ones (newest first): history
        merged with the ended calls the history writer has not written yet. Agents get
        their own seat's calls only, as on the event stream (:func:`listed_seat`).

        Each call is shown once, from the freshest source: history is asked to leave out
        every live and every pending call id, which also keeps ``total`` exact. Both
        snapshots are taken together, before history is asked: a call leaves the mirror
        and joins the writer's pending calls in one step, and leaves those only once its
        row is committed, so it is never missed in between.
        """
        where = dataclasses.replace(where, seat_id=listed_seat(caller, where.seat_id))
        # A supervisor's listening leg is no call of the centre's (/monitor lists those).
        snapshot = {i: c for i, c in self._live.active_calls().items()
                    if not is_supervision_leg(i)}
        pending = [c for c in self._pending.calls() if c.id not in snapshot]
        ringing = self._offered(where.seat_id)
        active: list[CallOut] = []
        if status != "ended":
            active = newest_first([CallOut.from_live(c) for c in snapshot.values()
                                   if live_call_matches(c, where, ringing)])
        items = active[offset : offset + limit]
        total = len(active)
        if status != "active":
            held = newest_first(
                [CallOut.from_live(c) for c in pending if live_call_matches(c, where)]
            )
            remaining = limit - len(items)
            ended_offset = max(0, offset - len(active))
            rows_offset, rows_limit = store_window(ended_offset, remaining, len(held))
            history, history_total = await self._store.calls(
                where,
                exclude_ids=frozenset(snapshot).union(c.id for c in pending),
                limit=rows_limit,
                offset=rows_offset,
            )
            items += merge_page(history, rows_offset, held, ended_offset, remaining)
            total += history_total + len(held)
        return Page[CallOut](items=items, total=total, limit=limit, offset=offset)

    async def get(self, caller: Caller, call_id: str) -> CallDetailOut:
        """One call with its timeline. An agent reaches only its own seat's calls: any
        other is "not found", as for recordings, so ids cannot be probed."""
        seat_id = listed_seat(caller, None)  # None: the caller sees every call
        # The mirror, then the writer's ended calls and unwritten timeline entries, with no
        # await between: a call that ends meanwhile is in one or the other; history only
        # once neither has it. An entry the writer commits before history is read is in
        # both, and counts once.
        known = self._live.active_calls().get(call_id) or self._pending.get(call_id)
        unwritten = [
            TimelineEntryOut.from_history(
                row["kind"], row["at"], row["seat_id"], row["skill_group"], row["detail"]
            )
            for row in self._pending.timeline(call_id)
        ]
        call = CallOut.from_live(known) if known is not None else await self._store.call(call_id)
        if call is None or (seat_id is not None and call.id != self._offered(seat_id)
                            and not seat_call(call.id, call.seat_id, seat_id)):
            raise NotFound("call", call_id)
        timeline = merge_timeline(await self._store.timeline(call_id), unwritten)
        return CallDetailOut(**call.model_dump(), timeline=timeline)


    def _offered(self, seat_id: str | None) -> str | None:
        """The live call ``seat_id`` is ringing for or on, if any."""
        seat = self._live.seats().get(seat_id) if seat_id is not None else None
        if seat is None or seat.call_id is None or is_supervision_leg(seat.call_id):
            return None
        return seat.call_id


class HealthService:
    def __init__(self, reporters: Sequence[HealthReporter]) -> None:
        self._reporters = list(reporters)

    def readiness(self) -> ReadinessOut:
        """Every component's own report; a reporter that raises counts as down."""
        components = [ComponentOut(name=s.name, ok=s.ok, detail=s.detail)
                      for s in statuses(self._reporters)]
        return ReadinessOut(ok=all(c.ok for c in components), components=components)
