"""The outbound REST API through the app, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.app import create_app
from cti.config import Settings
from cti.db import campaign_repository as repo
from cti.db import repositories
from cti.db.campaign_models import Campaign, LeadRow
from tests.unit._api_fakes import FakeLiveView

pytestmark = pytest.mark.integration

SCRIPT = "\u60a8\u597d\uff0c\u6211\u662f\u2026"  # "Hello, this is..." in Chinese


@pytest.fixture
async def api(
    db_sessionmaker: async_sessionmaker[AsyncSession],
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    app = create_app(Settings(environment="test"), live=FakeLiveView(),
                     sessionmaker=db_sessionmaker, health=[])
    clients: dict[str, httpx.AsyncClient] = {}
    async with db_sessionmaker() as session:
        for role in ("agent", "supervisor", "admin"):
            token = await repositories.create_token(
                session, f"{role}1", role, "test", seat_id="1001" if role == "agent" else None
            )
            clients[role] = httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test",
                headers={"Authorization": f"Bearer {token}"},
            )
    try:
        yield clients
    finally:
        for c in clients.values():
            await c.aclose()


async def count(maker: async_sessionmaker[AsyncSession], model: type) -> int:
    async with maker() as s:
        return await s.scalar(select(func.count()).select_from(model)) or 0


async def test_campaign_lifecycle_and_bad_input_applies_nothing(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]
    bad = await sup.post("/v1/campaigns", json={
        "name": "x", "caller_id": "4008001234",
        "windows": [{"start": "10:00", "end": "12:00"}, {"start": "20:00", "end": "08:00"}],
    })
    assert bad.status_code == 422
    assert bad.json()["details"]["fields"][0]["field"] == "windows.1"
    assert await count(db_sessionmaker, Campaign) == 0

    created = await sup.post("/v1/campaigns", json={
        "name": "spring", "caller_id": "4008001234", "mode": "predictive",
        "retry_delays": {"busy": 600}, "default_timezone": "Asia/Shanghai",
    })
    assert created.status_code == 201, created.text
    c = created.json()
    assert c["state"] == "draft" and c["allowed_transitions"] == ["start", "stop"]
    assert c["windows"] == [{"start": "10:00", "end": "12:00", "days": list(range(7))},
                            {"start": "15:00", "end": "18:00", "days": list(range(7))}]
    assert c["retry_delays"]["busy"] == 600 and c["retry_delays"]["no_answer"] == 7200
    assert c["grade_cadences"] == {"H": 3, "A": 7, "B": 15, "C": None}
    cid = c["id"]
    dup = await sup.post("/v1/campaigns", json={"name": "spring", "caller_id": "4008001234"})
    assert dup.status_code == 409 and dup.json()["code"] == "conflict"

    # Without seats or a skill group there is nobody to dial for.
    assert (await sup.post(f"/v1/campaigns/{cid}/start")).status_code == 409
    # A half-bad patch changes nothing.
    half = await sup.patch(f"/v1/campaigns/{cid}",
                           json={"seats": ["1001"], "retry_delays": {"machine": 5}})
    assert half.status_code == 422
    assert (await sup.get(f"/v1/campaigns/{cid}")).json()["seats"] == []
    patched = await sup.patch(f"/v1/campaigns/{cid}",
                              json={"seats": ["1001", "1002"], "cap_per_week": 2})
    assert patched.status_code == 200, patched.text
    assert patched.json()["seats"] == ["1001", "1002"]
    assert patched.json()["retry_delays"]["busy"] == 600  # kept

    states = []
    for action in ("start", "pause", "start", "stop"):
        r = await sup.post(f"/v1/campaigns/{cid}/{action}")
        assert r.status_code == 200, r.text
        states.append(r.json()["state"])
    assert states == ["running", "paused", "running", "stopped"]
    final = await sup.post(f"/v1/campaigns/{cid}/start")
    assert final.status_code == 409 and final.json()["details"]["state"] == "stopped"

    script = await sup.put(f"/v1/campaigns/{cid}/script", json={"script": SCRIPT})
    assert script.status_code == 200
    seen = await agent.get(f"/v1/campaigns/{cid}")  # agents read the script
    assert seen.status_code == 200 and seen.json()["script"] == SCRIPT
    listed = (await agent.get("/v1/campaigns")).json()
    assert listed["total"] == 1


async def test_lead_import_over_http(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = api["supervisor"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "leads", "caller_id": "4008001234", "skill_group": "sales",
    })).json()["id"]
    gbk = "电话,姓名,等级\n13800138000,张三,H\n0991-5551234,李四,A\n坏,王五,B\n".encode("gbk")
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=gbk,
                       headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.text
    report = r.json()
    assert (report["rows"], report["imported"], report["rejected"]) == (3, 2, 1)
    assert report["encoding"] == "gb18030"
    assert report["errors"] == [{"row": 4, "field": "phone", "code": "not_a_number",
                                 "message": "does not look like a phone number",
                                 "value": "坏"}]

    bom = "\ufeffphone,city\n13800138000,北京\n13800138001,上海\n".encode()
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=bom)
    assert r.json()["imported"] == 1 and r.json()["duplicates_in_campaign"] == 1

    doc = json.dumps([{"phone": "13800138002", "grade": "C"}, {"phone": "+1 415 555 0123"}])
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=doc.encode(),
                       headers={"Content-Type": "application/json"})
    assert r.json()["format"] == "json" and r.json()["imported"] == 2

    nd = b'{"phone": "13800138003"}\n{"phone": 13800138004, "tz": "Asia/Urumqi"}\n'
    r = await sup.post(f"/v1/campaigns/{cid}/leads?format=ndjson", content=nd)
    assert r.json()["imported"] == 2
    assert await count(db_sessionmaker, LeadRow) == 7

    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138004")
    assert lead is not None and lead.timezones == ("Asia/Urumqi",)
    missing = await sup.post("/v1/campaigns/999/leads", content=b"phone\n13800138000\n")
    assert missing.status_code == 404

    stats = (await sup.get(f"/v1/campaigns/{cid}/stats")).json()
    assert stats["leads"] == 7 and stats["leads_never_called"] == 7
    assert stats["leads_overdue"] == 0  # imported a moment ago


async def test_dnc_and_dispositions(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent, admin = api["supervisor"], api["agent"], api["admin"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "dnc", "caller_id": "4008001234", "seats": ["1001"],
        "windows": [{"start": "00:00", "end": "23:59"}], "default_timezone": "UTC",
    })).json()["id"]
    await sup.post(f"/v1/campaigns/{cid}/leads",
                   content=b"phone\n13800138000\n13800138001\n")

    added = await sup.post("/v1/dnc", json={"phone": "138 0013 8001", "reason": "asked"})
    assert added.status_code == 201 and added.json() == {
        "phone": "+8613800138001", "campaign_id": None, "added": True}
    per = await sup.post("/v1/dnc", json={"phone": "+8613800138000", "campaign_id": cid})
    assert per.json()["added"]
    page = (await sup.get("/v1/dnc")).json()
    assert [e["phone"] for e in page["items"]] == ["+8613800138001"]
    assert (await sup.get(f"/v1/dnc?campaign_id={cid}")).json()["total"] == 1
    assert (await admin.delete(f"/v1/dnc/+8613800138000?campaign_id={cid}")).status_code == 204
    assert (await admin.delete(f"/v1/dnc/+8613800138000?campaign_id={cid}")).status_code == 404

    # The dialer (not this API) claims a dial; the agent then disposes of the call.
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert lead is not None
        await s.commit()
        claim = await repo.claim_dial(s, lead.id, now, call_id="node1:77.1", seat_id="1001")
    assert claim is not None and claim.attempt_id is not None, claim

    pop = await agent.get("/v1/calls/node1:77.1/lead")
    assert pop.status_code == 200, pop.text
    assert pop.json()["lead"]["phone"] == "+8613800138000"
    assert pop.json()["lead"]["blocked_by"] == ["cap_day", "not_due"]  # just dialed
    assert (await agent.get("/v1/calls/node1:78.1/lead")).status_code == 404
    other = await agent.get(f"/v1/campaigns/{cid}/leads/{lead.id + 1}")
    assert other.status_code == 200 and other.json()["blocked_by"] == ["dnc_global"]

    no_time = await agent.post("/v1/calls/node1:77.1/disposition", json={"code": "callback"})
    assert no_time.status_code == 422
    assert no_time.json()["details"]["fields"][0]["field"] == "callback_at"
    when = (now + timedelta(days=1)).isoformat()
    cb = await agent.post("/v1/calls/node1:77.1/disposition",
                          json={"code": "callback", "callback_at": when, "grade": "H",
                                "notes": "call after lunch"})
    assert cb.status_code == 201, cb.text
    assert cb.json()["callback_seat_id"] == "1001" and cb.json()["grade"] == "H"

    refusal = await agent.post("/v1/calls/node1:77.1/disposition", json={"code": "do_not_call"})
    assert refusal.status_code == 201 and refusal.json()["added_to_dnc"] is True
    globally = (await sup.get("/v1/dnc?phone=13800138000")).json()
    assert globally["total"] == 1 and globally["items"][0]["source"] == "disposition"

    # An agent at another seat may not dispose of this call; a supervisor may.
    async with db_sessionmaker() as s:
        token = await repositories.create_token(s, "agent2", "agent", "test", seat_id="1002")
    other_agent = {"Authorization": f"Bearer {token}"}
    theirs = await agent.post("/v1/calls/node1:77.1/disposition", json={"code": "other"},
                              headers=other_agent)
    assert theirs.status_code == 403 and theirs.json()["details"] == {"seat_id": "1001"}
    supervisor_note = await sup.post("/v1/calls/node1:77.1/disposition", json={"code": "other"})
    assert supervisor_note.status_code == 201
    assert supervisor_note.json()["next_eligible_at"] is None  # the refusal still ends it

    unknown = await agent.post("/v1/calls/node1:404.1/disposition", json={"code": "sale"})
    assert unknown.status_code == 404 and unknown.json()["details"]["resource"] == "call"
    stats = (await sup.get(f"/v1/campaigns/{cid}/stats")).json()
    assert stats["in_progress"] == 1
    assert stats["dispositions"] == {"callback": 1, "do_not_call": 1, "other": 1}


async def test_import_progress_is_visible_while_it_runs(
    api: dict[str, httpx.AsyncClient],
) -> None:
    sup = api["supervisor"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "progress", "caller_id": "4008001234", "skill_group": "sales",
    })).json()["id"]
    release = asyncio.Event()

    async def body() -> AsyncIterator[bytes]:
        yield b"phone\n" + b"".join(f"139{i:08d}\n".encode() for i in range(300))
        await release.wait()  # the upload stalls half-way
        yield b"".join(f"138{i:08d}\n".encode() for i in range(200))

    upload = asyncio.create_task(sup.post(f"/v1/campaigns/{cid}/leads", content=body()))
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        imports = (await sup.get(f"/v1/campaigns/{cid}/imports")).json()
        if imports and imports[0]["rows"] == 300:
            break
        assert asyncio.get_running_loop().time() < deadline, imports
        await asyncio.sleep(0.05)
    assert imports[0]["state"] == "running"
    release.set()
    report = (await upload).json()
    assert report["imported"] == 500
    done = (await sup.get(f"/v1/campaigns/{cid}/imports")).json()[0]
    assert (done["state"], done["rows"], done["imported"]) == ("done", 500, 500)
