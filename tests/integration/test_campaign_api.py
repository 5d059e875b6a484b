"""The outbound REST API through the app, against the real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import AsteriskFilesSettings, DialerSettings, Settings
from cti.db import campaign_repository as repo
from cti.db import inbound_repository as inbound_repo
from cti.db import lead_import_repository as jobs
from cti.db import repositories
from cti.db.campaign_models import Campaign, LeadRow
from cti.db.lead_import_repository import ParsedBatch
from cti.imports.pipeline import parse_stream
from cti.imports.runner import ImportRunner
from cti.telephony.inbound import GroupSettings
from dialer.leads import ImportOptions
from dialer.schedule import Outcome
from tests.support.api import api_clients
from tests.support.wav import samples_of, tone_wav

pytestmark = pytest.mark.integration

SCRIPT = "\u60a8\u597d\uff0c\u6211\u662f\u2026"  # "Hello, this is..." in Chinese
WAIT = {"Prefer": "wait=30"}
SPOOL_LIMIT = 64 * 1024


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
def asterisk_root(tmp_path: Path) -> Path:
    """The Asterisk node's files as the service reaches them, with one sound of its own."""
    root = tmp_path / "asterisk"
    (root / "system").mkdir(parents=True)
    (root / "system" / "acme-busy.gsm").write_bytes(b"gsm")
    return root


@pytest.fixture
async def api(
    db_sessionmaker: async_sessionmaker[AsyncSession], spool_dir: Path, asterisk_root: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    # Numbers are resolved in a thread here (import_workers=0); the process pool is
    # exercised in test_campaign_store.py and by bench/lead_import.
    settings = Settings(
        environment="test",
        dialer=DialerSettings(import_spool_dir=str(spool_dir), import_max_bytes=SPOOL_LIMIT,
                              import_workers=0, import_batch_size=100),
        asterisk=AsteriskFilesSettings(root=str(asterisk_root), sounds_dir="/sounds",
                                       system_sounds_dir="/system"),
    )
    people = {role: (role, "1001" if role == "agent" else None)
              for role in ("agent", "supervisor", "admin")}
    async with api_clients(db_sessionmaker, settings, people) as clients:
        yield clients


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
    assert c["abandon_target"] == 0.03  # the regulators' limit, unless the seller asks less
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
    # A stricter seller: a lower abandon target; never above 3%, never null.
    for wrong in (0.05, None, 0):
        refused = await sup.patch(f"/v1/campaigns/{cid}", json={"abandon_target": wrong})
        assert refused.status_code == 422, refused.text
        assert refused.json()["details"]["fields"][0]["field"] == "abandon_target"
    strict = await sup.patch(f"/v1/campaigns/{cid}", json={"abandon_target": 0.02})
    assert strict.status_code == 200 and strict.json()["abandon_target"] == 0.02
    assert strict.json()["cap_per_week"] == 2  # kept

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
    other = (await sup.post("/v1/campaigns", json={"name": "autumn",
                                                   "caller_id": "4008001234"})).json()
    drafts = (await sup.get("/v1/campaigns?state=draft")).json()
    assert [c["id"] for c in drafts["items"]] == [other["id"]] and drafts["total"] == 1
    assert [c["id"] for c in (await sup.get("/v1/campaigns?state=stopped")).json()["items"]
            ] == [cid]
    assert (await sup.get("/v1/campaigns?state=running")).json()["total"] == 0
    wrong = await sup.get("/v1/campaigns?state=done")
    assert wrong.status_code == 422 and wrong.json()["details"]["fields"][0]["field"] == "state"


async def test_a_campaign_names_only_seats_and_skill_groups_that_exist(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """A typo used to give a campaign that said "running" and never dialed."""
    sup = api["supervisor"]
    typo = await sup.post("/v1/campaigns", json={
        "name": "typo", "caller_id": "4008001234", "seats": ["1001", "1O02", "9999"]})
    assert typo.status_code == 422
    field = typo.json()["details"]["fields"][0]
    assert field["field"] == "seats.1"
    assert "'1O02'" in field["message"] and "9999" in field["message"]
    nogroup = await sup.post("/v1/campaigns", json={
        "name": "typo", "caller_id": "4008001234", "skill_group": "sa1es"})
    assert nogroup.status_code == 422
    assert nogroup.json()["details"]["fields"][0]["field"] == "skill_group"
    assert await count(db_sessionmaker, Campaign) == 0

    async with db_sessionmaker() as s:  # a group of its own, deleted below
        await inbound_repo.insert_group(s, GroupSettings(name="winter"), "node1")
        await s.commit()
    created = await sup.post("/v1/campaigns", json={
        "name": "winter", "caller_id": "4008001234", "skill_group": "winter"})
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    # The configured groups and the registered seats pass; a PATCH is checked the same way.
    for good in ({"skill_group": "sales"}, {"seats": ["1002"]}, {"skill_group": "winter"}):
        assert (await sup.patch(f"/v1/campaigns/{cid}", json=good)).status_code == 200
    bad = await sup.patch(f"/v1/campaigns/{cid}", json={"seats": ["1002", "7777"]})
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "seats.1"
    assert (await sup.get(f"/v1/campaigns/{cid}")).json()["seats"] == ["1002"]

    # The group goes away after the campaign was set up: it does not start.
    async with db_sessionmaker() as s:
        assert await inbound_repo.delete_group(s, "winter")
        await s.commit()
    refused = await sup.post(f"/v1/campaigns/{cid}/start")
    assert refused.status_code == 409, refused.text
    assert refused.json()["details"]["fields"] == ["skill_group"]
    assert "'winter'" in refused.json()["message"]
    assert (await sup.get(f"/v1/campaigns/{cid}")).json()["state"] == "draft"


async def test_a_campaign_has_its_own_abandon_message_recorded_or_named(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession],
    asterisk_root: Path,
) -> None:
    sup, agent = api["supervisor"], api["agent"]
    created = await sup.post("/v1/campaigns", json={
        "name": "acme", "caller_id": "4008001234", "abandon_message": "acme-busy"})
    assert created.status_code == 201 and created.json()["abandon_message"] == "acme-busy"
    cid = created.json()["id"]
    default = await sup.post("/v1/campaigns", json={"name": "plain", "caller_id": "4008001234"})
    assert default.json()["abandon_message"] is None  # the service's default
    missing = await sup.patch(f"/v1/campaigns/{cid}", json={"abandon_message": "nobody-here"})
    assert missing.status_code == 422
    assert missing.json()["details"]["fields"][0]["field"] == "abandon_message"

    wav = tone_wav(3.0, rate=16000)
    r = await sup.put(f"/v1/campaigns/{cid}/abandon-message", content=wav,
                      headers={"Content-Type": "audio/wav"})
    assert r.status_code == 200, r.text
    name = f"cti/campaigns/abandon-{cid}"
    assert r.json()["abandon_message"] == name
    campaigns_dir = asterisk_root / "sounds" / "campaigns"
    stored = campaigns_dir / f"abandon-{cid}.wav16"  # Asterisk reads 16 kHz from .wav16
    assert samples_of(stored.read_bytes()) == samples_of(wav)
    assert (await agent.get(f"/v1/campaigns/{cid}")).json()["abandon_message"] == name

    # A refused upload changes nothing; one for no campaign writes nothing.
    bad = await sup.put(f"/v1/campaigns/{cid}/abandon-message",
                        content=tone_wav(3.0, channels=2), headers={"Content-Type": "audio/wav"})
    assert bad.status_code == 422 and bad.json()["details"]["reason"] == "not_mono"
    nobody = await sup.put("/v1/campaigns/999/abandon-message", content=wav,
                           headers={"Content-Type": "audio/wav"})
    assert nobody.status_code == 404
    assert await asyncio.to_thread(os.listdir, campaigns_dir) == [stored.name]

    again = await sup.put(f"/v1/campaigns/{cid}/abandon-message",
                          content=tone_wav(2.0, rate=8000), headers={"Content-Type": "audio/wav"})
    assert again.status_code == 200 and again.json()["abandon_message"] == name
    assert await asyncio.to_thread(os.listdir, campaigns_dir) == [f"abandon-{cid}.wav"]

    back = await sup.delete(f"/v1/campaigns/{cid}/abandon-message")
    assert back.status_code == 200 and back.json()["abandon_message"] is None
    # The recording stays: a call placed a moment ago may still be about to play it.
    assert await asyncio.to_thread(os.listdir, campaigns_dir) == [f"abandon-{cid}.wav"]
    named = await sup.patch(f"/v1/campaigns/{cid}", json={"abandon_message": name})
    assert named.status_code == 200 and named.json()["abandon_message"] == name
    reset = await sup.patch(f"/v1/campaigns/{cid}", json={"abandon_message": None})
    assert reset.status_code == 200 and reset.json()["abandon_message"] is None
    assert (await sup.delete("/v1/campaigns/999/abandon-message")).status_code == 404

    # PostgreSQL holds the sound-name pattern too: it goes into the dialplan.
    async with db_sessionmaker() as s:
        with pytest.raises(sa_exc.IntegrityError, match="abandon_message_sound_name"):
            await repo.update_campaign(s, cid, {"abandon_message": "x,skip&/etc/passwd"})


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
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/campaigns/{cid}/imports/{job['id']}"
    assert job["state"] in ("queued", "running", "done") and job["bytes_total"] == len(gbk)
    report = await finished(sup, r.headers["location"])
    assert (report["rows"], report["imported"], report["rejected"]) == (3, 2, 1)
    assert report["encoding"] == "gb18030" and report["progress"] == 1.0
    assert report["errors_by_code"] == {"not_a_number": 1}
    errors = (await sup.get(report["errors_url"])).json()
    assert errors["total"] == 1
    assert errors["items"] == [{"row": 4, "field": "phone", "code": "not_a_number",
                                "message": "does not look like a phone number",
                                "value": "坏"}]

    # Prefer: wait=N: a small list's result in the same exchange (201, the job ended).
    bom = "\ufeffphone,city\n13800138000,北京\n13800138001,上海\n".encode()
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=bom, headers=WAIT)
    assert r.status_code == 201 and r.headers["preference-applied"] == "wait=30"
    assert r.json()["imported"] == 1 and r.json()["duplicates_in_campaign"] == 1
    assert r.json()["encoding"] == "utf-8-sig"

    doc = json.dumps([{"phone": "13800138002", "grade": "C"}, {"phone": "+1 415 555 0123"}])
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=doc.encode(),
                       headers={"Content-Type": "application/json", **WAIT})
    assert r.json()["format"] == "json" and r.json()["imported"] == 2

    nd = b'{"phone": "13800138003"}\n{"phone": 13800138004, "tz": "Asia/Urumqi"}\n'
    r = await sup.post(f"/v1/campaigns/{cid}/leads?format=ndjson", content=nd, headers=WAIT)
    assert r.json()["imported"] == 2
    assert await count(db_sessionmaker, LeadRow) == 7

    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138004")
    assert lead is not None and lead.timezones == ("Asia/Urumqi",)
    missing = await sup.post("/v1/campaigns/999/leads", content=b"phone\n13800138000\n")
    assert missing.status_code == 404
    listed = (await sup.get(f"/v1/campaigns/{cid}/imports")).json()
    assert listed["total"] == 4 and [j["state"] for j in listed["items"]] == ["done"] * 4
    assert listed["items"][0]["format"] == "ndjson"  # newest first

    stats = (await sup.get(f"/v1/campaigns/{cid}/stats")).json()
    assert stats["leads"] == 7 and stats["leads_never_called"] == 7
    assert stats["leads_overdue"] == 0  # imported a moment ago


