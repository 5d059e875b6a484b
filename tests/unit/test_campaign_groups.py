"""A seat-list campaign's own skill group follows the campaign's list of seats."""

from __future__ import annotations

from collections.abc import Sequence

from cti.api.errors import NotFound
from cti.api.inbound_schemas import GroupCreate, GroupSettingsOut
from cti.domain.model import Seat, SeatState
from cti.outbound.groups import ensure_campaign_group
from cti.telephony.inbound import GroupSettings


class Groups:
    """The inbound configuration's group calls, over a dict of groups -> members."""

    def __init__(self, groups: dict[str, set[str]] | None = None) -> None:
        self.groups = groups or {}
        self.calls: list[tuple[str, str]] = []

    async def group(self, name: str) -> GroupSettingsOut:
        if name not in self.groups:
            raise NotFound("skill group", name)
        return GroupSettingsOut.of(GroupSettings(name=name),
                                   {seat_id: 0 for seat_id in sorted(self.groups[name])})

    async def create_group(self, body: GroupCreate) -> object:
        self.calls.append(("create", body.name))
        self.groups[body.name] = set()
        return None

    async def set_member(self, name: str, seat_id: str, level: int) -> object:
        self.calls.append(("add", seat_id))
        self.groups[name].add(seat_id)
        return None

    async def remove_member(self, name: str, seat_id: str) -> None:
        self.calls.append(("remove", seat_id))
        self.groups[name].discard(seat_id)


class Agents:
    def __init__(self) -> None:
        self.logins: list[tuple[str, list[str]]] = []

    async def login(self, seat_id: str, groups: Sequence[str] | None = None) -> list[str]:
        self.logins.append((seat_id, list(groups or [])))
        return list(groups or [])


def seat(seat_id: str, state: SeatState, groups: frozenset[str] = frozenset()) -> Seat:
    return Seat(id=seat_id, node="node1", interface=f"PJSIP/{seat_id}", state=state,
                skill_groups=groups)


async def test_a_new_campaign_gets_a_group_of_its_seats_and_live_seats_join_it() -> None:
    groups, agents = Groups(), Agents()
    live = {"1001": seat("1001", SeatState.AVAILABLE), "1002": seat("1002", SeatState.OFFLINE)}
    name = await ensure_campaign_group(groups, agents, live, 7, ["1001", "1002"])
    assert name == "campaign-7" and groups.groups == {"campaign-7": {"1001", "1002"}}
    assert agents.logins == [("1001", ["campaign-7"])]  # 1002 joins when it logs in


async def test_the_group_follows_the_list_both_ways_and_leaves_the_rest_alone() -> None:
    groups = Groups({"campaign-7": {"1001", "1002"}, "sales": {"1001"}})
    agents = Agents()
    live = {"1003": seat("1003", SeatState.AVAILABLE),
            "1002": seat("1002", SeatState.AVAILABLE, frozenset({"campaign-7"}))}
    await ensure_campaign_group(groups, agents, live, 7, ["1002", "1003"])
    assert groups.groups == {"campaign-7": {"1002", "1003"}, "sales": {"1001"}}
    # Only what changed: 1001 taken off (the inbound service logs it out of the group),
    # 1003 added and logged in; 1002, a member already and logged in, untouched.
    assert groups.calls == [("remove", "1001"), ("add", "1003")]
    assert agents.logins == [("1003", ["campaign-7"])]
