"""A campaign staffed by a list of seats gets a skill group of its own.

The dialer hands answered customers to app_queue, which connects them to a free member of
a queue: so a campaign given seats instead of a skill group is given a group named
``campaign-<id>`` with those seats as members (through the inbound configuration, like any
group: PostgreSQL, the generated queues.conf, a reload). Seats already logged in anywhere
are logged in to it at once; the others join it when they log in, as with any group they
are a member of. The group follows the campaign's list, also while it runs (a PATCH of
`seats`, `cti.outbound.dialer`): a seat added is made a member, and a seat taken off is
removed and logged out of the group, so it gets none of the campaign's calls any more.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Protocol

from cti.api.errors import NotFound
from cti.api.inbound_schemas import GroupCreate, GroupSettingsOut
from cti.domain.model import Seat, SeatState

log = logging.getLogger(__name__)


def group_name(campaign_id: int) -> str:
    return f"campaign-{campaign_id}"


class Groups(Protocol):
    """What this needs of the inbound configuration (``cti.api.inbound_service``)."""

    async def group(self, name: str) -> GroupSettingsOut: ...

    async def create_group(self, body: GroupCreate) -> object: ...

    async def set_member(self, name: str, seat_id: str, level: int) -> object: ...

    async def remove_member(self, name: str, seat_id: str) -> None: ...


class Login(Protocol):
    async def login(self, seat_id: str, groups: Sequence[str] | None = None) -> list[str]: ...


async def ensure_campaign_group(groups: Groups, agents: Login, seats_now: Mapping[str, Seat],
                                campaign_id: int, seats: Sequence[str]) -> str:
    """The campaign's own group, its members made exactly `seats`; its name."""
    name = group_name(campaign_id)
    try:
        members = {m.seat_id for m in (await groups.group(name)).members}
    except NotFound:
        await groups.create_group(GroupCreate(name=name))
        log.info("campaign %d: skill group %s created for its seats", campaign_id, name)
        members = set()
    for seat_id in sorted(members - set(seats)):
        await groups.remove_member(name, seat_id)  # logs it out of the group too
        log.info("campaign %d: seat %s taken off its group %s", campaign_id, seat_id, name)
    for seat_id in seats:
        if seat_id not in members:
            await groups.set_member(name, seat_id, 0)
        seat = seats_now.get(seat_id)
        if seat is not None and seat.state is not SeatState.OFFLINE and (
                name not in seat.skill_groups):
            await agents.login(seat_id, [name])
    return name
