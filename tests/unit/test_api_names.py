"""Free-text names (display names, descriptions) are one printable line, by one rule
(cti/api/schemas.py ``Label``); and the carrier trunk is never listed as a seat."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from cti.api.inbound_schemas import GroupCreate, GroupPatch, SeatIn
from cti.api.media_schemas import MohClassIn
from cti.domain.model import Seat, SeatState
from tests.unit._api_fakes import FakeLiveView, bearer, make_app

BAD = ["Bill\r\ning", "Ghost\nX", "tab\there", "esc\x1b[31m", "c1\x85", "line\u2028sep"]


@pytest.mark.parametrize("text", BAD)
@pytest.mark.parametrize(("model", "body", "field"), [
    (GroupCreate, {"name": "billing", "numbers": ["400"]}, "display_name"),
    (GroupPatch, {}, "display_name"),
    (SeatIn, {}, "display_name"),
    (MohClassIn, {"name": "jazz"}, "description"),
])
def test_a_control_character_in_a_name_is_refused_naming_the_field(
    model: type[BaseModel], body: dict[str, Any], field: str, text: str
) -> None:
    """CR/LF were stored and served to wallboards and CSV reports as they came."""
    with pytest.raises(ValidationError) as caught:
        model.model_validate({**body, field: text})
    assert [e["loc"] for e in caught.value.errors()] == [(field,)]
    assert "control character" in caught.value.errors()[0]["msg"]
    # any script and punctuation is a name (voicemail.conf filters its own label)
    fine = "Ventes \u2013 Île-de-France; 销售部 [2]"
    assert getattr(model.model_validate({**body, field: fine}), field) == fine


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    live = FakeLiveView(seat_map={
        "1001": Seat("1001", "node1", "PJSIP/1001", SeatState.AVAILABLE),
        # an older version logged the trunk in to a queue as if it were a seat
        "trunk": Seat("trunk", "node1", "PJSIP/trunk", SeatState.AVAILABLE,
                      skill_groups=frozenset({"billing"})),
    })
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(live)),
                                 base_url="http://test") as c:
        yield c


async def test_a_hold_music_description_with_a_line_break_is_a_422_naming_it(
    client: httpx.AsyncClient
) -> None:
    r = await client.post("/v1/music-on-hold", json={"name": "jazz", "description": "Jazz\r\n;"},
                          headers=bearer("supervisor-token"))
    assert r.status_code == 422, r.text
    assert [f["field"] for f in r.json()["details"]["fields"]] == ["description"]


async def test_the_carrier_trunk_is_not_listed_as_a_seat(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/seats", headers=bearer("supervisor-token"))
    assert r.status_code == 200, r.text
    assert [s["id"] for s in r.json()] == ["1001"]
    r = await client.get("/v1/seats/trunk", headers=bearer("supervisor-token"))
    assert r.status_code == 404, r.text
