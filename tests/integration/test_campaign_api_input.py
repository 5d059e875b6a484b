"""The outbound API against the real PostgreSQL: who may read a lead, what a PATCH may
leave a campaign with, and that refused input writes nothing (it used to be a 500 from
the database, or stored as sent)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import AsteriskFilesSettings, DialerSettings, Settings
from cti.db import campaign_repository as repo
from cti.db import repositories
from dialer.compliance import Reason
from tests.support.api import api_clients

pytestmark = pytest.mark.integration

WAIT = {"Prefer": "wait=30"}
ALWAYS = [{"start": "00:00", "end": "23:59"}]
#: Who calls: a supervisor, an admin, agents at seats 1001 and 1002, an agent with none.
PEOPLE = {"supervisor": ("supervisor", None), "admin": ("admin", None),
          "agent1001": ("agent", "1001"), "agent1002": ("agent", "1002"),
          "agent_noseat": ("agent", None)}


@pytest.fixture
async def api(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    (tmp_path / "asterisk" / "system").mkdir(parents=True)
    settings = Settings(
        environment="test",
        dialer=DialerSettings(import_spool_dir=str(tmp_path / "spool"), import_workers=0),
        asterisk=AsteriskFilesSettings(root=str(tmp_path / "asterisk"), sounds_dir="/sounds",
                                       system_sounds_dir="/system"),
    )
    async with api_clients(db_sessionmaker, settings, PEOPLE) as clients:
        yield clients


async def campaign(sup: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": "spring", "caller_id": "4008001234", "seats": ["1001"],
            "windows": ALWAYS, "default_timezone": "UTC", **fields}
    created = await sup.post("/v1/campaigns", json=body)
    assert created.status_code == 201, created.text
    found: dict[str, Any] = created.json()
    return found


async def with_leads(sup: httpx.AsyncClient, cid: int, *phones: str) -> None:
    job = await sup.post(f"/v1/campaigns/{cid}/leads",
                         content=("phone,name\n" + "".join(f"{p},x\n" for p in phones)).encode(),
                         headers={**WAIT, "Content-Type": "text/csv"})
    assert job.status_code == 201 and job.json()["imported"] == len(phones), job.text


async def test_agents_read_leads_only_of_campaigns_they_work(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The list refused them, and the same leads were readable one id at a time."""
    sup = api["supervisor"]
    cid = (await campaign(sup))["id"]
    await with_leads(sup, cid, "13800138000", "13800138001")
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert lead is not None
    one = f"/v1/campaigns/{cid}/leads/{lead.id}"

    for who in ("supervisor", "admin", "agent1001"):
        seen = await api[who].get(one)
        assert seen.status_code == 200 and seen.json()["phone"] == "+8613800138000", who
    for who in ("agent1002", "agent_noseat"):
        for path in (one, f"/v1/campaigns/{cid}/leads", f"/v1/campaigns/{cid}/leads/999"):
            refused = await api[who].get(path)
            assert refused.status_code == 403, (who, path, refused.text)
            assert refused.json()["code"] == "forbidden"
        attempts = await api[who].get(f"{one}/attempts")  # supervisors' already
        assert attempts.status_code == 403
    # Working it through a skill group counts, as for the list.
    await sup.patch(f"/v1/campaigns/{cid}", json={"skill_group": "sales", "seats": []})
    async with db_sessionmaker() as s:
        await repositories.set_skill_group_member(s, "sales", "1002")
    assert (await api["agent1002"].get(one)).status_code == 200
    assert (await api["agent1001"].get(one)).status_code == 403


