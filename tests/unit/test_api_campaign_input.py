"""Campaign create, the DNC list and lead edits: the input a call centre could get wrong,
refused with a 422 naming the field before anything is written.

As in test_api_campaigns.py the database is a closed port: a 503 means the request was
accepted as far as the store. What is stored (and PATCH, which reads the campaign
first) is checked against PostgreSQL in tests/integration/test_campaign_api_input.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import httpx
import pytest

from cti.ami import actions
from cti.ami.values import ActionValue
from cti.api.campaign_schemas import CampaignIn, LeadFieldsIn
from cti.api.campaign_service import validated_values
from cti.api.errors import ApiError
from tests.unit._api_fakes import bearer, make_app

GOOD: dict[str, Any] = {"name": "spring", "caller_id": "+861012345678", "seats": ["1001"]}
SUP = bearer("supervisor-token")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


async def create(client: httpx.AsyncClient, **change: Any) -> httpx.Response:
    return await client.post("/v1/campaigns", json={**GOOD, **change}, headers=SUP)


def refused(response: httpx.Response) -> list[tuple[str, str]]:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    return [(f["field"], f["message"]) for f in response.json()["details"]["fields"]]


async def test_the_good_campaign_reaches_the_store(client: httpx.AsyncClient) -> None:
    assert (await create(client)).status_code == 503


# -- D5: delays and cadences far out of range -----------------------------------------

@pytest.mark.parametrize(("change", "field", "says"), [
    ({"retry_delays": {"busy": 10**20}}, "retry_delays.busy", "at most 90 days"),
    ({"retry_delays": {"busy": -(10**20)}}, "retry_delays.busy", "at least one minute"),
    ({"retry_delays": {"no_answer": 999_999_999_999}}, "retry_delays.no_answer",
     "at most 90 days"),
    ({"grade_cadences": {"H": 1_000_000_000}}, "grade_cadences.H", "from 1 to 90 days"),
    ({"grade_cadences": {"A": -(10**12)}}, "grade_cadences.A", "from 1 to 90 days"),
    ({"grade_cadences": {"B": 0}}, "grade_cadences.B", "from 1 to 90 days"),  # D15: days
    ({"grade_cadences": {"B": 91}}, "grade_cadences.B", "from 1 to 90 days"),
])
async def test_delays_and_cadences_out_of_range_are_a_422_however_large(
    client: httpx.AsyncClient, change: dict[str, Any], field: str, says: str
) -> None:
    [(name, message)] = refused(await create(client, **change))
    assert name == field and says in message, message
    assert "minute" not in message or field.startswith("retry_delays")


async def test_the_longest_delay_and_cadence_are_accepted(client: httpx.AsyncClient) -> None:
    response = await create(client, retry_delays={"busy": 90 * 86_400},
                            grade_cadences={"H": 1, "C": 90, "B": None})
    assert response.status_code == 503, response.text


# -- D13: strict JSON types ---------------------------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"max_attempts": True}, "max_attempts"),
    ({"max_attempts": "3"}, "max_attempts"),
    ({"max_attempts": 3.0}, "max_attempts"),
    ({"cap_per_day": "1"}, "cap_per_day"),
    ({"cap_per_week": True}, "cap_per_week"),  # was taken as 1 (>= the day's cap of 1)
    ({"abandon_target": "0.02"}, "abandon_target"),
    ({"retry_delays": {"busy": "600"}}, "retry_delays.busy"),
    ({"grade_cadences": {"H": True}}, "grade_cadences.H"),
    ({"windows": [{"start": "10:00", "end": "12:00", "days": ["1"]}]}, "windows.0.days.0"),
])
async def test_numbers_are_numbers_not_strings_or_booleans(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await create(client, **change)
    assert field in [f for f, _ in refused(response)], response.text


def test_a_free_field_keeps_the_type_it_was_sent_with() -> None:
    """A lax union made true the number 1 and 2.0 the integer 2."""
    fields = LeadFieldsIn.model_validate(
        {"fields": {"vip": True, "score": 2.0, "n": 3, "zip": "0100", "gone": None}}).fields
    assert fields == {"vip": True, "score": 2.0, "n": 3, "zip": "0100", "gone": None}
    assert type(fields["vip"]) is bool and type(fields["score"]) is float


async def test_a_float_integral_abandon_target_is_still_a_number(
    client: httpx.AsyncClient,
) -> None:
    assert (await create(client, abandon_target=0.02)).status_code == 503


# -- D14: names, caller IDs, seats ----------------------------------------------------------

@pytest.mark.parametrize("name", ["   ", "\t", "a\u2028b", "a\u2029b", "a\x85b", "a\x9fb"])
async def test_a_campaign_name_is_printable_and_not_blank(
    client: httpx.AsyncClient, name: str
) -> None:
    assert [f for f, _ in refused(await create(client, name=name))] == ["name"]


def test_a_name_loses_its_surrounding_blanks() -> None:
    assert CampaignIn.model_validate({**GOOD, "name": "  spring "}).name == "spring"
    assert CampaignIn.model_validate({**GOOD, "name": "春季 活动"}).name == "春季 活动"


@pytest.mark.parametrize("caller_id", [
    "+0000000000",  # no country has code 0
    "123",
    "95588",  # a bank's short service number: not a number the trunk can present
    "+4008001234",  # national digits behind a "+": Romania has no such number
    "02161234567890123",
])
async def test_a_caller_id_must_be_a_real_number(
    client: httpx.AsyncClient, caller_id: str
) -> None:
    assert [f for f, _ in refused(await create(client, caller_id=caller_id))] == ["caller_id"]


async def test_a_seat_is_listed_once(client: httpx.AsyncClient) -> None:
    [(field, message)] = refused(await create(client, seats=["1001", "1002", "1001"]))
    assert field == "seats.2" and "'1001' is listed twice" in message


# -- finding 7: the caller ID stored is the one the trunk adapter sends ---------------------

def rules(**change: Any) -> dict[str, Any]:
    body = CampaignIn.model_validate({**GOOD, **change})
    fields = body.model_dump(exclude={"seats", "windows"})
    fields["windows"] = [{"start": "10:00", "end": "12:00", "days": list(range(7))}]
    return validated_values(fields, body.model_fields_set, "CN")


class Sent:
    def __init__(self) -> None:
        self.actions: list[Mapping[str, ActionValue]] = []

    async def send(self, action: Mapping[str, ActionValue], **_: Any) -> None:
        self.actions.append(action)


@pytest.mark.parametrize(("given", "region", "stored"), [
    ("02161234567", "CN", "+862161234567"),  # a Shanghai line, national
    ("4008001234", "CN", "+864008001234"),  # a 400 service number, national
    ("+862161234567", "CN", "+862161234567"),
    ("2025550123", "US", "+12025550123"),
    ("02079460000", "GB", "+442079460000"),
])
async def test_a_caller_id_is_stored_as_the_trunk_is_given_it(
    given: str, region: str, stored: str
) -> None:
    values = rules(caller_id=given, default_region=region)
    assert values["caller_id"] == stored
    conn = Sent()
    await actions.originate_through_trunk(
        cast(Any, conn), trunk="trunk", number="+8613800138000", context="cti-dialer",
        channel_id="cti-dial-1-x", variables={}, caller_id_number=values["caller_id"],
        timeout_ms=15_000)
    assert f"<{stored}>" in str(conn.actions[0]["CallerID"])


def test_a_campaign_without_a_region_reads_its_caller_id_in_the_services() -> None:
    assert rules(caller_id="02161234567", default_region=None)["caller_id"] == "+862161234567"


# -- D15: messages that name what the client sent -----------------------------------------

async def test_the_cap_the_client_set_is_the_one_named(client: httpx.AsyncClient) -> None:
    [(field, message)] = refused(await create(client, cap_per_day=5))  # week: default 3
    assert field == "cap_per_day" and message == "must be at most cap_per_week (3)"
    [(field, message)] = refused(await create(client, cap_per_week=1, cap_per_day=2))
    assert field == "cap_per_week" and message == "must be at least cap_per_day (2)"


async def test_a_dnc_region_that_does_not_exist_is_named(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/dnc", json={"phone": "2025550123", "region": "ZZ"},
                                 headers=SUP)
    assert [f for f, _ in refused(response)] == ["region"]
    response = await client.delete("/v1/dnc/2025550123?region=ZZ",
                                   headers=bearer("admin-token"))
    assert [f for f, _ in refused(response)] == ["region"]


# -- D11: only IANA zones ---------------------------------------------------------------

@pytest.mark.parametrize("zone", ["localtime", "Factory", "posixrules", "posix/Asia/Shanghai",
                                  "right/UTC"])
async def test_a_campaign_zone_is_an_iana_zone(client: httpx.AsyncClient, zone: str) -> None:
    [(field, message)] = refused(await create(client, default_timezone=zone))
    assert field == "default_timezone" and "IANA" in message


async def test_iana_zones_and_their_links_are_accepted(client: httpx.AsyncClient) -> None:
    for zone in ("Asia/Shanghai", "Asia/Urumqi", "UTC", "US/Eastern", "PRC"):
        assert (await create(client, default_timezone=zone)).status_code == 503, zone


def test_the_refusals_are_api_errors() -> None:
    with pytest.raises(ApiError) as caught:
        rules(caller_id="+0000000000")
    assert caught.value.details["fields"][0]["field"] == "caller_id"


# -- calling windows: 24:00 ends a window at midnight, as a skill group's hours may --------

async def test_a_calling_window_may_end_at_24_00(client: httpx.AsyncClient) -> None:
    for windows in ([{"start": "20:00", "end": "24:00"}],
                    [{"start": "00:00", "end": "24:00", "days": [5, 6]}]):
        assert (await create(client, windows=windows)).status_code == 503, windows
    body = CampaignIn.model_validate({**GOOD, "windows": [{"start": "20:00", "end": "24:00"}]})
    values = validated_values({**body.model_dump(exclude={"seats"})}, body.model_fields_set,
                              "CN")
    assert values["windows"][0]["end"] == "24:00"


@pytest.mark.parametrize(("window", "field", "says"), [
    ({"start": "20:00", "end": "00:00"}, "windows.0.end", "ends at 24:00"),
    ({"start": "20:00", "end": "24:01"}, "windows.0.end", "00:01 to 24:00"),
    ({"start": "20:00", "end": "25:00"}, "windows.0.end", "00:01 to 24:00"),
    ({"start": "24:00", "end": "24:00"}, "windows.0.start", "00:00 to 23:59"),
    ({"start": "20:00:30", "end": "24:00"}, "windows.0.start", "00:00 to 23:59"),
    ({"start": "18:00", "end": "09:00"}, "windows.0", "24:00 ends it at midnight"),
])
async def test_a_calling_window_time_out_of_range_is_named_with_what_is_accepted(
    client: httpx.AsyncClient, window: dict[str, Any], field: str, says: str
) -> None:
    [(name, message)] = refused(await create(client, windows=[window]))
    assert name == field and says in message, message