async def finished(client: httpx.AsyncClient, location: str) -> dict[str, object]:
    """Poll a job until it ends (bounded)."""
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        job: dict[str, object] = (await client.get(location)).json()
        if job["state"] in ("done", "failed"):
            return job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.05)


async def test_bad_uploads_are_refused_and_bad_rows_reported(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession],
    spool_dir: Path,
) -> None:
    sup = api["supervisor"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "bad", "caller_id": "4008001234", "skill_group": "sales",
        "default_timezone": "Asia/Shanghai",
    })).json()["id"]
    too_big = await sup.post(f"/v1/campaigns/{cid}/leads", content=b"x" * (SPOOL_LIMIT + 1))
    assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"

    async def chunked_too_big() -> AsyncIterator[bytes]:  # no Content-Length to go by
        for _ in range(SPOOL_LIMIT // 1000 + 1):
            yield b"1" * 1000

    streamed = await sup.post(f"/v1/campaigns/{cid}/leads", content=chunked_too_big())
    assert streamed.status_code == 413
    empty = await sup.post(f"/v1/campaigns/{cid}/leads", content=b"")
    assert empty.status_code == 422 and empty.json()["details"]["fields"][0]["field"] == "body"
    assert await asyncio.to_thread(os.listdir, spool_dir) == []  # nothing left behind
    assert (await sup.get(f"/v1/campaigns/{cid}/imports")).json()["total"] == 0

    lines = [
        "phone,tz,grade,name",
        "13800138000,,H,ok",
        "not a number,,A,bad number",
        "13800138001,Mars/Olympus,A,bad zone",
        '13800138002,,B,"a name on',
        'two lines"',
        "13800138000,,A,duplicate in list",
        "13800138004,,A,a,b,c,d",
        "13800138005,,Z,bad grade",
        '13800138008,,A,"bad"quote',
        "13800138007,,,北京",  # the first non-ASCII line: UTF-8
    ]
    body = ("\n".join(lines) + "\n").encode() + "13800138006,,,坏\n".encode("gbk")
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=body, headers=WAIT)
    job = r.json()
    assert job["state"] == "done", job
    assert job["imported"] == 3  # the good rows kept, the two-line one too
    codes = {e["row"]: e["code"] for e in
             (await sup.get(job["errors_url"] + "?limit=2&offset=0")).json()["items"]}
    page2 = (await sup.get(job["errors_url"] + "?limit=100&offset=2")).json()
    codes |= {e["row"]: e["code"] for e in page2["items"]}
    assert codes == {3: "not_a_number", 4: "unknown_timezone", 7: "duplicate_in_list",
                     8: "too_many_columns", 9: "invalid_grade", 10: "malformed_csv",
                     12: "encoding"}
    assert page2["total"] == 7 and job["rejected"] == 6 and job["duplicates_in_list"] == 1
    assert job["encoding"] == "utf-8"
    async with db_sessionmaker() as s:
        two_lines = await repo.lead_by_phone(s, cid, "+8613800138002")
    assert two_lines is not None and two_lines.fields["name"] == "a name on\ntwo lines"

    download = await sup.get(job["errors_url"] + ".csv")
    assert download.status_code == 200 and download.headers["content-type"].startswith("text/csv")
    table = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert table[0] == ["row", "field", "code", "message", "value"] and len(table) == 8
    assert table[1][:3] == ["3", "phone", "not_a_number"]

    wrong = await sup.post(f"/v1/campaigns/{cid}/leads?format=csv&encoding=utf-16",
                             content="phone\n13800138000\n".encode("gbk"), headers=WAIT)
    assert wrong.json()["state"] == "done" and wrong.json()["imported"] == 0
    gone = await sup.get(f"/v1/campaigns/{cid}/imports/999")
    assert gone.status_code == 404 and gone.json()["details"]["resource"] == "import"
    assert (await sup.get("/v1/campaigns/999/imports/1")).status_code == 404


