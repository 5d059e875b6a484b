"""Agent control's decisions on what a login or logout names (cti/telephony/agents.py),
without Asterisk or a database."""

from __future__ import annotations

from typing import Any, cast

import pytest

from cti.ami.errors import AmiActionFailed
from cti.domain.model import Seat, SeatState
from cti.telephony.agents import AgentControl, logout_targets, named_groups, not_a_member
from cti.telephony.errors import AsteriskRefused, InvalidRequest, WrongState


def test_groups_left_out_mean_all_and_each_named_group_counts_once() -> None:
    assert named_groups(None) is None
    assert named_groups(["sales", "support", "sales"]) == ["sales", "support"]


@pytest.mark.parametrize("action", ["login", "logout"])
async def test_an_empty_group_list_is_refused_naming_groups_before_the_seat_is_looked_at(
    action: str
) -> None:
    """It was a 409 "not a member of any skill group" for a seat in two groups; an empty
    list names no group, and is not taken as "all of them" either."""
    control = AgentControl(cast(Any, None), cast(Any, None), "node1")  # no I/O expected
    with pytest.raises(InvalidRequest) as caught:
        await getattr(control, action)("1001", [])
    assert caught.value.field == "groups"
    assert "leave groups out" in caught.value.message


def test_a_logout_from_a_group_that_does_not_exist_names_groups() -> None:
    with pytest.raises(InvalidRequest) as caught:
        logout_targets("1001", ["nosuch"], ["sales"], configured=set())
    assert (caught.value.field, caught.value.message) == ("groups", "no skill group ['nosuch']")
    with pytest.raises(InvalidRequest):  # one unknown among known ones
        logout_targets("1001", ["sales", "nosuch"], ["sales"], configured={"support"})


def test_a_logout_from_groups_the_seat_is_not_in_is_a_conflict() -> None:
    with pytest.raises(WrongState, match="not logged in to \\['support'\\]"):
        logout_targets("1001", ["support"], ["sales"], configured={"support"})


def test_a_logout_removes_the_seat_from_the_groups_it_is_in() -> None:
    assert logout_targets("1001", None, ["sales", "support"], set()) == ["sales", "support"]
    assert logout_targets("1001", ["support", "billing"], ["sales", "support"],
                          configured={"billing"}) == ["support"]
    # A group deleted while the seat was logged in to it: still removable.
    assert logout_targets("1001", ["gone"], ["gone"], configured=set()) == ["gone"]


# --- logout that carries on; login of a seat without a phone (cti/telephony/agents.py) ---

class FakeAmi:
    """An AMI connection whose QueueRemove answers per queue as app_queue would."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        self.sent: list[dict[str, Any]] = []

    async def send(self, action: dict[str, Any]) -> None:
        self.sent.append(action)
        error = self.errors.get(str(action.get("Queue")))
        if error is not None:
            raise AmiActionFailed(str(action["Action"]), error)


class FakeLive:
    def __init__(self, seats: dict[str, Seat], conn: FakeAmi,
                 devices: dict[str, dict[str, str]] | None = None) -> None:
        self._seats = seats
        self.conn = conn
        self._devices = devices or {}
        self.forgotten: list[tuple[str, str, str]] = []

    def seats(self) -> dict[str, Seat]:
        return self._seats

    def connection(self, node: str) -> FakeAmi:
        return self.conn

    def devices(self) -> dict[str, dict[str, str]]:
        return self._devices

    def forget_member(self, node: str, seat_id: str, group: str) -> None:
        self.forgotten.append((node, seat_id, group))


def control_for(live: FakeLive) -> AgentControl:
    return AgentControl(cast(Any, live), cast(Any, None), "node1")  # no database use


def seat_in(*groups: str) -> Seat:
    return Seat("1003", "node1", "PJSIP/1003", SeatState.AVAILABLE,
                skill_groups=frozenset(groups))


def test_app_queue_saying_the_seat_is_not_in_a_queue_is_not_a_failure() -> None:
    assert not_a_member(AmiActionFailed(
        "QueueRemove", "Unable to remove interface from queue: No such queue"))
    assert not_a_member(AmiActionFailed("QueueRemove", "Unable to remove interface: Not there"))
    assert not not_a_member(AmiActionFailed("QueueRemove", "Member not dynamic"))


async def test_a_logout_goes_on_past_a_group_asterisk_no_longer_has() -> None:
    """It stopped at the deleted group with a 502, forever, the seat half logged out."""
    ami = FakeAmi({"temp": "Unable to remove interface from queue: No such queue",
                   "gone": "Unable to remove interface: Not there"})
    live = FakeLive({"1003": seat_in("helpdesk", "temp", "gone")}, ami)
    control = control_for(live)
    assert await control.logout("1003") == ["gone", "helpdesk", "temp"]
    assert [a["Queue"] for a in ami.sent] == ["gone", "helpdesk", "temp"]
    # the mirror, which had those two, follows Asterisk at once
    assert live.forgotten == [("node1", "1003", "gone"), ("node1", "1003", "temp")]


async def test_a_real_failure_in_one_group_leaves_no_other_group_half_done_silently() -> None:
    ami = FakeAmi({"helpdesk": "Member not dynamic"})
    control = control_for(FakeLive({"1003": seat_in("helpdesk", "support", "temp")}, ami))
    with pytest.raises(AsteriskRefused) as caught:
        await control.logout("1003")
    # every group was tried, and the refusal says which were done and which were not
    assert [a["Queue"] for a in ami.sent] == ["helpdesk", "support", "temp"]
    assert caught.value.details == {"done": ["support", "temp"],
                                    "failed": {"helpdesk": "Member not dynamic"}}
    assert "['helpdesk']" in str(caught.value) and "logged out of ['support', 'temp']" in str(
        caught.value)


@pytest.mark.parametrize("devices", [{"node1": {"PJSIP/1001": "NOT_INUSE"}},
                                     {"node1": {"PJSIP/1003": "INVALID"}}])
async def test_a_seat_whose_endpoint_asterisk_does_not_have_is_not_logged_in(
    devices: dict[str, dict[str, str]]
) -> None:
    """app_queue took it as an "(Invalid)" member that never rings."""
    ami = FakeAmi({})
    control = control_for(FakeLive({"1003": Seat("1003", "node1", "PJSIP/1003")}, ami, devices))
    control._levels["1003"] = {"helpdesk": 0}
    with pytest.raises(WrongState, match="has no phone: Asterisk node1 has no endpoint"):
        await control.login("1003")
    assert ami.sent == []
    # a phone that is there but not registered yet (or a node not synced yet) is no reason
    for known in ({"node1": {"PJSIP/1003": "UNAVAILABLE"}}, {}):
        control._live = cast(Any, FakeLive({"1003": Seat("1003", "node1", "PJSIP/1003")},
                                           ami, known))
        assert await control.login("1003") == ["helpdesk"]
    assert [a["Action"] for a in ami.sent] == ["QueueAdd", "QueueAdd"]
