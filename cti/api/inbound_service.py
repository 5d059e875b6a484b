"""What the inbound routes ask for: skill-group settings and members, IVR menus, agent
control and transfers, over the configurator (PostgreSQL -> Asterisk files) and AMI."""

from __future__ import annotations

import logging
from collections.abc import Collection

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller, Role, own_seat_only
from cti.api.errors import ApiError, Conflict, Forbidden, InvalidInput, NotFound
from cti.api.inbound_schemas import (
    GroupCreate,
    GroupPatch,
    GroupSettingsOut,
    HangupOut,
    LoginIn,
    MenuIn,
    MenuOut,
    PauseReasonOut,
    SeatActionOut,
    TransferIn,
    TransferOut,
)
from cti.db import inbound_repository as repo
from cti.db import repositories
from cti.domain.model import SeatState
from cti.live import LiveCore
from cti.telephony.agents import AgentControl
from cti.telephony.configurator import InboundConfigurator
from cti.telephony.errors import AsteriskRefused, InvalidRequest, WrongState
from cti.telephony.files import AsteriskFiles
from cti.telephony.inbound import GroupSettings
from cti.telephony.phones import NO_ENDPOINT, phone_state
from cti.telephony.sounds import SoundLibrary
from cti.telephony.transfers import Transfers

log = logging.getLogger(__name__)

#: A seat in these states is on a call (or ringing for one), whatever its call id says.
_BUSY = frozenset({SeatState.RINGING, SeatState.ON_CALL, SeatState.BUSY})


