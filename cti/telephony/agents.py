"""Agent control through app_queue: log in and out of skill groups, pause with a reason,
unpause, end wrap-up early; and the automatic pause after repeated no-answers.

Asterisk stays the source of truth: every command is an AMI action, and the seat's new
state reaches clients when app_queue's events come back through the live mirror.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiError
from cti.db import inbound_repository, repositories
from cti.domain.events import CallTimelineEntry, DomainEvent
from cti.domain.model import Seat, SeatState
from cti.live import LiveCore
from cti.telephony.errors import AsteriskRefused, InvalidRequest, UnknownObject, WrongState
from cti.telephony.inbound import InboundConfig
from cti.telephony.phones import NO_ENDPOINT, phone_state

log = logging.getLogger(__name__)

NO_ANSWER_REASON = "no-answer"


@dataclass(frozen=True, slots=True)
class SeatRef:
    id: str
    node: str
    interface: str


def named_groups(groups: Sequence[str] | None) -> list[str] | None:
    """The skill groups a login or logout names, each once (None: all of the seat's).

    An empty list names none; it is refused rather than taken as "all": a client that
    builds the list and ends up with nothing to ask for must not log the seat in to, or
    out of, every group it has."""
    if groups is None:
        return None
    if not groups:
        raise InvalidRequest("groups", "name at least one skill group, or leave groups out "
                                       "for all of the seat's")
    return list(dict.fromkeys(groups))


def logout_targets(seat_id: str, asked: list[str] | None, current: Sequence[str],
                   configured: Collection[str]) -> list[str]:
    """The groups a logout removes the seat from: those ``asked`` (None: all) that it is
    logged in to (``current``). A group asked for that it is not in must at least be
    ``configured``, or the request names something that does not exist (422); if it is in
    none of them, the seat's state is what is wrong (409). A group it is still in counts
    even if no longer configured: the membership of a deleted group must be removable."""
    if asked is None:
        return list(current)
    unknown = [g for g in asked if g not in current and g not in configured]
    if unknown:
        raise InvalidRequest("groups", f"no skill group {unknown}")
    targets = [g for g in asked if g in current]
    if not targets:
        raise WrongState(f"seat {seat_id} is not logged in to {asked}")
    return targets


# What app_queue answers a QueueRemove when the member is not in that queue: the queue
# no longer exists (deleted by a reload), or the interface is not one of its members.
_NOT_A_MEMBER = ("No such queue", "Not there")


def not_a_member(exc: AmiActionFailed) -> bool:
    """Whether a failed QueueRemove only says the seat is not in that queue (any more)."""
    return any(reason in exc.message for reason in _NOT_A_MEMBER)


class AgentControl:
    def __init__(self, live: LiveCore, sessionmaker: async_sessionmaker[AsyncSession],
                 default_node: str) -> None:
        self._live = live
        self._sessionmaker = sessionmaker
        self._default_node = default_node
        # Configuration read on every login/pause otherwise (bench/agent_actions): pause
        # reasons are fixed by the migrations; levels change only through
        # forget_levels() (the skill-group member routes).
        self._reasons: dict[str, bool] | None = None
        self._levels: dict[str, dict[str, int]] = {}

    def forget_levels(self, seat_id: str | None = None) -> None:
        """Drop cached skill levels of one seat (None: of every seat)."""
        if seat_id is None:
            self._levels.clear()
        else:
            self._levels.pop(seat_id, None)

    async def _member_levels(self, seat_id: str) -> dict[str, int]:
        levels = self._levels.get(seat_id)
        if levels is None:
            async with self._sessionmaker() as session:
                levels = await inbound_repository.member_levels(session, seat_id)
            self._levels[seat_id] = levels
        return levels

    async def _pause_reasons(self) -> dict[str, bool]:
        if self._reasons is None:
            async with self._sessionmaker() as session:
                self._reasons = {code: system for code, _, system
                                 in await inbound_repository.pause_reasons(session)}
        return self._reasons

    async def seat(self, seat_id: str) -> SeatRef:
        live = self._live.seats().get(seat_id)
        if live is not None:
            return SeatRef(seat_id, live.node, live.interface)
        async with self._sessionmaker() as session:
            row = await repositories.get_seat(session, seat_id)
        if row is None:
            raise UnknownObject("seat", seat_id)
        return SeatRef(seat_id, row.node, row.interface)

    async def login(self, seat_id: str, groups: Sequence[str] | None = None) -> list[str]:
        """Log the seat in to ``groups`` (default: every group it is a member of) at its
        configured skill level; returns the groups it was added to now."""
        asked = named_groups(groups)  # the request's own input before the seat's state
        ref = await self.seat(seat_id)
        levels = await self._member_levels(seat_id)
        wanted = asked if asked is not None else sorted(levels)
        if not wanted:
            raise WrongState(f"seat {seat_id} is not a member of any skill group")
        outside = [g for g in wanted if g not in levels]
        if outside:
            raise InvalidRequest("groups", f"seat {seat_id} is not a member of {outside}")
        if phone_state(self._live.devices(), ref.node, ref.interface) == NO_ENDPOINT:
            # app_queue takes the member anyway, "(Invalid)", and rings nothing.
            raise WrongState(f"seat {seat_id} has no phone: Asterisk {ref.node} has no "
                             f"endpoint {ref.interface}")
        live = self._live.seats().get(seat_id)
        already = live.skill_groups if live is not None else frozenset()
        paused = live is not None and live.paused
        reason = (live.pause_reason or "") if live is not None else ""
        added = []
        for group in wanted:
            if group in already:
                continue
            await self._do(ref, "QueueAdd", actions.queue_add(
                self._conn(ref), queue=group, interface=ref.interface, member_name=seat_id,
                penalty=levels[group], paused=paused, reason=reason))
            added.append(group)
        return added

    async def logout(self, seat_id: str, groups: Sequence[str] | None = None) -> list[str]:
        """Log the seat out of ``groups`` (default: every group it is logged in to);
        returns the groups it was removed from."""
        asked = named_groups(groups)
        ref = await self.seat(seat_id)
        live = self._live.seats().get(seat_id)
        current = sorted(live.skill_groups) if live is not None else []
        others = [g for g in asked or () if g not in current]
        configured: set[str] = set()
        if others:  # a plain logout reads nothing from the database
            async with self._sessionmaker() as session:
                configured = await inbound_repository.existing_groups(session, others)
        targets = logout_targets(seat_id, asked, current, configured)
        conn = self._conn(ref)
        done: list[str] = []
        failed: dict[str, str] = {}
        # Every group is tried: one Asterisk refuses must not keep the seat in the others
        # (it stayed paused in half of them, and each retry stopped at the same group).
        for group in targets:
            try:
                await actions.queue_remove(conn, queue=group, interface=ref.interface)
            except AmiActionFailed as exc:
                if not not_a_member(exc):
                    failed[group] = exc.message
                    continue
                # The queue is gone (deleted on a reload) or the seat is not in it: it
                # is out of that group, which is what was asked; the mirror, which had
                # it there, follows Asterisk now.
                log.info("QueueRemove for seat %s: not in %s any more (%s)", seat_id, group,
                         exc.message)
                self._live.forget_member(ref.node, seat_id, group)
            except AmiError as exc:
                failed[group] = str(exc)
                continue
            done.append(group)
        if failed:
            raise AsteriskRefused(
                f"QueueRemove for seat {seat_id} failed for {sorted(failed)}: "
                + "; ".join(f"{g}: {m}" for g, m in sorted(failed.items()))
                + f"; logged out of {done}",
                details={"done": done, "failed": failed})
        log.info("QueueRemove for seat %s done: %s", seat_id, done)
        return done

    async def pause(self, seat_id: str, reason: str, *, allow_system: bool = False) -> None:
        ref = await self.seat(seat_id)
        # The request's own input before the seat's state, which may change any second.
        reasons = await self._pause_reasons()
        if reason not in reasons:
            raise InvalidRequest("reason", f"unknown pause reason {reason!r}; "
                                           f"one of {sorted(reasons)}")
        if reasons[reason] and not allow_system:
            raise InvalidRequest("reason", f"{reason!r} is set by the system only")
        self._logged_in(seat_id)
        await self._do(ref, "QueuePause", actions.queue_pause(
            self._conn(ref), interface=ref.interface, paused=True, reason=reason))

    async def unpause(self, seat_id: str) -> None:
        ref = await self.seat(seat_id)
        seat = self._logged_in(seat_id)
        if not seat.paused:
            raise WrongState(f"seat {seat_id} is not paused")
        await self._do(ref, "QueuePause", actions.queue_pause(
            self._conn(ref), interface=ref.interface, paused=False))

    async def end_wrap_up(self, seat_id: str) -> None:
        """End the seat's wrap-up now: app_queue has no action for it, but a member added
        afresh has no last call, so the seat is re-added to each of its groups at the same
        level and pause state (``shared_lastcall`` makes that necessary in every group)."""
        ref = await self.seat(seat_id)
        seat = self._logged_in(seat_id)
        if seat.wrap_up_until is None:
            raise WrongState(f"seat {seat_id} is not in wrap-up")
        groups = self._live.skill_groups()
        conn = self._conn(ref)
        for name in sorted(seat.skill_groups):
            member = groups[name].members.get(seat_id) if name in groups else None
            penalty = member.penalty if member is not None else 0
            await self._do(ref, "QueueRemove", actions.queue_remove(
                conn, queue=name, interface=ref.interface))
            await self._do(ref, "QueueAdd", actions.queue_add(
                conn, queue=name, interface=ref.interface, member_name=seat_id, penalty=penalty,
                paused=seat.paused, reason=seat.pause_reason or ""))
        self._live.end_wrap_up(seat_id)

    async def set_level(self, seat_id: str, group: str, level: int) -> None:
        """Apply a changed skill level to a seat logged in to ``group`` now."""
        live = self._live.seats().get(seat_id)
        if live is None or group not in live.skill_groups:
            return  # takes effect at its next login
        ref = await self.seat(seat_id)
        await self._do(ref, "QueuePenalty", actions.queue_penalty(
            self._conn(ref), queue=group, interface=ref.interface, penalty=level))

    def _logged_in(self, seat_id: str) -> Seat:
        seat = self._live.seats().get(seat_id)
        if seat is None or not seat.skill_groups or seat.state is SeatState.OFFLINE:
            raise WrongState(f"seat {seat_id} is not logged in to any skill group")
        return seat

    def _conn(self, ref: SeatRef) -> AmiConnection:
        try:
            return self._live.connection(ref.node)
        except KeyError as exc:
            raise AsteriskRefused(f"no Asterisk node {ref.node!r}") from exc

    @staticmethod
    async def _do(ref: SeatRef, what: str, action: Awaitable[None]) -> None:
        try:
            await action
        except AmiError as exc:
            raise AsteriskRefused(f"{what} for seat {ref.id} failed: {exc}") from exc
        log.info("%s for seat %s done", what, ref.id)


class NoAnswerPauser:
    """Pause a seat after N consecutive offered calls it did not answer (N per group:
    ``no_answer_pause_after``, 0 = never), with the visible reason ``no-answer``.

    Fed from the bus: it counts ``no_answer`` timeline entries per seat and resets on
    ``answered``. The pause itself is an AMI action, run as a task off the bus.
    """

    def __init__(self, control: AgentControl,
                 spawn: Callable[[Coroutine[Any, Any, None]], object]) -> None:
        self._control = control
        self._spawn = spawn
        self._misses: dict[str, int] = {}
        self._limits: dict[str, int] = {}

    def configure(self, config: InboundConfig) -> None:
        self._limits = {g.name: g.no_answer_pause_after for g in config.groups.values()}

    def on_events(self, events: Iterable[DomainEvent]) -> None:
        for event in events:
            if not isinstance(event, CallTimelineEntry) or event.seat_id is None:
                continue
            if event.kind == "answered":
                self._misses.pop(event.seat_id, None)
            elif event.kind == "no_answer":
                self._missed(event.seat_id, event.skill_group)

    def _missed(self, seat_id: str, group: str | None) -> None:
        count = self._misses.get(seat_id, 0) + 1
        self._misses[seat_id] = count
        limit = self._limits.get(group or "", 0)
        if limit and count >= limit:
            self._misses.pop(seat_id, None)
            log.warning("seat %s missed %d offered calls in a row: pausing it", seat_id, count)
            self._spawn(self._pause(seat_id))

    async def _pause(self, seat_id: str) -> None:
        try:
            await self._control.pause(seat_id, NO_ANSWER_REASON, allow_system=True)
        except Exception:
            log.exception("could not pause seat %s after missed calls", seat_id)


