"""``GET /v1/tokens`` and ``DELETE /v1/tokens/{id}`` (admins) over the real PostgreSQL: a
revoked token stops working at once, though the API had it cached, and an event stream
open with it closes at its next token check.

There was no way to list or revoke a token but SQL; and a revocation made there went on
being honoured for as long as the token cache kept the token (30 s).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from cti.api.app import TOKEN_CACHE_TTL, create_app
from cti.cli import SERVICE_TOKEN_CACHE_SECONDS
from cti.config import AsteriskFilesSettings, DialerSettings, Settings
from cti.db import repositories
from cti.stack.ports import free_port
from cti.stream.hub import EventHub
from tests.support.api import api_clients
from tests.unit._api_fakes import FakeLiveView

pytestmark = pytest.mark.integration

DEADLINE = 20.0


def settings_for(tmp_path: Path) -> Settings:
    (tmp_path / "asterisk" / "system").mkdir(parents=True, exist_ok=True)
    return Settings(
        environment="test",
        dialer=DialerSettings(import_spool_dir=str(tmp_path / "spool"), import_workers=0),
        asterisk=AsteriskFilesSettings(root=str(tmp_path / "asterisk"), sounds_dir="/sounds",
                                       system_sounds_dir="/system"),
    )


@pytest.fixture
async def api(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    async with api_clients(db_sessionmaker, settings_for(tmp_path)) as clients:
        yield clients


def by_user(tokens: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {t["user"]: t for t in tokens}


async def test_admins_list_tokens_without_their_secrets(
    api: dict[str, httpx.AsyncClient],
) -> None:
    r = await api["admin"].get("/v1/tokens")
    assert r.status_code == 200, r.text
    tokens = by_user(r.json())
    assert set(tokens) == {"agent", "supervisor", "admin"}
    agent = tokens["agent"]
    assert (agent["role"], agent["seat_id"], agent["label"], agent["revoked_at"]) == (
        "agent", "1001", "test", None)
    assert set(agent) == {"id", "user", "role", "seat_id", "label", "prefix", "created_at",
                          "last_used_at", "revoked_at"}
    assert tokens["admin"]["last_used_at"] is not None  # this request used it
    for client in api.values():
        secret = client.headers["Authorization"].removeprefix("Bearer ")
        assert secret not in r.text and secret[12:] not in r.text
        assert secret.startswith(by_user(r.json())[next(
            u for u, c in api.items() if c is client)]["prefix"])

    r = await api["admin"].get("/v1/tokens", params={"user": "supervisor"})
    assert r.status_code == 200 and [t["user"] for t in r.json()] == ["supervisor"], r.text
    r = await api["admin"].get("/v1/tokens", params={"user": "a b"})
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "user"

    for who in ("agent", "supervisor"):
        assert (await api[who].get("/v1/tokens")).status_code == 403


async def test_a_revoked_token_stops_working_at_once(
    api: dict[str, httpx.AsyncClient],
) -> None:
    assert (await api["agent"].get("/v1/seats")).status_code == 200  # now in the cache
    tokens = by_user((await api["admin"].get("/v1/tokens")).json())

    assert (await api["supervisor"].delete(f"/v1/tokens/{tokens['agent']['id']}")
            ).status_code == 403
    r = await api["admin"].delete(f"/v1/tokens/{tokens['agent']['id']}")
    assert r.status_code == 204, r.text

    r = await api["agent"].get("/v1/seats")
    assert r.status_code == 401, r.text
    assert (await api["supervisor"].get("/v1/seats")).status_code == 200  # the others work
    listed = by_user((await api["admin"].get("/v1/tokens")).json())
    assert listed["agent"]["revoked_at"] is not None

    # again: already revoked, nothing to do; an id nobody has: 404 naming it
    r = await api["admin"].delete(f"/v1/tokens/{tokens['agent']['id']}")
    assert r.status_code == 204, r.text
    r = await api["admin"].delete("/v1/tokens/99999")
    assert r.status_code == 404 and r.json()["details"] == {"resource": "token", "id": "99999"}
    for bad in ("abc", "0", str(2**31)):
        r = await api["admin"].delete(f"/v1/tokens/{bad}")
        assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "token_id"


async def test_an_event_stream_open_with_a_revoked_token_is_closed_at_its_next_check(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path,
) -> None:
    settings = settings_for(tmp_path)
    settings.stream.token_recheck = 0.2
    live = FakeLiveView()
    app = create_app(settings, live=live, sessionmaker=db_sessionmaker, health=[],
                     hub=EventHub(live))  # the default token cache: 30 s
    async with db_sessionmaker() as session:
        agent = await repositories.create_token(session, "ann", "agent", "desk", "1001")
        admin = await repositories.create_token(session, "root", "admin", "ops")
        [desk] = await repositories.list_tokens(session, "ann")
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off",
                                           ws="websockets-sansio"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(DEADLINE):
            while not server.started:  # noqa: ASYNC110 (uvicorn offers only this flag)
                await asyncio.sleep(0.01)
        async with connect(f"ws://127.0.0.1:{port}/v1/events?token={agent}") as ws:
            assert '"snapshot"' in str(await asyncio.wait_for(ws.recv(), DEADLINE))
            await asyncio.sleep(0.5)  # rechecked (from the cache): still admitted
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                r = await http.delete(f"/v1/tokens/{desk.id}",
                                      headers={"Authorization": f"Bearer {admin}"})
                assert r.status_code == 204, r.text
            with pytest.raises(ConnectionClosed) as closed:
                # well before the cache's 30 s would have run out
                await asyncio.wait_for(ws.recv(), 5.0)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, DEADLINE)
        await app.state.imports.close()


def test_the_cli_says_how_long_the_running_service_takes_to_see_its_changes() -> None:
    assert SERVICE_TOKEN_CACHE_SECONDS == TOKEN_CACHE_TTL
