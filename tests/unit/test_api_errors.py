"""Every error leaves the API as a problem document with a stable code."""

from __future__ import annotations

import logging

import httpx
import pytest
from fastapi import FastAPI

from tests.unit._api_fakes import bearer, make_app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


def fields(response: httpx.Response) -> list[str]:
    body = response.json()
    assert response.status_code == 422, body
    assert body["code"] == "invalid_input"
    assert set(body) == {"code", "message", "details"}
    return [f["field"] for f in body["details"]["fields"]]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("status=ringing", "status"),
        ("customer_number=12ab", "customer_number"),
        ("customer_number=%2B" + "1" * 32, "customer_number"),  # 33 characters
        ("customer_number=1%0d%0aAction:%20Originate", "customer_number"),
        ("customer_number=", "customer_number"),
        ("seat_id=10%2001", "seat_id"),
        ("since=yesterday", "since"),
        ("until=2024-13-01T00:00:00Z", "until"),
        ("since=2024-06-02T00:00:00Z&until=2024-06-01T00:00:00Z", "until"),
        ("since=2024-06-01T03:00:00%2B02:00&until=2024-06-01T00:00:00Z", "until"),
    ],
)
async def test_bad_call_queries_are_422_naming_the_field(query: str, field: str) -> None:
    async with client(make_app()) as http:
        response = await http.get(f"/v1/calls?{query}", headers=bearer())
    assert fields(response) == [field]


async def test_several_bad_fields_are_all_named() -> None:
    async with client(make_app()) as http:
        response = await http.get("/v1/calls?limit=0&offset=-5", headers=bearer())
    assert sorted(fields(response)) == ["limit", "offset"]


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/seats/10%2001", "seat_id"),
        ("/v1/skill-groups/sales%0d%0a", "name"),
        ("/v1/calls/" + "1" * 200, "call_id"),
    ],
)
async def test_bad_path_values_are_422_naming_the_field(path: str, field: str) -> None:
    async with client(make_app()) as http:
        response = await http.get(path, headers=bearer())
    assert fields(response) == [field]
    assert response.json()["details"]["fields"][0]["in"] == "path"


async def test_unknown_route_is_a_404_problem_document() -> None:
    async with client(make_app()) as http:
        response = await http.get("/v2/nothing-here")
    assert response.status_code == 404
    assert response.json() == {
        "code": "not_found",
        "message": "no resource at /v2/nothing-here",
        "details": {"resource": "route", "id": "/v2/nothing-here"},
    }


async def test_wrong_method_is_a_405_problem_document() -> None:
    async with client(make_app()) as http:
        response = await http.delete("/healthz")
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert "GET" in response.headers["allow"]


async def test_unexpected_errors_are_500_logged_and_leak_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()

    @app.get("/v1/test/boom")
    async def boom() -> None:
        raise RuntimeError("secret connection string postgres://u:pw@db")

    with caplog.at_level(logging.ERROR, logger="cti.api.errors"):
        async with client(app) as http:
            response = await http.get("/v1/test/boom", headers=bearer())
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "internal"
    assert "secret" not in response.text and "Traceback" not in response.text
    incident = body["details"]["incident"]
    [record] = [r for r in caplog.records if incident in r.getMessage()]
    assert record.exc_info is not None and "secret" in str(record.exc_info[1])


async def test_database_down_is_503_not_500() -> None:
    async with client(make_app()) as http:
        response = await http.get("/v1/calls", headers=bearer())
    assert response.status_code == 503
    assert response.json()["code"] == "unavailable"
    assert response.json()["details"] == {"component": "database"}


async def test_live_seats_are_served_while_the_database_is_down() -> None:
    async with client(make_app()) as http:
        response = await http.get("/v1/seats", headers=bearer())
    assert response.status_code == 200
