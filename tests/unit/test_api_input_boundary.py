"""The API's input boundary, without a database: text PostgreSQL cannot store, times at
the edge of the calendar, ids past the database's integers and loose JSON types are all
refused with a 422 naming the field, before anything reaches the store.

The app's sessionmaker points at a closed port (``tests.unit._api_fakes``): a request
that reached the database would answer 503, so a 422 here was decided at the boundary.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from cti.api.errors import first_unstorable
from cti.api.recording_service import RecordingService
from cti.outbound.click_to_dial import ClickRequest, ClickResult
from tests.unit._api_fakes import bearer, make_app, unreachable_sessionmaker

SUP = bearer("supervisor-token")


class RecordingClicks:
    """Click-to-dial that records what it was asked and places nothing."""

    def __init__(self) -> None:
        self.asked: list[ClickRequest] = []

    async def dial(self, request: ClickRequest) -> ClickResult:
        self.asked.append(request)
        return ClickResult(call_id="node1:1.1", attempt_id=1, seat_id=request.seat_id,
                           number="+8613800138000", campaign_id=request.campaign_id,
                           replayed=False)


@pytest.fixture
def app() -> FastAPI:
    app = make_app()
    app.state.click_to_dial = RecordingClicks()
    # Any recordings service: the requests below are refused before it is called.
    app.state.services = dataclasses.replace(app.state.services, recordings=object())
    return app


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        yield c


def refused(response: httpx.Response) -> list[tuple[str, str]]:
    """The (field, in) pairs of a 422."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["code"] == "invalid_input", body
    return [(f["field"], f["in"]) for f in body["details"]["fields"]]


# -- D1: a NUL anywhere in JSON bodies, queries and paths ---------------------------------

NUL_BODIES = [
    ("PATCH", "/v1/campaigns/41/leads/78", SUP, {"fields": {"note": "a\x00b"}},
     "fields.note"),
    ("PATCH", "/v1/calls/probe:call-56/lead", bearer(), {"fields": {"note": "a\x00b"}},
     "fields.note"),
    ("POST", "/v1/dnc", SUP, {"phone": "13800000012", "reason": "a\x00b"}, "reason"),
    ("POST", "/v1/calls/probe:call-54/disposition", bearer(),
     {"code": "other", "notes": "a\x00b"}, "notes"),
    ("POST", "/v1/calls/probe:call-56/disposition", bearer(),
     {"code": "do_not_call", "notes": "x\x00"}, "notes"),
    ("PUT", "/v1/campaigns/41/script", SUP, {"script": "a\x00b"}, "script"),
    ("POST", "/v1/campaigns", SUP,
     {"name": "nulscript", "caller_id": "+861012345678", "seats": ["1001"], "script": "x\x00"},
     "script"),
    ("POST", "/v1/campaigns", SUP,
     {"name": "w", "caller_id": "+861012345678", "seats": ["1001", "10\x0002"]}, "seats.1"),
    ("POST", "/v1/calls/node1:1.1/monitor", SUP, {"mode": "listen", "phone": "10\x0001"},
     "phone"),  # other features' routes too
]


@pytest.mark.parametrize(("method", "path", "who", "body", "field"), NUL_BODIES)
async def test_a_nul_in_any_json_body_is_refused_naming_its_path(
    client: httpx.AsyncClient, method: str, path: str, who: dict[str, str], body: Any,
    field: str,
) -> None:
    response = await client.request(method, path, json=body, headers=who)
    assert refused(response) == [(field, "body")]
    assert "NUL" in response.json()["details"]["fields"][0]["message"]


@pytest.mark.parametrize("path", [
    "/v1/campaigns/41/leads?customer=a%00b",
    "/v1/dials?customer=a%00b",
])
async def test_a_nul_in_a_query_is_refused_naming_the_parameter(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path, headers=SUP)
    assert refused(response) == [(path.split("?")[1].split("=")[0], "query")]


async def test_a_nul_in_a_path_is_refused_naming_it(client: httpx.AsyncClient) -> None:
    """(The number's own check refused this one already; the message is now the NUL's.)"""
    response = await client.delete("/v1/dnc/1380013%008000", headers=bearer("admin-token"))
    assert refused(response) == [("phone", "path")]
    assert "NUL" in response.json()["details"]["fields"][0]["message"]


async def test_an_object_key_with_a_nul_is_refused_naming_its_object(
    client: httpx.AsyncClient,
) -> None:
    response = await client.patch("/v1/campaigns/1/leads/2", json={"fields": {"a\x00": "b"}},
                                  headers=SUP)
    assert refused(response) == [("fields", "body")]