async def test_dnc_and_dispositions(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent, admin = api["supervisor"], api["agent"], api["admin"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "dnc", "caller_id": "4008001234", "seats": ["1001"],
        "windows": [{"start": "00:00", "end": "23:59"}], "default_timezone": "UTC",
    })).json()["id"]
    await sup.post(f"/v1/campaigns/{cid}/leads",
                   content=b"phone\n13800138000\n13800138001\n", headers=WAIT)

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
    """The upload is answered once spooled; the job then reports its progress."""
    sup = api["supervisor"]
    cid = (await sup.post("/v1/campaigns", json={
        "name": "progress", "caller_id": "4008001234", "skill_group": "sales",
    })).json()["id"]
    body = b"phone\n" + b"".join(f"139{i:08d}\n".encode() for i in range(2_000))
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=body)
    assert r.status_code == 202
    seen: list[tuple[str, int]] = []
    deadline = asyncio.get_running_loop().time() + 60
    while True:
        job = (await sup.get(r.headers["location"])).json()
        seen.append((job["state"], job["imported"]))
        if job["state"] == "done":
            break
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.01)
    assert (job["rows"], job["imported"], job["progress"]) == (2_000, 2_000, 1.0)
    imported = [n for _, n in seen]
    assert imported == sorted(imported)  # committed batches of 100: it only grows


