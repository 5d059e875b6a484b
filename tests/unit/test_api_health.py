"""/healthz says the process answers; /readyz aggregates every component's own report."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from cti.health import ComponentStatus
from tests.unit._api_fakes import StaticHealth, make_app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")


class BrokenReporter:
    def health(self) -> ComponentStatus:
        raise RuntimeError("reporter bug")


async def test_healthz_answers_while_components_are_down() -> None:
    down = StaticHealth(ComponentStatus("ami:node1", ok=False))
    async with client(make_app(health=[down])) as http:
        response = await http.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_readyz_is_200_when_every_component_is_ok() -> None:
    reporters = [
        StaticHealth(ComponentStatus("ami:node1", ok=True, detail={"logged_in": True})),
        StaticHealth(ComponentStatus("database", ok=True)),
    ]
    async with client(make_app(health=list(reporters))) as http:
        response = await http.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ok": True,
        "components": [
            {"name": "ami:node1", "ok": True, "detail": {"logged_in": True}},
            {"name": "database", "ok": True, "detail": {}},
        ],
    }


async def test_readyz_is_503_when_a_component_is_down() -> None:
    reporters = [
        StaticHealth(ComponentStatus("ami:node1", ok=False, detail={"error": "refused"})),
        StaticHealth(ComponentStatus("database", ok=True)),
    ]
    async with client(make_app(health=list(reporters))) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["ok"] is False
    assert [(c["name"], c["ok"]) for c in body["components"]] == [
        ("ami:node1", False),
        ("database", True),
    ]
    assert body["components"][0]["detail"] == {"error": "refused"}


async def test_a_reporter_that_raises_counts_as_down() -> None:
    async with client(make_app(health=[BrokenReporter()])) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json()["components"] == [
        {"name": "BrokenReporter", "ok": False, "detail": {"error": "RuntimeError"}}
    ]