def test_the_walk_finds_the_first_value_in_document_order() -> None:
    assert first_unstorable({"a": ["ok", {"b": "x\x00"}], "c": "\x00"}) == (
        "a.1.b", "holds a NUL character (U+0000), which cannot be stored")
    assert first_unstorable("\x00")[0] == ""  # type: ignore[index]
    assert first_unstorable({"a": [1, 2.5, True, None, "ok"]}) is None
    deep: Any = "\x00"
    for _ in range(5_000):  # deeper than the recursion limit: the walk keeps its own stack
        deep = [deep]
    found = first_unstorable(deep)
    assert found is not None and found[0].count(".") == 4_999


async def test_uploads_are_not_read_by_the_check(client: httpx.AsyncClient) -> None:
    """Lead imports stream their body themselves: a NUL there is the importer's to report
    (it reaches the store: 503 here), and the body is not buffered by the check."""
    for content_type, body in (("text/csv", b"phone,name\n13800138000,a\x00b\n"),
                               ("application/json", b'[{"phone": "1\\u0000"}]')):
        response = await client.post("/v1/campaigns/1/leads", content=body,
                                     headers={**SUP, "Content-Type": content_type})
        assert response.status_code == 503, response.text


async def test_a_json_route_refuses_another_media_type_with_415(
    client: httpx.AsyncClient,
) -> None:
    for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
        headers = {**SUP, **({"Content-Type": content_type} if content_type else {})}
        response = await client.post("/v1/campaigns", content=b"name=x", headers=headers)
        assert response.status_code == 415, response.text
        assert response.json()["code"] == "unsupported_media_type"
        assert response.json()["details"]["field"] == "Content-Type"
    # application/*+json is JSON too; a route with an optional body takes none.
    vendor = await client.post("/v1/dnc", content=b'{"phone": "x"}',
                               headers={**SUP, "Content-Type": "application/problem+json"})
    assert refused(vendor) == [("phone", "body")]
    assert (await client.post("/v1/campaigns/1/preview", headers=bearer())).status_code == 503


# -- D4: times whose offset moves them out of the calendar ------------------------------

@pytest.mark.parametrize("path", [
    "/v1/dials?since=0001-01-01T00:00:00%2B01:00",
    "/v1/dials?until=9999-12-31T23:59:59-01:00",
    "/v1/calls?since=0001-01-01T00:00:00%2B14:00",
    "/v1/calls?until=9999-12-31T23:59:59-12:00",
    "/v1/callbacks?until=9999-12-31T23:59:59-12:00",
    "/v1/callbacks?until=0001-01-01T00:00:00%2B14:00",
    "/v1/recordings?since=0001-01-01T00:00:00%2B14:00",
])
async def test_a_time_at_the_edge_of_the_calendar_is_a_422_naming_it(
    client: httpx.AsyncClient, path: str
) -> None:
    name = path.split("?")[1].split("=")[0]
    response = await client.get(path, headers=SUP)
    assert refused(response) == [(name, "query")]
    assert "years 1 to 9999" in response.json()["details"]["fields"][0]["message"]


@pytest.mark.parametrize(("path", "name"), [
    ("/v1/reports/calls?from=9999-12-31", "from"),  # the default end, a day later
    ("/v1/reports/agents?from=0001-01-01&tz=Asia/Tokyo", "from"),
    ("/v1/reports/skill-groups?from=0001-01-01T00:00:00%2B05:00", "from"),
    ("/v1/reports/campaigns?from=2026-01-01&to=0001-01-01T00:00:00%2B01:00", "to"),
    ("/v1/recordings/sample?from=0001-01-01&to=0001-01-01&tz=Asia/Tokyo", "from"),
])
async def test_a_period_at_the_edge_of_the_calendar_is_a_422_naming_it(
    app: FastAPI, client: httpx.AsyncClient, path: str, name: str
) -> None:
    """As a time given to /v1/calls: the same rule, the same words (they were a 500)."""
    app.state.services = dataclasses.replace(app.state.services, recordings=RecordingService(
        unreachable_sessionmaker(), cast(Any, None), cast(Any, None), 92))
    response = await client.get(path, headers=SUP)
    assert refused(response) == [(name, "query")]
    assert response.json()["details"]["fields"][0]["message"] == (
        "out of range: the time must fall within the years 1 to 9999 in UTC")


async def test_query_times_are_compared_in_utc(client: httpx.AsyncClient) -> None:
    # 00:00 at +08:00 is 16:00 UTC the day before: before a naive (UTC) 17:00.
    response = await client.get("/v1/dials?since=2023-12-31T17:00:00"
                                "&until=2024-01-01T00:00:00%2B08:00", headers=SUP)
    assert refused(response) == [("until", "query")]


