"""What ``PUT|DELETE /v1/seats/{id}`` refuse before PostgreSQL is asked, from the live
mirror alone: a seat on a call or logged in is not deleted (naming why), one Asterisk has
no endpoint for is not registered, the carrier trunk is no seat. (The rest, against the
real Asterisk and PostgreSQL: tests/integration/test_seat_admin.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import pytest

from cti.api.errors import Conflict, InvalidInput
from cti.api.inbound_service import InboundService
from cti.config import AsteriskFilesSettings
from cti.domain.model import Seat, SeatState
from cti.telephony.files import AsteriskFiles


class Live:
    def __init__(self, seats: Mapping[str, Seat], devices: Mapping[str, Mapping[str, str]]
                 ) -> None:
        self._seats = dict(seats)
        self._devices = {node: dict(d) for node, d in devices.items()}
        self.connections = {"node1": object()}

    def seats(self) -> Mapping[str, Seat]:
        return self._seats

    def devices(self) -> dict[str, Mapping[str, str]]:
        return dict(self._devices)


class NoDatabase:
    def __call__(self) -> Any:
        raise AssertionError("PostgreSQL was asked")


def service(live: Live) -> InboundService:
    none = cast(Any, None)
    return InboundService(
        cast(Any, NoDatabase()), none, none, none, cast(Any, live),
        AsteriskFiles(AsteriskFilesSettings()), fallback_group="support",
        default_node="node1", system_sounds_dir="/sounds", trunk_endpoints=["trunk"])


def seat(seat_id: str, state: SeatState, *, call: str | None = None,
         groups: frozenset[str] = frozenset()) -> Seat:
    return Seat(id=seat_id, node="node1", interface=f"PJSIP/{seat_id}", state=state,
                call_id=call, skill_groups=groups)


@pytest.mark.parametrize(("state", "call"), [(SeatState.RINGING, "node1:1"),
                                             (SeatState.ON_CALL, "node1:1"),
                                             (SeatState.BUSY, None),
                                             (SeatState.WRAP_UP, "node1:1")])
async def test_a_seat_on_a_call_is_not_deleted(state: SeatState, call: str | None) -> None:
    live = Live({"1001": seat("1001", state, call=call)}, {"node1": {}})
    with pytest.raises(Conflict) as refused:
        await service(live).delete_seat("1001")
    assert "on a call" in refused.value.message
    assert refused.value.details["state"] == state.value


async def test_a_seat_logged_in_is_not_deleted_naming_its_groups() -> None:
    live = Live({"5557": seat("5557", SeatState.AVAILABLE,
                              groups=frozenset({"support", "sales"}))}, {"node1": {}})
    with pytest.raises(Conflict) as refused:
        await service(live).delete_seat("5557")
    assert refused.value.details["logged_in"] == ["sales", "support"]
    assert "log it out first" in refused.value.message


async def test_the_trunk_is_no_seat_to_delete_or_register() -> None:
    live = Live({}, {"node1": {"PJSIP/trunk": "NOT_INUSE"}})
    for attempt in (service(live).delete_seat("trunk"),
                    service(live).register_seat("trunk", None, None)):
        with pytest.raises(InvalidInput) as refused:
            await attempt
        assert refused.value.details["fields"][0]["field"] == "seat_id"


async def test_a_seat_asterisk_has_no_endpoint_for_is_not_registered() -> None:
    live = Live({}, {"node1": {"PJSIP/1001": "NOT_INUSE"}})
    with pytest.raises(InvalidInput) as refused:
        await service(live).register_seat("abc", "Ghost", None)
    [field] = refused.value.details["fields"]
    assert (field["field"], field["in"]) == ("seat_id", "path")
    assert "no endpoint PJSIP/abc" in field["message"]