async def test_a_screen_pop_is_for_the_calls_agent_or_the_campaigns(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = api["supervisor"]
    cid = (await campaign(sup))["id"]
    await with_leads(sup, cid, "13800138000", "13800138001")
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        first = await repo.lead_by_phone(s, cid, "+8613800138000")
        second = await repo.lead_by_phone(s, cid, "+8613800138001")
        assert first is not None and second is not None
        await s.commit()
        await repo.claim_dial(s, first.id, now, call_id="node1:1.1", seat_id="1001")
        # Seat 1002 does not work the campaign, and dialed for it (click-to-dial).
        await repo.claim_dial(s, second.id, now, call_id="node1:2.1", seat_id="1002")

    assert (await api["agent1001"].get("/v1/calls/node1:1.1/lead")).status_code == 200
    assert (await api["supervisor"].get("/v1/calls/node1:1.1/lead")).status_code == 200
    for who in ("agent1002", "agent_noseat"):
        refused = await api[who].get("/v1/calls/node1:1.1/lead")
        assert refused.status_code == 403, (who, refused.text)
    own = await api["agent1002"].get("/v1/calls/node1:2.1/lead")
    assert own.status_code == 200 and own.json()["lead"]["phone"] == "+8613800138001"
    assert (await api["agent1001"].get("/v1/calls/node1:2.1/lead")).status_code == 200
    assert (await api["agent_noseat"].get("/v1/calls/node1:9.1/lead")).status_code == 404


async def test_a_running_or_paused_campaign_keeps_someone_to_dial_for(
    api: dict[str, httpx.AsyncClient],
) -> None:
    sup = api["supervisor"]
    cid = (await campaign(sup))["id"]
    draft = await sup.patch(f"/v1/campaigns/{cid}", json={"seats": []})
    assert draft.status_code == 200 and draft.json()["seats"] == []  # set up step by step
    await sup.patch(f"/v1/campaigns/{cid}", json={"seats": ["1001"]})
    assert (await sup.post(f"/v1/campaigns/{cid}/start")).status_code == 200
    for state in ("running", "paused"):
        emptied = await sup.patch(f"/v1/campaigns/{cid}", json={"seats": []})
        assert emptied.status_code == 422, emptied.text
        assert emptied.json()["details"]["fields"][0]["field"] == "seats"
        assert (await sup.get(f"/v1/campaigns/{cid}")).json()["seats"] == ["1001"], state
        await sup.post(f"/v1/campaigns/{cid}/pause")
    # Handing it over to a skill group is fine; taking that away too is not.
    moved = await sup.patch(f"/v1/campaigns/{cid}", json={"seats": [], "skill_group": "sales"})
    assert moved.status_code == 200, moved.text
    dropped = await sup.patch(f"/v1/campaigns/{cid}", json={"skill_group": None})
    assert dropped.status_code == 422
    assert dropped.json()["details"]["fields"][0]["field"] == "skill_group"
    resumed = await sup.post(f"/v1/campaigns/{cid}/start")
    assert resumed.status_code == 200 and resumed.json()["skill_group"] == "sales"


async def test_a_patch_out_of_range_or_naming_the_wrong_cap_changes_nothing(
    api: dict[str, httpx.AsyncClient],
) -> None:
    sup = api["supervisor"]
    before = await campaign(sup)
    cid = before["id"]
    for change, field in (({"retry_delays": {"busy": 10**20}}, "retry_delays.busy"),
                          ({"retry_delays": {"busy": -(10**20)}}, "retry_delays.busy"),
                          ({"grade_cadences": {"A": 1_000_000_000}}, "grade_cadences.A"),
                          ({"cap_per_day": 5}, "cap_per_day"),  # the week's cap is 3
                          ({"cap_per_week": 0}, "cap_per_week"),
                          ({"seats": ["1001", "1001"]}, "seats.1"),
                          ({"default_timezone": "localtime"}, "default_timezone"),
                          ({"caller_id": "+0000000000"}, "caller_id"),
                          ({"name": "  "}, "name"),
                          ({"max_attempts": True}, "max_attempts")):
        refused = await sup.patch(f"/v1/campaigns/{cid}", json=change)
        assert refused.status_code == 422, (change, refused.text)
        assert refused.json()["details"]["fields"][0]["field"] == field, refused.text
    after = (await sup.get(f"/v1/campaigns/{cid}")).json()
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"}


async def test_a_calling_window_ending_at_24_00_is_stored_and_gates_dials_to_midnight(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = api["supervisor"]
    c = await campaign(sup, windows=[{"start": "00:00", "end": "24:00", "days": [0]}])
    assert c["windows"] == [{"start": "00:00", "end": "24:00", "days": [0]}]
    cid = c["id"]
    patched = await sup.patch(f"/v1/campaigns/{cid}",
                              json={"windows": [{"start": "20:00", "end": "24:00"}]})
    assert patched.status_code == 200, patched.text
    assert (await sup.get(f"/v1/campaigns/{cid}")).json()["windows"] == [
        {"start": "20:00", "end": "24:00", "days": list(range(7))}]
    refused = await sup.patch(f"/v1/campaigns/{cid}",
                              json={"windows": [{"start": "20:00", "end": "00:00"}]})
    assert refused.status_code == 422
    assert refused.json()["details"]["fields"][0]["field"] == "windows.0.end"

    await with_leads(sup, cid, "13800138000")  # a Chinese mobile: Asia/Shanghai
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert lead is not None
        before_midnight = datetime(2030, 6, 3, 15, 59, 30, tzinfo=UTC)  # 23:59:30 Beijing
        late = await repo.check_lead(s, lead.id, before_midnight)
        after_midnight = before_midnight + timedelta(seconds=60)  # 00:00:30 Beijing
        next_day = await repo.check_lead(s, lead.id, after_midnight)
    assert late is not None and Reason.OUTSIDE_WINDOW not in late.reasons, late
    assert next_day is not None and Reason.OUTSIDE_WINDOW in next_day.reasons, next_day


async def test_a_lead_file_named_utf16_is_imported_row_by_row(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """Excel's "Unicode text" (UTF-16LE with a BOM), and UTF-16BE without one named by the
    charset: each row read (a 0x0A byte inside 上 or 瀊 is not a newline)."""
    sup = api["supervisor"]
    cid = (await campaign(sup))["id"]
    text = "phone,name\n13800138000,上官\n13800138001,瀊\n"
    named = await sup.post(f"/v1/campaigns/{cid}/leads?encoding=utf-16",
                           content=text.encode("utf-16"), headers=WAIT)
    assert named.status_code == 201, named.text
    job = named.json()
    assert (job["state"], job["imported"], job["rejected"], job["encoding"]) == (
        "done", 2, 0, "utf-16"), job
    charset = await sup.post(
        f"/v1/campaigns/{cid}/leads",
        content="phone\n13800138002\n".encode("utf-16-be"),
        headers={**WAIT, "Content-Type": "text/csv; charset=utf-16-be"})
    assert (charset.json()["imported"], charset.json()["rejected"]) == (1, 0), charset.text
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138001")
    assert lead is not None and lead.fields["name"] == "瀊"


async def test_caller_ids_and_names_are_stored_as_they_will_be_used(
    api: dict[str, httpx.AsyncClient],
) -> None:
    sup = api["supervisor"]
    c = await campaign(sup, name=" base ", caller_id="02161234567")
    assert c["caller_id"] == "+862161234567" and c["name"] == "base"
    same = await sup.post("/v1/campaigns", json={"name": "base", "caller_id": "4008001234"})
    assert same.status_code == 409  # "base " was another name before
    patched = await sup.patch(f"/v1/campaigns/{c['id']}", json={"caller_id": "4008001234"})
    assert patched.status_code == 200 and patched.json()["caller_id"] == "+864008001234"
    us = await campaign(sup, name="us", caller_id="2025550123", default_region="US")
    assert us["caller_id"] == "+12025550123"


async def test_text_that_cannot_be_stored_is_a_422_and_writes_nothing(
    api: dict[str, httpx.AsyncClient],
) -> None:
    """These were 500s from PostgreSQL ("invalid byte sequence ... 0x00")."""
    sup = api["supervisor"]
    cid = (await campaign(sup))["id"]
    await with_leads(sup, cid, "13800138000")
    lead = (await sup.get(f"/v1/campaigns/{cid}/leads")).json()["items"][0]
    note = await sup.patch(f"/v1/campaigns/{cid}/leads/{lead['id']}",
                           json={"fields": {"note": "a\x00b"}})
    assert note.status_code == 422 and note.json()["details"]["fields"][0]["field"] == (
        "fields.note")
    assert (await sup.get(f"/v1/campaigns/{cid}/leads/{lead['id']}")).json()["fields"] == {
        "name": "x"}
    dnc = await sup.post("/v1/dnc", json={"phone": "13800000012", "reason": "a\x00b"})
    assert dnc.status_code == 422
    assert (await sup.get("/v1/dnc")).json()["total"] == 0
    for path in (f"/v1/campaigns/{cid}/leads?customer=a%00b", "/v1/dials?customer=a%00b"):
        assert (await sup.get(path)).status_code == 422, path
    script = await sup.put(f"/v1/campaigns/{cid}/script", json={"script": "a\x00b"})
    assert script.status_code == 422
    assert (await sup.get(f"/v1/campaigns/{cid}")).json()["script"] == ""


async def test_a_national_number_comes_off_the_dnc_list_in_its_region(
    api: dict[str, httpx.AsyncClient],
) -> None:
    sup, admin = api["supervisor"], api["admin"]
    added = await sup.post("/v1/dnc", json={"phone": "2025550123", "region": "US"})
    assert added.status_code == 201 and added.json()["phone"] == "+12025550123"
    assert (await admin.delete("/v1/dnc/2025550123")).status_code == 404  # read as CN
    assert (await admin.delete("/v1/dnc/2025550123?region=US")).status_code == 204
    assert (await sup.get("/v1/dnc")).json()["total"] == 0