@pytest.mark.parametrize("due_at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
async def test_a_lead_due_at_the_edge_of_the_calendar_is_a_422(
    client: httpx.AsyncClient, due_at: str
) -> None:
    response = await client.patch("/v1/campaigns/34/leads/48", json={"due_at": due_at},
                                  headers=SUP)
    assert refused(response) == [("due_at", "body")]


# -- D6 and D13 on click-to-dial and the DNC list ------------------------------------------

@pytest.mark.parametrize(("change", "field"), [
    ({"campaign_id": 99_999_999_999}, "campaign_id"),  # past PostgreSQL's integer
    ({"campaign_id": "1"}, "campaign_id"),
    ({"campaign_id": 1e3}, "campaign_id"),
    ({"campaign_id": True}, "campaign_id"),
    ({"auto_answer": "yes"}, "auto_answer"),
    ({"auto_answer": 1}, "auto_answer"),
])
async def test_click_to_dial_takes_ids_and_yes_no_as_they_are(
    app: FastAPI, client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post("/v1/calls/click-to-dial",
                                 json={"number": "13800000011", "seat": "1001", **change},
                                 headers=SUP)
    assert refused(response) == [(field, "body")]
    assert app.state.click_to_dial.asked == []


async def test_click_to_dial_still_takes_a_good_request(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/v1/calls/click-to-dial", json={
        "number": "13800000011", "seat": "1001", "campaign_id": 2**31 - 1,
        "auto_answer": True}, headers=SUP)
    assert response.status_code == 201, response.text
    assert app.state.click_to_dial.asked[0].campaign_id == 2**31 - 1
    assert app.state.click_to_dial.asked[0].auto_answer is True


@pytest.mark.parametrize("campaign_id", [99_999_999_999, "7", True])
async def test_a_dnc_entry_names_a_campaign_by_a_real_id(
    client: httpx.AsyncClient, campaign_id: Any
) -> None:
    response = await client.post("/v1/dnc", json={"phone": "13800000011",
                                                  "campaign_id": campaign_id}, headers=SUP)
    assert refused(response) == [("campaign_id", "body")]


@pytest.mark.parametrize("finished", ["yes", 1, "true"])
async def test_finishing_a_lead_takes_a_boolean(
    client: httpx.AsyncClient, finished: Any
) -> None:
    response = await client.patch("/v1/campaigns/34/leads/48", json={"finished": finished},
                                  headers=SUP)
    assert refused(response) == [("finished", "body")]


# -- D15: one of the misleading messages: an agent without a seat --------------------------

async def test_an_agent_without_a_seat_is_not_told_to_name_one(app: FastAPI) -> None:
    from cti.api.auth import Authenticator, Caller, Role

    async def lookup(token: str) -> Caller | None:
        return Caller(user_id=9, username="noseat", role=Role.AGENT, seat_id=None)

    app.state.authenticator = Authenticator(lookup)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        response = await c.post("/v1/calls/click-to-dial", json={"number": "13800000011"},
                                headers=bearer("any"))
    assert response.status_code == 403, response.text
    assert "name the seat" not in response.json()["message"]
    assert "--seat" in response.json()["message"]


@pytest.mark.parametrize(("model", "body", "field"), [
    ("GroupPatch", {"ring_seconds": "30"}, "ring_seconds"),
    ("GroupPatch", {"wrapup_seconds": True}, "wrapup_seconds"),
    ("GroupPatch", {"widen": [{"after_seconds": "60", "max_level": 1}]}, "widen"),
    ("MemberIn", {"level": True}, "level"),
    ("MenuIn", {"greeting": "dir-welcome", "options": [], "default_group": "sales",
                "catch_all": "yes"}, "catch_all"),
    ("MenuIn", {"greeting": "dir-welcome", "options": [], "default_group": "sales",
                "timeout_seconds": 5.0}, "timeout_seconds"),
])
def test_inbound_settings_take_numbers_and_yes_no_as_they_are(
    model: str, body: dict[str, Any], field: str
) -> None:
    from pydantic import ValidationError

    from cti.api import inbound_schemas

    with pytest.raises(ValidationError) as caught:
        getattr(inbound_schemas, model).model_validate(body)
    assert caught.value.errors()[0]["loc"][0] == field


async def test_a_qa_sample_to_the_last_day_of_the_calendar_is_a_422(app: FastAPI) -> None:
    """The sample runs to the end of its last day: past 9999-12-31 (OverflowError)."""
    from cti.api.recording_service import RecordingService
    from tests.unit._api_fakes import unreachable_sessionmaker

    app.state.services = dataclasses.replace(app.state.services, recordings=RecordingService(
        unreachable_sessionmaker(), cast(Any, None), cast(Any, None), 92))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as c:
        response = await c.get("/v1/recordings/sample?from=9999-12-30&to=9999-12-31",
                               headers=SUP)
    assert refused(response) == [("to", "query")]