class InboundService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        configurator: InboundConfigurator,
        agents: AgentControl,
        transfers: Transfers,
        live: LiveCore,
        files: AsteriskFiles,
        *,
        fallback_group: str,
        default_node: str,
        system_sounds_dir: str,
        trunk_endpoints: Collection[str],
    ) -> None:
        self._sessionmaker = sessionmaker
        self.configurator = configurator
        self.agents = agents
        self.transfers = transfers
        self._live = live
        self._fallback = fallback_group
        self._node = default_node
        self._sounds = SoundLibrary(files, system_sounds_dir)
        self._trunks = frozenset(trunk_endpoints)  # PJSIP endpoints that are no seats

    # --- skill groups --------------------------------------------------------------

    async def group(self, name: str) -> GroupSettingsOut:
        async with self._sessionmaker() as session:
            g = await repo.get_group(session, name)
            if g is None:
                raise NotFound("skill group", name)
            members = await _members(session, name)
        return GroupSettingsOut.of(g, members)

    async def create_group(self, body: GroupCreate) -> GroupSettingsOut:
        g = body.to_domain()
        self._check_sounds(g)

        async def create(session: AsyncSession) -> None:
            if await repo.get_group(session, g.name) is not None:
                raise Conflict(f"skill group {g.name!r} exists already",
                               details={"resource": "skill group", "id": g.name})
            await repo.insert_group(session, g, self._node)

        await self.configurator.change(create, changed=f"groups.{g.name}")
        log.info("skill group %s created", g.name)
        return GroupSettingsOut.of(g)

    async def update_group(self, name: str, body: GroupPatch) -> GroupSettingsOut:
        async def update(session: AsyncSession) -> tuple[GroupSettings, dict[str, int]]:
            current = await repo.get_group(session, name, for_update=True)
            if current is None:
                raise NotFound("skill group", name)
            changed = body.apply(current)
            if "linear" in {changed.strategy, current.strategy} and (
                    changed.strategy != current.strategy):
                # app_queue ignores that change on reload (it logs "requires a restart")
                raise InvalidRequest("strategy", "changing to or from linear needs an "
                                     "Asterisk restart; create a new group instead")
            self._check_sounds(changed)
            await repo.update_group(session, changed)
            return changed, await _members(session, name)

        changed, members = await self.configurator.change(update, changed=f"groups.{name}")
        log.info("skill group %s updated: %s", name, sorted(body.model_fields_set))
        return GroupSettingsOut.of(changed, members)

    async def delete_group(self, name: str) -> None:
        if name == self._fallback:
            raise Conflict(f"{name!r} takes the calls nobody else claims; it cannot be deleted")

        async def delete(session: AsyncSession) -> list[str]:
            menus = await repo.menus_using(session, name)
            if menus:
                raise Conflict(f"IVR menus {menus} send callers to {name!r}",
                               details={"menus": menus})
            if not await repo.delete_group(session, name):
                raise NotFound("skill group", name)
            # Last, once nothing else refuses the deletion, and while the queue still
            # exists (before the reload): app_queue drops a deleted queue's members
            # without a QueueMemberRemoved, so each seat logged in is logged out like any
            # logout, which the live view, the seat's state log and reports then record.
            return await self._log_out_all(name)

        logged_out = await self.configurator.change(delete)
        self.agents.forget_levels()  # its memberships went with it
        log.info("skill group %s deleted; seats logged out of it: %s", name, logged_out)

    async def _log_out_all(self, group: str) -> list[str]:
        """Log every seat logged in to ``group`` out of it; the seats done. If Asterisk
        refuses one, the others are still done, and the refusal ends the deletion (the
        group stays, and the request can be repeated)."""
        seats = sorted(s for s, seat in self._live.seats().items() if group in seat.skill_groups)
        done: list[str] = []
        failed: dict[str, str] = {}
        for seat_id in seats:
            try:
                await self.agents.logout(seat_id, [group])
            except (AsteriskRefused, WrongState) as exc:
                failed[seat_id] = str(exc)
            else:
                done.append(seat_id)
        if failed:
            raise AsteriskRefused(
                f"could not log seats {sorted(failed)} out of {group!r}, which was not "
                f"deleted; logged out: {done}", details={"done": done, "failed": failed})
        return done

    async def set_member(self, name: str, seat_id: str, level: int) -> GroupSettingsOut:
        ref = await self._known_seat(seat_id, "seat_id")
        async with self._sessionmaker() as session, session.begin():
            if await repo.get_group(session, name) is None:
                raise NotFound("skill group", name)
            if await repositories.get_seat(session, seat_id) is None:
                await repositories.upsert_seat(session, seat_id, node=ref[0], interface=ref[1])
            await repositories.set_skill_group_member(session, name, seat_id, level)
        self.agents.forget_levels(seat_id)
        await self.agents.set_level(seat_id, name, level)
        return await self.group(name)

    async def remove_member(self, name: str, seat_id: str) -> None:
        async with self._sessionmaker() as session, session.begin():
            if await repo.get_group(session, name) is None:
                raise NotFound("skill group", name)
            if not await repositories.remove_skill_group_member(session, name, seat_id):
                raise NotFound("member", f"{seat_id} of {name}")
        self.agents.forget_levels(seat_id)
        live = self._live.seats().get(seat_id)
        if live is not None and name in live.skill_groups:
            await self.agents.logout(seat_id, [name])

    async def _known_seat(self, seat_id: str, field: str) -> tuple[str, str]:
        """(node, interface) of a seat PostgreSQL or Asterisk knows; 404 otherwise, 422
        naming ``field`` for the carrier trunk (an endpoint Asterisk has, but no seat)."""
        self._not_trunk(seat_id, field)
        live = self._live.seats().get(seat_id)
        if live is not None:
            return live.node, live.interface
        for node, devices in self._live.devices().items():
            if f"PJSIP/{seat_id}" in devices:
                return node, f"PJSIP/{seat_id}"
        async with self._sessionmaker() as session:
            row = await repositories.get_seat(session, seat_id)
        if row is None:
            raise NotFound("seat", seat_id)
        return row.node, row.interface

    def _not_trunk(self, seat_id: str, field: str) -> None:
        # app_queue would ring the carrier for queue calls, a transfer call out through it
        if seat_id in self._trunks:
            raise InvalidInput(field, f"{seat_id!r} is the carrier trunk, not a seat",
                               location="path" if field == "seat_id" else "body")

    # --- IVR menus -----------------------------------------------------------------

    async def menus(self) -> list[MenuOut]:
        async with self._sessionmaker() as session:
            config = await repo.load_config(session, self._fallback)
        return [MenuOut.of(config.menus[k]) for k in sorted(config.menus)]

    async def menu(self, name: str) -> MenuOut:
        async with self._sessionmaker() as session:
            m = await repo.get_menu(session, name)
        if m is None:
            raise NotFound("IVR menu", name)
        return MenuOut.of(m)

    async def put_menu(self, name: str, body: MenuIn) -> tuple[MenuOut, bool]:
        menu = body.to_domain(name)
        self._check_sound("greeting", menu.greeting)

        async def put(session: AsyncSession) -> bool:
            try:
                return await repo.put_menu(session, menu)
            except IntegrityError as exc:  # default_group unknown: named by problems()
                raise InvalidRequest("default_group",
                                     f"unknown skill group {menu.default_group!r}") from exc

        created = await self.configurator.change(put, changed=f"menus.{name}")
        log.info("IVR menu %s %s", name, "created" if created else "replaced")
        return MenuOut.of(menu), created

    async def delete_menu(self, name: str) -> None:
        async def delete(session: AsyncSession) -> None:
            if not await repo.delete_menu(session, name):
                raise NotFound("IVR menu", name)

        await self.configurator.change(delete)

    def _check_sounds(self, g: GroupSettings) -> None:
        if g.after_hours_prompt is not None:
            self._check_sound("after_hours_prompt", g.after_hours_prompt)

    def _check_sound(self, field: str, name: str) -> None:
        """A prompt must exist, or Asterisk would skip it silently (or hang up)."""
        if not self._sounds.exists(name):
            raise InvalidRequest(field, f"no sound named {name!r} on the Asterisk node")

    # --- agents --------------------------------------------------------------------

    async def pause_reasons(self) -> list[PauseReasonOut]:
        async with self._sessionmaker() as session:
            rows = await repo.pause_reasons(session)
        return [PauseReasonOut(code=c, label=lbl, system=s) for c, lbl, s in rows]

    async def seat_action(self, caller: Caller, seat_id: str, action: str,
                          body: LoginIn | None = None, reason: str | None = None
                          ) -> SeatActionOut:
        own_seat_only(caller, seat_id)
        groups: list[str] = []
        if action == "login":
            self._not_trunk(seat_id, "seat_id")
            groups = await self.agents.login(seat_id, body.groups if body else None)
        elif action == "logout":
            groups = await self.agents.logout(seat_id, body.groups if body else None)
        elif action == "pause":
            assert reason is not None
            await self.agents.pause(seat_id, reason,
                                    allow_system=caller.role.allows(Role.SUPERVISOR))
        elif action == "unpause":
            await self.agents.unpause(seat_id)
        elif action == "end_wrap_up":
            await self.agents.end_wrap_up(seat_id)
        else:  # pragma: no cover - routes pass fixed names
            raise ApiError(f"unknown action {action}")
        return SeatActionOut(seat_id=seat_id, action=action, groups=groups)

    async def register_seat(self, seat_id: str, display_name: str | None, node: str | None
                            ) -> None:
        """Register (or rename) a seat. Its id must be an endpoint Asterisk has on the
        node, while Asterisk can tell: a seat no phone stands behind could never log in,
        yet was shown and taken as a queue member (a 422 naming ``seat_id``)."""
        self._not_trunk(seat_id, "seat_id")
        if node is not None and node not in self._live.connections:
            # its logins would fail later (502 "no Asterisk node")
            raise InvalidInput("node", f"no Asterisk node {node!r}; one of "
                                       f"{sorted(self._live.connections)}", location="body")
        node = node or self._node
        interface = f"PJSIP/{seat_id}"
        if phone_state(self._live.devices(), node, interface) == NO_ENDPOINT:
            raise InvalidInput("seat_id", f"Asterisk {node} has no endpoint {interface}: "
                               "add the seat's phone to Asterisk first", location="path")
        async with self._sessionmaker() as session:
            await repositories.upsert_seat(session, seat_id, node=node, interface=interface,
                                           display_name=display_name)

    async def delete_seat(self, seat_id: str) -> None:
        """Remove a registered seat that nothing holds: a 409 naming what does (logged in,
        on a call, a skill group's member, a campaign's seat), or the endpoint Asterisk
        still has for it, which would register it again at the next connect."""
        self._not_trunk(seat_id, "seat_id")
        live = self._live.seats().get(seat_id)
        if live is not None and (live.call_id is not None or live.state in _BUSY):
            raise Conflict(f"seat {seat_id} is on a call ({live.state.value})",
                           details={"seat_id": seat_id, "state": live.state.value})
        if live is not None and live.skill_groups:
            groups = sorted(live.skill_groups)
            raise Conflict(f"seat {seat_id} is logged in to {groups}: log it out first",
                           details={"seat_id": seat_id, "logged_in": groups})
        async with self._sessionmaker() as session:
            row = await repositories.get_seat(session, seat_id)
        node, interface = ((row.node, row.interface) if row is not None
                           else (live.node, live.interface) if live is not None
                           else (self._node, f"PJSIP/{seat_id}"))
        if phone_state(self._live.devices(), node, interface) not in (None, NO_ENDPOINT):
            raise Conflict(f"Asterisk {node} has the endpoint {interface}: the seat would be "
                           "registered again at the next connect; remove the phone from "
                           "Asterisk first", details={"seat_id": seat_id, "node": node,
                                                      "endpoint": interface})
        async with self._sessionmaker() as session:
            holders = await repositories.delete_seat(session, seat_id)
        if holders is None:
            raise NotFound("seat", seat_id)
        if holders:
            raise Conflict(
                f"seat {seat_id} is held by skill groups {list(holders.skill_groups)} and "
                f"campaigns {list(holders.campaigns)}: remove it from them first",
                details={"seat_id": seat_id, "skill_groups": list(holders.skill_groups),
                         "campaigns": list(holders.campaigns)})
        self.agents.forget_levels(seat_id)
        log.info("seat %s deleted", seat_id)

    # --- transfers -----------------------------------------------------------------

    async def transfer(self, caller: Caller, call_id: str, body: TransferIn) -> TransferOut:
        seat_id = self.transfers.seat_of(call_id)
        own_seat_only(caller, seat_id)
        if (body.seat is None) == (body.group is None):
            raise InvalidRequest("seat", "give exactly one of seat or group")
        if body.group is not None:
            async with self._sessionmaker() as session:
                if await repo.get_group(session, body.group) is None:
                    raise NotFound("skill group", body.group)
        if body.seat is not None:
            await self._known_seat(body.seat, "seat")
        target = await self.transfers.start(call_id, body.mode, seat=body.seat,
                                            group=body.group)
        if body.mode == "blind":
            return TransferOut(call_id=call_id, mode="blind", target=target, state="transferred")
        return TransferOut(call_id=call_id, mode="attended", target=target, state="consulting")

    async def hang_up(self, caller: Caller, call_id: str) -> HangupOut:
        """End a live call: agents their own seat's, supervisors any (one still queued
        or in the IVR too)."""
        seat_id = self.transfers.seat_or_none(call_id)
        if seat_id is None:
            if not caller.role.allows(Role.SUPERVISOR):
                raise Forbidden(Role.SUPERVISOR.value, caller.role.value)
        else:
            own_seat_only(caller, seat_id)
        channels = await self.transfers.hang_up(call_id)
        return HangupOut(call_id=call_id, channels=channels)

    async def finish_transfer(self, caller: Caller, call_id: str, complete: bool
                              ) -> TransferOut:
        seat_id = self.transfers.seat_of(call_id)
        own_seat_only(caller, seat_id)
        target = await self.transfers.finish(call_id, complete=complete)
        return TransferOut(call_id=call_id, mode="attended", target=target,
                           state="completed" if complete else "cancelled")


async def _members(session: AsyncSession, group: str) -> dict[str, int]:
    record = await repositories.get_skill_group(session, group)
    return {m.seat_id: m.penalty for m in record.members} if record is not None else {}
