"""Agent control's decisions on what a login or logout names (cti/telephony/agents.py),
without Asterisk or a database."""

from __future__ import annotations

from typing import Any, cast

import pytest

from cti.telephony.agents import AgentControl, logout_targets, named_groups
from cti.telephony.errors import InvalidRequest, WrongState


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