async def test_a_restart_resumes_an_interrupted_job(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A job left running (the service stopped mid-import) resumes after its last commit;
    one whose spooled file is gone fails with a reason."""
    async with db_sessionmaker() as s:
        cid = (await repo.create_campaign(s, {
            "name": "restart", "mode": "progressive", "caller_id": "4008001234",
            "default_region": "CN", "windows": [{"start": "10:00", "end": "12:00",
                                                 "days": list(range(7))}],
            "max_attempts": 3, "retry_delays": {}, "grade_cadences": {},
            "cap_per_day": 1, "cap_per_week": 3,
        }, [])).id
    rows = [f"139{i:08d}" for i in range(300)]
    data = ("phone\n" + "\n".join(rows) + "\n").encode()
    spooled = tmp_path / "job.upload"
    spooled.write_bytes(data)
    async with db_sessionmaker() as s:
        job = await jobs.create_import(s, cid, {}, str(spooled), len(data))
        lost = await jobs.create_import(s, cid, {}, str(tmp_path / "gone.upload"), 10)
        await jobs.claim(s, job.id)
        # What the stopped run had committed: the first 100 rows.
        first = (await repo.import_leads(
            s, cid, _batches(data[: data.index(rows[100].encode())]), now=datetime.now(UTC),
            import_id=job.id)).imported
    assert first == 100

    runner = ImportRunner(db_sessionmaker, workers=0, batch_size=50, default_region="CN")
    try:
        await runner.recover()
        assert await runner.wait(job.id, 60) and await runner.wait(lost.id, 60)
    finally:
        await runner.close()
    async with db_sessionmaker() as s:
        done = await jobs.get_import(s, cid, job.id)
        failed = await jobs.get_import(s, cid, lost.id)
        leads = await s.scalar(select(func.count()).select_from(LeadRow))
    assert done is not None and done.state == "done" and done.attempts == 2
    assert (done.rows_read, done.accepted, done.duplicates_in_campaign) == (300, 300, 0)
    assert leads == 300 and done.spool_path is None and not spooled.exists()
    assert failed is not None and failed.state == "failed" and "gone" in (failed.error or "")


def _batches(data: bytes) -> AsyncIterator[ParsedBatch]:
    async def one() -> AsyncIterator[bytes]:
        yield data

    return parse_stream(one(), ImportOptions(default_region="CN"))


async def _preview_campaign(sup: httpx.AsyncClient, name: str, leads: bytes,
                            seats: Sequence[str] = ("1001", "1002"), **extra: Any) -> int:
    """A preview campaign of `seats`, open all day, with `leads` (CSV) imported; a draft."""
    created = await sup.post("/v1/campaigns", json={
        "name": name, "caller_id": "4008001234", "mode": "preview", "seats": list(seats),
        "windows": [{"start": "00:00", "end": "23:59"}], **extra})
    assert created.status_code == 201, created.text
    cid: int = created.json()["id"]
    imported = await sup.post(f"/v1/campaigns/{cid}/leads", content=leads, headers=WAIT)
    assert imported.json()["rejected"] == 0, imported.text
    return cid


async def _dialed(maker: async_sessionmaker[AsyncSession], campaign_id: int, phone: str,
                  at: datetime, call_id: str, seat: str | None = None,
                  outcome: Outcome | None = None) -> int:
    """The dialer's part, through the store: a dial of the campaign's lead for `phone`
    (E.164) claimed at `at` (the gate must allow it), closed with `outcome` if given (else
    still on). The lead's id."""
    async with maker() as s:
        lead = await repo.lead_by_phone(s, campaign_id, phone)
        assert lead is not None
        await s.commit()  # end the read: the claim commits its own transaction
        claim = await repo.claim_dial(s, lead.id, at, call_id=call_id, seat_id=seat)
        assert claim is not None and claim.attempt_id is not None, claim
        if outcome is not None:
            await repo.record_outcome(s, claim.attempt_id, outcome, at)
    return lead.id


async def test_preview_hands_each_agent_its_own_next_lead_to_dial_or_skip(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(
        sup, "preview", b"phone,name\n13800138000,A\n13800138001,B\n13800138002,C\n"
        b"13800138003,D\n", script="Good morning, {name}")
    await sup.post("/v1/dnc", json={"phone": "13800138002"})

    draft = await agent.post(f"/v1/campaigns/{cid}/preview")
    assert draft.status_code == 409 and draft.json()["details"] == {"state": "draft"}
    assert (await sup.post(f"/v1/campaigns/{cid}/start")).status_code == 200

    first = await agent.post(f"/v1/campaigns/{cid}/preview")
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["seat"] == "1001" and body["lead"]["phone"] == "+8613800138000"
    assert body["lead"]["fields"] == {"name": "A"} and body["campaign_name"] == "preview"
    held_until = datetime.fromisoformat(body["held_until"])
    assert timedelta(minutes=4) < held_until - datetime.now(UTC) <= timedelta(minutes=5)
    again = await agent.post(f"/v1/campaigns/{cid}/preview", json={})
    assert again.json()["lead"]["id"] == body["lead"]["id"]  # held: the same lead
    # Another seat gets another lead; nobody else may act for the agent's seat.
    other = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1002"})
    assert other.json()["lead"]["phone"] == "+8613800138001"
    assert (await agent.post(f"/v1/campaigns/{cid}/preview",
                             json={"seat": "1002"})).status_code == 403
    outsider = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1003"})
    assert outsider.status_code == 409 and outsider.json()["details"] == {"seat": "1003"}

    # Only the seat holding a lead may dial it until the hold ends (click-to-dial's claim).
    lead_a, now = body["lead"]["id"], datetime.now(UTC)
    async with db_sessionmaker() as s:
        stolen = await repo.claim_dial(s, lead_a, now, call_id="node1:1.1", seat_id="1002",
                                       agent_reserved=True)
        assert stolen is not None and stolen.attempt_id is None
        assert [r.value for r in stolen.decision.reasons] == ["not_due"]
        dialed = await repo.claim_dial(s, lead_a, now, call_id="node1:1.2", seat_id="1001",
                                       agent_reserved=True)
        assert dialed is not None and dialed.attempt_id is not None
        after = await repo.get_lead(s, lead_a)
    assert after is not None and after.attempts == 1 and after.previewed_by is None

    # The next lead for 1001: C is on the DNC list (put off for good), so D.
    nxt = (await agent.post(f"/v1/campaigns/{cid}/preview")).json()["lead"]
    assert nxt["phone"] == "+8613800138003"
    lead_c = (await sup.get(f"/v1/campaigns/{cid}/leads/{nxt['id'] - 1}")).json()
    assert lead_c["next_eligible_at"] is None and "dnc_global" in lead_c["blocked_by"]
    # A skip hands the lead back; only its holder may skip it.
    wrong = await sup.post(f"/v1/campaigns/{cid}/preview/{nxt['id']}/skip", json={"seat": "1002"})
    assert wrong.status_code == 404
    skipped = await agent.post(f"/v1/campaigns/{cid}/preview/{nxt['id']}/skip")
    assert skipped.status_code == 204
    assert (await agent.post(f"/v1/campaigns/{cid}/preview/{nxt['id']}/skip")).status_code == 404
    # B is held for 1002 and A is on its call: D is the only lead left for 1001.
    assert (await agent.post(f"/v1/campaigns/{cid}/preview")).json()["lead"]["id"] == nxt["id"]
    assert (await sup.post(f"/v1/campaigns/{cid}/preview/{other.json()['lead']['id']}/skip",
                           json={"seat": "1002"})).status_code == 204
    assert (await sup.post(f"/v1/campaigns/{cid}/preview/{nxt['id']}/skip",
                           json={"seat": "1001"})).status_code == 204
    # D, skipped last, went behind B, due again since 1002 skipped it.
    assert (await agent.post(f"/v1/campaigns/{cid}/preview")).json()["lead"]["phone"] == (
        "+8613800138001")
    last = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1002"})
    assert last.json()["lead"]["phone"] == "+8613800138003"
    async with db_sessionmaker() as s:  # 1002 dials D: A and D on calls, B held, C finished
        claim = await repo.claim_dial(s, nxt["id"], datetime.now(UTC), call_id="node1:1.3",
                                      seat_id="1002", agent_reserved=True)
        assert claim is not None and claim.attempt_id is not None
    none_left = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1002"})
    assert none_left.status_code == 200 and none_left.json()["lead"] is None
    assert none_left.json()["held_until"] is None

    progressive = (await sup.post("/v1/campaigns", json={
        "name": "power", "caller_id": "4008001234", "seats": ["1001"]})).json()["id"]
    await sup.post(f"/v1/campaigns/{progressive}/start")
    power = await agent.post(f"/v1/campaigns/{progressive}/preview")
    assert power.status_code == 409 and power.json()["details"] == {"mode": "progressive"}


async def test_agents_asking_at_once_are_handed_different_leads(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = api["supervisor"]
    seats = [f"20{n:02d}" for n in range(8)]
    async with db_sessionmaker() as s:
        for seat in seats:
            await repositories.upsert_seat(s, seat, node="node1", interface=f"PJSIP/{seat}")
        await s.commit()
    numbers = "".join(f"1390000{n:04d}\n" for n in range(12)).encode()
    cid = await _preview_campaign(sup, "rush", b"phone\n" + numbers, seats=seats)
    await sup.post(f"/v1/campaigns/{cid}/start")
    answers = await asyncio.gather(*(
        sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": seat}) for seat in seats))
    handed = [a.json()["lead"]["id"] for a in answers]
    assert len(set(handed)) == len(seats), handed
    async with db_sessionmaker() as s:
        held = {seat: {lead.id for lead in await _held_by(s, cid, seat)} for seat in seats}
    assert held == {seat: {lead} for seat, lead in zip(seats, handed, strict=True)}


async def _held_by(session: AsyncSession, campaign_id: int, seat: str) -> list[Any]:
    rows = await session.scalars(select(LeadRow).where(LeadRow.campaign_id == campaign_id,
                                                       LeadRow.previewed_by == seat))
    return list(rows)


async def test_preview_hands_a_callback_to_the_agent_who_booked_it(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    # The default cap of one call a day: the callback, asked for, is not held back by it.
    cid = await _preview_campaign(sup, "callbacks", b"phone\n13800138000\n")
    await sup.post(f"/v1/campaigns/{cid}/start")
    # Seat 1001 called the lead, and the customer asked to be called back in a moment.
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert lead is not None
        await s.commit()
        assert await repo.claim_dial(s, lead.id, now, call_id="node1:9.1", seat_id="1001")
    booked = await agent.post("/v1/calls/node1:9.1/disposition", json={
        "code": "callback", "callback_at": (now + timedelta(seconds=2)).isoformat()})
    assert booked.status_code == 201 and booked.json()["callback_seat_id"] == "1001"
    await asyncio.sleep(2.5)

    # Due now, it waits for the agent who booked it: not handed to 1002...
    theirs = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1002"})
    assert theirs.status_code == 200 and theirs.json()["lead"] is None
    # ...but to 1001, who calls the customer back.
    mine = await agent.post(f"/v1/campaigns/{cid}/preview")
    assert mine.json()["lead"]["id"] == lead.id
    assert mine.json()["lead"]["callback_seat_id"] == "1001"


async def test_the_agent_notes_the_customers_other_details_on_the_lead(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """"During a call the agent can capture the customer's other contact details"."""
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(sup, "details", b"phone,name\n13800138000,Zhang\n")
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert lead is not None
        await s.commit()
        assert await repo.claim_dial(s, lead.id, now, call_id="node1:7.1", seat_id="1001")
        await repo.record_manual_dial(s, "+8613900000000", now, call_id="node1:7.2",
                                      seat_id="1001")
        await s.commit()

    noted = await agent.patch("/v1/calls/node1:7.1/lead", json={"fields": {
        "phone_2": "+8613911112222", "email": "zhang@example.cn", "children": 2}})
    assert noted.status_code == 200, noted.text
    assert noted.json()["lead"]["fields"] == {
        "name": "Zhang", "phone_2": "+8613911112222", "email": "zhang@example.cn",
        "children": 2}
    again = await agent.patch("/v1/calls/node1:7.1/lead",
                              json={"fields": {"email": None, "name": "Zhang Wei"}})
    assert again.json()["lead"]["fields"] == {
        "name": "Zhang Wei", "phone_2": "+8613911112222", "children": 2}
    # The screen pop shows it; the number dialed is not a free field.
    assert (await agent.get("/v1/calls/node1:7.1/lead")).json()["lead"]["fields"][
        "name"] == "Zhang Wei"

    for bad in ({"fields": {"phone": "+8613900000000"}}, {"fields": {}},
                {"fields": {"note": "x" * 1001}}, {"fields": {"a\nb": "x"}},
                {"fields": {"list": [1, 2]}}, {"name": "x"}):
        refused = await agent.patch("/v1/calls/node1:7.1/lead", json=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.json()["details"]["fields"][0]["field"].startswith("fields") or (
            "name" in bad), refused.text
    too_big = await agent.patch("/v1/calls/node1:7.1/lead", json={
        "fields": {f"k{n}": "x" * 1000 for n in range(9)}})
    assert too_big.status_code == 422 and too_big.json()["details"]["fields"][0][
        "field"] == "fields"
    kept = (await agent.get("/v1/calls/node1:7.1/lead")).json()["lead"]["fields"]
    assert kept == {"name": "Zhang Wei", "phone_2": "+8613911112222", "children": 2}

    async with db_sessionmaker() as s:  # another agent's call is not theirs to note on
        token = await repositories.create_token(s, "agent9", "agent", "test", seat_id="1002")
    theirs = await agent.patch("/v1/calls/node1:7.1/lead", json={"fields": {"x": "y"}},
                               headers={"Authorization": f"Bearer {token}"})
    assert theirs.status_code == 403
    assert (await sup.patch("/v1/calls/node1:7.1/lead",
                            json={"fields": {"checked": True}})).status_code == 200
    assert (await agent.patch("/v1/calls/node1:7.2/lead",
                              json={"fields": {"x": "y"}})).status_code == 404  # no lead
    assert (await agent.patch("/v1/calls/node1:404.1/lead",
                              json={"fields": {"x": "y"}})).status_code == 404


async def test_supervisors_list_where_each_lead_stands_and_read_its_dials(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(
        sup, "standing", b"phone,grade,name\n" + b"".join(
            b"1380013800%d,%s,%s\n" % (n, b"H" if n == 6 else b"", name)
            for n, name in enumerate((b"A", b"B", b"C", b"D", b"E", b"F", b"G"))),
        retry_delays={"busy": 600, "no_answer": 3600})
    await sup.post(f"/v1/campaigns/{cid}/start")
    # A: held for seat 1002's preview (the first lead due).
    held = await sup.post(f"/v1/campaigns/{cid}/preview", json={"seat": "1002"})
    assert held.json()["lead"]["phone"] == "+8613800138000"
    now = datetime.now(UTC)

    async with db_sessionmaker() as s:
        ids = {}
        for n in range(7):
            lead = await repo.lead_by_phone(s, cid, f"+861380013800{n}")
            assert lead is not None
            ids[n] = lead.id
        await s.commit()

        async def dial(n: int, outcome: Outcome | None = None) -> None:
            claim = await repo.claim_dial(s, ids[n], now, call_id=f"node1:5{n}.1",
                                          seat_id="1001")
            assert claim is not None and claim.attempt_id is not None, claim
            if outcome is not None:
                await repo.record_outcome(s, claim.attempt_id, outcome, now)

        # B: answered, and the customer asks to be called back tomorrow. C: busy, and its
        # retry time has since passed: due. D: no answer, due in an hour. E: answered, the
        # customer refuses further calls. F: on a call now. G: new, grade H.
        await dial(1, Outcome.ANSWERED)
        await dial(2, Outcome.BUSY)
        await s.execute(update(LeadRow).where(LeadRow.id == ids[2])
                        .values(next_eligible_at=now - timedelta(minutes=1)))
        await s.commit()
        await dial(3, Outcome.NO_ANSWER)
        await dial(4, Outcome.ANSWERED)
        await dial(5)
    booked = await agent.post("/v1/calls/node1:51.1/disposition", json={
        "code": "callback", "callback_at": (now + timedelta(days=1)).isoformat(),
        "notes": "after lunch"})
    assert booked.status_code == 201, booked.text
    refused = await agent.post("/v1/calls/node1:54.1/disposition", json={"code": "do_not_call"})
    assert refused.status_code == 201

    expected = {0: "held", 1: "callback", 2: "due", 3: "scheduled", 4: "finished",
                5: "in_call", 6: "new"}
    page = await sup.get(f"/v1/campaigns/{cid}/leads")
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert page.json()["total"] == 7 and [i["id"] for i in items] == sorted(ids.values())
    assert {i["phone"][-1]: i["status"] for i in items} == {
        str(n): status for n, status in expected.items()}
    by_id = {i["id"]: i for i in items}
    assert by_id[ids[0]]["held_by"] == "1002" and by_id[ids[0]]["held_until"] is not None
    assert by_id[ids[1]]["callback_seat_id"] == "1001" and by_id[ids[1]]["held_by"] is None
    # The page's gate verdicts are the single lead's.
    for n in (2, 4, 6):
        one = (await sup.get(f"/v1/campaigns/{cid}/leads/{ids[n]}")).json()
        assert one["blocked_by"] == by_id[ids[n]]["blocked_by"]
        assert one["status"] == expected[n]
    assert "dnc_global" in by_id[ids[4]]["blocked_by"] and by_id[ids[6]]["blocked_by"] == []

    # Each status filter (in SQL) finds exactly the leads standing so (in Python).
    for n, status in expected.items():
        only = (await sup.get(f"/v1/campaigns/{cid}/leads?status={status}")).json()
        assert [i["id"] for i in only["items"]] == [ids[n]], status
        assert only["total"] == 1
    assert [i["id"] for i in (await sup.get(
        f"/v1/campaigns/{cid}/leads?grade=H")).json()["items"]] == [ids[6]]
    national = (await sup.get(f"/v1/campaigns/{cid}/leads?phone=138 0013 8003")).json()
    assert [i["id"] for i in national["items"]] == [ids[3]]
    # By what a field's value says (not its key: every lead has a "name").
    by_key = (await sup.get(f"/v1/campaigns/{cid}/leads?customer=NAME")).json()
    assert by_key["total"] == 0
    await sup.patch(f"/v1/campaigns/{cid}/leads/{ids[6]}", json={"fields": {"name": "Wang Gang"}})
    by_name = (await sup.get(f"/v1/campaigns/{cid}/leads?customer=wang")).json()
    assert [i["id"] for i in by_name["items"]] == [ids[6]]
    second = (await sup.get(f"/v1/campaigns/{cid}/leads?limit=2&offset=2")).json()
    assert [i["id"] for i in second["items"]] == sorted(ids.values())[2:4]

    # A lead's dials, with what its agent recorded.
    dials = await sup.get(f"/v1/campaigns/{cid}/leads/{ids[1]}/attempts")
    assert dials.status_code == 200, dials.text
    [a] = dials.json()
    assert (a["call_id"], a["seat_id"], a["outcome"]) == ("node1:51.1", "1001", "answered")
    assert [(d["code"], d["notes"], d["seat_id"]) for d in a["dispositions"]] == [
        ("callback", "after lunch", "1001")]
    [on] = (await sup.get(f"/v1/campaigns/{cid}/leads/{ids[5]}/attempts")).json()
    assert on["outcome"] is None and on["ended_at"] is None
    assert (await sup.get(f"/v1/campaigns/{cid}/leads/{ids[6]}/attempts")).json() == []

    # Bad input names what is wrong; other campaigns' leads and agents get nothing.
    for query, field in (("status=busy", "status"), ("phone=abc", "phone"),
                         ("grade=Z", "grade"), ("limit=0", "limit"), ("customer=", "customer")):
        bad = await sup.get(f"/v1/campaigns/{cid}/leads?{query}")
        assert bad.status_code == 422, query
        assert bad.json()["details"]["fields"][0]["field"] == field, bad.text
    assert (await sup.get(f"/v1/campaigns/{cid + 1}/leads")).status_code == 404
    assert (await sup.get(f"/v1/campaigns/{cid + 1}/leads/{ids[0]}/attempts")).status_code == 404
    assert (await agent.get(f"/v1/campaigns/{cid}/leads/{ids[0]}/attempts")).status_code == 403
    # An agent finds a customer's record in a campaign its seat works, to click to dial it;
    # not in one it does not work.
    mine = await agent.get(f"/v1/campaigns/{cid}/leads?phone=13800138006")
    assert mine.status_code == 200 and [i["id"] for i in mine.json()["items"]] == [ids[6]]
    async with db_sessionmaker() as s:
        await repositories.upsert_seat(s, "1003", node="node1", interface="PJSIP/1003")
        await s.commit()
    elsewhere = await _preview_campaign(sup, "elsewhere", b"phone\n13800138099\n",
                                        seats=("1003",))
    theirs = await agent.get(f"/v1/campaigns/{elsewhere}/leads")
    assert theirs.status_code == 403
    assert theirs.json()["details"] == {"campaign_id": elsewhere, "seat": "1001"}


async def test_telemarketing_records_are_searched_by_customer(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """REQUIREMENTS (the mobile operator's item 4): "telemarketing records can be searched
    by customer": by number across campaigns and click-to-dial, or by a name the lead
    carries; with what each agent recorded."""
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    spring = await _preview_campaign(
        sup, "spring", b"phone,name\n13800138000,Zhang San\n13800138001,Li 50%\n")
    autumn = await _preview_campaign(sup, "autumn", b"phone,name\n13800138000,Zhang S.\n")
    t0 = datetime.now(UTC) - timedelta(days=3)
    async with db_sessionmaker() as s:
        async def dial(campaign: int, phone: str, at: datetime, seat: str, call: str,
                       outcome: Outcome) -> None:
            lead = await repo.lead_by_phone(s, campaign, phone)
            assert lead is not None
            await s.execute(update(LeadRow).where(LeadRow.id == lead.id)
                            .values(next_eligible_at=at))
            await s.commit()
            claim = await repo.claim_dial(s, lead.id, at, call_id=call, seat_id=seat)
            assert claim is not None and claim.attempt_id is not None, claim
            await repo.record_outcome(s, claim.attempt_id, outcome, at + timedelta(minutes=2))

        await dial(spring, "+8613800138000", t0, "1001", "node1:60.1", Outcome.NO_ANSWER)
        await dial(spring, "+8613800138000", t0 + timedelta(days=1), "1002", "node1:61.1",
                   Outcome.ANSWERED)
        await dial(autumn, "+8613800138000", t0 + timedelta(days=2), "1001", "node1:62.1",
                   Outcome.ANSWERED)
        await dial(spring, "+8613800138001", t0 + timedelta(days=2), "1001", "node1:63.1",
                   Outcome.BUSY)
        await repo.record_manual_dial(s, "+8613800138000", t0 + timedelta(days=2, hours=1),
                                      call_id="node1:64.1", seat_id="1001")
    assert (await sup.post("/v1/calls/node1:61.1/disposition", json={
        "code": "not_interested", "notes": "has a card already"})).status_code == 201
    assert (await sup.post("/v1/calls/node1:62.1/disposition", json={
        "code": "sale", "notes": "gold card"})).status_code == 201

    # By number (as typed), across campaigns and click-to-dial, newest first.
    found = await sup.get("/v1/dials?phone=138 0013 8000")
    assert found.status_code == 200, found.text
    page = found.json()
    assert page["total"] == 4
    assert [d["call_id"] for d in page["items"]] == [
        "node1:64.1", "node1:62.1", "node1:61.1", "node1:60.1"]
    manual, autumn_dial, refused = page["items"][:3]
    assert manual["campaign_id"] is None and manual["customer"] == {}
    assert manual["outcome"] is None  # still on: the call's end will close it
    assert (autumn_dial["campaign_name"], autumn_dial["customer"]) == (
        "autumn", {"name": "Zhang S."})
    assert [(d["code"], d["notes"]) for d in autumn_dial["dispositions"]] == [
        ("sale", "gold card")]
    assert (refused["seat_id"], refused["outcome"]) == ("1002", "answered")
    assert [d["code"] for d in refused["dispositions"]] == ["not_interested"]

    # By what the lead says about the customer, any case; wildcards are literal.
    async def calls(query: str, client: httpx.AsyncClient = sup) -> list[str]:
        answer = await client.get(f"/v1/dials?{query}")
        assert answer.status_code == 200, answer.text
        return [d["call_id"] for d in answer.json()["items"]]

    assert await calls("customer=zhang") == ["node1:62.1", "node1:61.1", "node1:60.1"]
    assert await calls("customer=ZHANG%20SAN") == ["node1:61.1", "node1:60.1"]
    assert await calls("customer=50%25") == ["node1:63.1"]
    assert await calls("customer=n%25") == []
    assert await calls(f"customer=zhang&campaign_id={autumn}") == ["node1:62.1"]
    assert await calls("disposition=sale") == ["node1:62.1"]
    assert await calls("outcome=busy") == ["node1:63.1"]
    since = (t0 + timedelta(days=1, hours=12)).isoformat().replace("+00:00", "Z")
    assert await calls(f"phone=%2B8613800138000&since={since}") == ["node1:64.1", "node1:62.1"]
    assert await calls(f"phone=%2B8613800138000&until={since}") == ["node1:61.1", "node1:60.1"]

    # Agents see their own seat's dials only.
    assert await calls("phone=13800138000", agent) == ["node1:64.1", "node1:62.1", "node1:60.1"]
    assert (await agent.get("/v1/dials?seat_id=1002")).status_code == 403
    assert await calls("seat_id=1002") == ["node1:61.1"]

    for query, field in (("phone=12ab", "phone"), ("outcome=maybe", "outcome"),
                         ("disposition=nope", "disposition"), ("customer=", "customer"),
                         (f"since={since}&until={t0.isoformat().replace('+00:00', 'Z')}",
                          "until")):
        bad = await sup.get(f"/v1/dials?{query}")
        assert bad.status_code == 422, query
        assert bad.json()["details"]["fields"][0]["field"] == field, bad.text


async def test_one_preview_ask_puts_off_a_bounded_number_of_refused_leads(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A list whose numbers another campaign called today is refused lead by lead (the
    cap of one call a day across campaigns); one ask must not walk the whole list."""
    monkeypatch.setattr(repo, "_PREVIEW_BATCH", 2)
    monkeypatch.setattr(repo, "PREVIEW_MAX_REFUSED", 3)
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    numbers = [f"1380013800{n}" for n in range(8)]
    cid = await _preview_campaign(sup, "capped", ("phone\n" + "\n".join(numbers)).encode())
    other = await _preview_campaign(sup, "earlier", ("phone\n" + "\n".join(numbers[:7])).encode())
    now = datetime.now(UTC)
    for n, number in enumerate(numbers[:7]):
        await _dialed(db_sessionmaker, other, "+86" + number, now, f"node1:70.{n}")
    await sup.post(f"/v1/campaigns/{cid}/start")

    first = (await agent.post(f"/v1/campaigns/{cid}/preview")).json()
    assert (first["lead"], first["put_off"]) == (None, 4)  # two rounds of two, then stop
    second = (await agent.post(f"/v1/campaigns/{cid}/preview")).json()
    assert second["lead"]["phone"] == "+8613800138007" and second["put_off"] == 3
    async with db_sessionmaker() as s:
        put_off = await s.scalar(select(func.count()).select_from(LeadRow).where(
            LeadRow.campaign_id == cid, LeadRow.next_eligible_at > now + timedelta(hours=1)))
    assert put_off == 7  # each until the cap allows it again


async def test_supervisors_export_a_campaigns_leads_for_spreadsheets(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(
        sup, "export", "phone,name,status,note,=cmd\n13800138000,张三,vip,,\n"
        '13800138001,Li,,"=HYPERLINK(""http://x"",""y"")",1\n13800138002,Wang,,,\n'.encode(),
        default_timezone="Asia/Shanghai")
    now = datetime.now(UTC)
    await _dialed(db_sessionmaker, cid, "+8613800138000", now, "node1:80.1", "1001",
                  Outcome.ANSWERED)
    assert (await agent.post("/v1/calls/node1:80.1/disposition", json={
        "code": "sale", "notes": "-2 cards, +1 loan"})).status_code == 201

    got = await sup.get(f"/v1/campaigns/{cid}/leads.csv")
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("text/csv")
    assert f'campaign-{cid}-leads.csv' in got.headers["content-disposition"]
    assert got.content.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(got.content.decode("utf-8-sig"))))
    assert [r["phone"] for r in rows] == ["+8613800138000", "+8613800138001", "+8613800138002"]
    sold = rows[0]
    # Its free fields as columns, the one named like ours prefixed.
    assert (sold["name"], sold["fields.status"], sold["status"]) == ("张三", "vip", "finished")
    assert (sold["attempts"], sold["last_outcome"]) == ("1", "answered")
    assert (sold["last_disposition"], sold["last_disposition_seat"]) == ("sale", "1001")
    assert sold["last_disposition_notes"] == "'-2 cards, +1 loan"  # not a formula
    assert rows[1]["note"] == '\'=HYPERLINK("http://x","y")'
    assert rows[1]["'=cmd"] == "1"  # a column named like a formula, defused too
    assert rows[1]["status"] == "new" and rows[1]["last_disposition"] == ""
    # Times in the campaign's zone, or the one asked for.
    local = now.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    assert sold["first_attempt_at"].startswith(local)
    utc = list(csv.DictReader(io.StringIO((await sup.get(
        f"/v1/campaigns/{cid}/leads.csv?tz=UTC")).content.decode("utf-8-sig"))))
    assert utc[0]["first_attempt_at"].startswith(now.strftime("%Y-%m-%d %H:%M"))
    only = list(csv.DictReader(io.StringIO((await sup.get(
        f"/v1/campaigns/{cid}/leads.csv?status=new")).content.decode("utf-8-sig"))))
    assert [r["lead_id"] for r in only] == [r["lead_id"] for r in rows[1:]]

    # A Chinese surname is one character.
    zhang = (await sup.get(f"/v1/campaigns/{cid}/leads", params={"customer": "张"})).json()
    assert [i["phone"] for i in zhang["items"]] == ["+8613800138000"]
    bad = await sup.get(f"/v1/campaigns/{cid}/leads.csv?tz=Mars/Base")
    assert bad.status_code == 422 and bad.json()["details"]["fields"][0]["field"] == "tz"
    assert (await sup.get(f"/v1/campaigns/{cid + 9}/leads.csv")).status_code == 404
    assert (await agent.get(f"/v1/campaigns/{cid}/leads.csv")).status_code == 403

    # An import's error report defuses what the file carried too.
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=b"phone\n=1+2\n",
                          headers=WAIT)).json()
    report = (await sup.get(f"/v1/campaigns/{cid}/imports/{job['id']}/errors.csv")).text
    assert "'=1+2" in report and ",=1+2" not in report


async def test_supervisors_change_a_lead_all_or_nothing(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(
        sup, "changes", b"phone,name\n13800138000,A\n13800138001,B\n13800138002,C\n")
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        first = await repo.lead_by_phone(s, cid, "+8613800138000")
        assert first is not None
    # B answered and asked for a callback; C is on a call now.
    ids = [first.id,
           await _dialed(db_sessionmaker, cid, "+8613800138001", now, "node1:91.1", "1001",
                         Outcome.ANSWERED),
           await _dialed(db_sessionmaker, cid, "+8613800138002", now, "node1:92.1", "1001")]
    callback_at = (now + timedelta(days=1)).isoformat()
    assert (await agent.post("/v1/calls/node1:91.1/disposition", json={
        "code": "callback", "callback_at": callback_at})).status_code == 201
    a, b, c = (f"/v1/campaigns/{cid}/leads/{i}" for i in ids)

    graded = await sup.patch(a, json={"grade": "H", "fields": {"email": "a@example.com"}})
    assert graded.status_code == 200, graded.text
    assert graded.json()["grade"] == "H"
    assert graded.json()["fields"] == {"name": "A", "email": "a@example.com"}
    cleared = (await sup.patch(a, json={"grade": None, "fields": {"name": None}})).json()
    assert cleared["grade"] is None and cleared["fields"] == {"email": "a@example.com"}
    later = now + timedelta(hours=2)
    moved = (await sup.patch(a, json={"due_at": later.isoformat()})).json()
    assert moved["status"] == "new" and "not_due" in moved["blocked_by"]  # never dialed yet
    assert datetime.fromisoformat(moved["next_eligible_at"]) == later

    # Bad input changes nothing.
    for body, field in (({}, "body"), ({"fields": {"phone": "139"}}, "fields"),
                        ({"due_at": (now - timedelta(days=1)).isoformat()}, "due_at"),
                        ({"due_at": (now + timedelta(days=91)).isoformat()}, "due_at"),
                        ({"due_at": later.isoformat(), "finished": True}, "due_at"),
                        ({"grade": "Z", "finished": True}, "grade"),
                        ({"priority": 1}, "priority")):
        bad = await sup.patch(a, json=body)
        assert bad.status_code == 422, body
        assert bad.json()["details"]["fields"][0]["field"] == field, bad.text
    assert (await sup.get(a)).json() == moved

    # A callback is the agent's promise; a lead on a call is the call's until it ends.
    promised = await sup.patch(b, json={"due_at": later.isoformat()})
    assert promised.status_code == 409 and promised.json()["details"] == {"lead": ids[1]}
    on_call = await sup.patch(c, json={"grade": "A"})
    assert on_call.status_code == 409 and "on a call" in on_call.json()["message"]
    assert (await sup.get(c)).json()["grade"] is None

    # Closed: never dialed again, the callback dropped; opened again: due now.
    closing = await sup.patch(b, json={"finished": True})
    assert closing.status_code == 200, closing.text
    closed = closing.json()
    assert (closed["status"], closed["callback_at"], closed["callback_seat_id"]) == (
        "finished", None, None)
    opened = (await sup.patch(b, json={"finished": False})).json()
    assert opened["status"] == "due"
    assert datetime.fromisoformat(opened["next_eligible_at"]) <= datetime.now(UTC)

    assert (await sup.patch(f"/v1/campaigns/{cid}/leads/{ids[2] + 50}",
                            json={"grade": "A"})).status_code == 404
    other = await _preview_campaign(sup, "other", b"phone\n13800138009\n")
    assert (await sup.patch(f"/v1/campaigns/{other}/leads/{ids[0]}",
                            json={"grade": "A"})).status_code == 404
    assert (await agent.patch(a, json={"grade": "A"})).status_code == 403


async def test_agents_list_the_callbacks_they_promised(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup, agent = api["supervisor"], api["agent"]  # the agent works seat 1001
    cid = await _preview_campaign(
        sup, "promises", b"phone,name\n13800138000,A\n13800138001,B\n13800138002,C\n")
    now = datetime.now(UTC)
    async with db_sessionmaker() as s:
        token = await repositories.create_token(s, "agent2", "agent", "test", seat_id="1002")
    for n, seat in ((0, "1001"), (1, "1001"), (2, "1002")):
        await _dialed(db_sessionmaker, cid, f"+861380013800{n}", now, f"node1:6{n}.1", seat,
                      Outcome.ANSWERED)
    other_agent = {"Authorization": f"Bearer {token}"}
    for n, days, notes, headers in ((0, 2, "after lunch", {}), (1, 1, "", {}),
                                    (2, 1.5, "wife decides", other_agent)):
        booked = await agent.post(f"/v1/calls/node1:6{n}.1/disposition", headers=headers,
                                  json={"code": "callback", "notes": notes,
                                        "callback_at": (now + timedelta(days=days)).isoformat()})
        assert booked.status_code == 201, booked.text

    async def phones(client: httpx.AsyncClient, query: str = "", **kw: Any) -> list[str]:
        got = await client.get(f"/v1/callbacks{query}", **kw)
        assert got.status_code == 200, got.text
        return [c["phone"][-1] for c in got.json()["items"]]

    mine = (await agent.get("/v1/callbacks")).json()
    assert [c["phone"][-1] for c in mine["items"]] == ["1", "0"] and mine["total"] == 2
    first = mine["items"][1]
    assert (first["campaign_name"], first["customer"], first["notes"]) == (
        "promises", {"name": "A"}, "after lunch")
    assert first["overdue"] is False and first["seat_id"] == "1001"
    assert await phones(sup) == ["1", "2", "0"]
    assert await phones(sup, "?seat_id=1002") == ["2"]
    assert await phones(agent, "", headers=other_agent) == ["2"]
    until = (now + timedelta(hours=40)).isoformat().replace("+00:00", "Z")
    assert await phones(sup, f"?until={until}") == ["1", "2"]
    assert (await agent.get("/v1/callbacks?seat_id=1002")).status_code == 403

    # Its time passed unmade: flagged. Closed by a supervisor: gone.
    async with db_sessionmaker() as s:
        await s.execute(update(LeadRow).where(LeadRow.phone == "+8613800138001")
                        .values(callback_at=now - timedelta(minutes=5)))
        await s.commit()
    flagged = (await agent.get("/v1/callbacks")).json()["items"][0]
    assert flagged["phone"] == "+8613800138001" and flagged["overdue"] is True
    closed = await sup.patch(f"/v1/campaigns/{cid}/leads/{flagged['lead_id']}",
                             json={"finished": True})
    assert closed.status_code == 200, closed.text
    assert await phones(agent) == ["0"]
