"""Outbound routes without a database: roles, and bad input refused before any I/O.

The app's sessionmaker points at a closed port, so a request that reached the database
would answer 503; a 422 here proves the input was refused before the store was asked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.unit._api_fakes import bearer, make_app

GOOD: dict[str, Any] = {"name": "spring", "caller_id": "4008001234", "seats": ["1001"]}


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=make_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
        yield c


def fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert body["code"] == "invalid_input", body
    return [f["field"] for f in body["details"]["fields"]]


@pytest.mark.parametrize(
    ("method", "path", "json"),
    [
        ("POST", "/v1/campaigns", GOOD),
        ("PATCH", "/v1/campaigns/1", {"max_attempts": 2}),
        ("POST", "/v1/campaigns/1/start", None),
        ("POST", "/v1/campaigns/1/leads", None),
        ("PUT", "/v1/campaigns/1/script", {"script": "hello"}),
        ("GET", "/v1/dnc", None),
        ("POST", "/v1/dnc", {"phone": "13800138000"}),
    ],
)
async def test_agents_cannot_manage_campaigns_or_dnc(
    client: httpx.AsyncClient, method: str, path: str, json: Any
) -> None:
    response = await client.request(method, path, json=json, headers=bearer("agent-token"))
    assert response.status_code == 403 and response.json()["code"] == "forbidden"


async def test_only_admins_take_numbers_off_the_dnc_list(client: httpx.AsyncClient) -> None:
    response = await client.delete("/v1/dnc/+8613800138000", headers=bearer("supervisor-token"))
    assert response.status_code == 403


async def test_no_token_no_campaigns(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v1/campaigns")).status_code == 401


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"windows": [{"start": "18:00", "end": "09:00"}]}, "windows.0"),
        ({"windows": [{"start": "10:00", "end": "12:00", "days": []}]}, "windows.0"),
        ({"windows": []}, "windows"),
        ({"windows": [{"start": "25:00", "end": "26:00"}]}, "windows.0.start"),
        ({"retry_delays": {"busy": 59}}, "retry_delays.busy"),
        ({"retry_delays": {"sale": 600}}, "retry_delays.sale.[key]"),
        ({"cap_per_day": 0}, "cap_per_day"),
        ({"cap_per_week": 0}, "cap_per_week"),
        ({"cap_per_day": 3, "cap_per_week": 2}, "cap_per_week"),
        ({"default_timezone": "Mars/Olympus"}, "default_timezone"),
        ({"default_region": "XX"}, "default_region"),
        ({"caller_id": "4008\r\n001234"}, "caller_id"),
        ({"seats": ["1001\r\nAction: Originate"]}, "seats.0"),
        ({"mode": "blaster"}, "mode"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"grade_cadences": {"H": 0}}, "grade_cadences.H"),
        ({"unknown": 1}, "unknown"),
    ],
)
async def test_bad_campaigns_are_refused_naming_the_field(
    client: httpx.AsyncClient, change: dict[str, Any], field: str
) -> None:
    response = await client.post(
        "/v1/campaigns", json={**GOOD, **change}, headers=bearer("supervisor-token")
    )
    assert response.status_code == 422, response.text
    assert field in fields(response)


async def test_bad_import_parameters_are_refused_before_reading(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/v1/campaigns/1/leads?encoding=klingon", content=b"phone\n1\n",
        headers=bearer("supervisor-token"),
    )
    assert response.status_code == 422 and fields(response) == ["encoding"]
    response = await client.post(
        "/v1/campaigns/0/leads", content=b"", headers=bearer("supervisor-token")
    )
    assert response.status_code == 422 and fields(response) == ["campaign_id"]


async def test_bad_dispositions_and_dnc_numbers(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/calls/node1:1.1/disposition", json={"code": "maybe"}, headers=bearer()
    )
    assert response.status_code == 422 and fields(response) == ["code"]
    response = await client.post(
        "/v1/dnc", json={"phone": "call me maybe"}, headers=bearer("supervisor-token")
    )
    assert response.status_code == 422 and fields(response) == ["phone"]


async def test_a_good_request_reaches_the_store(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/campaigns", json=GOOD, headers=bearer("supervisor-token"))
    assert response.status_code == 503 and response.json()["code"] == "unavailable"
