"""Lead imports and lead changes with what PostgreSQL refuses, through the app, against the
real PostgreSQL: one bad value is one row error (or a 422), never a failed job or a 500;
the body's media type and charset are honoured; a file whose encoding cannot be told is
not imported as mojibake."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.config import DialerSettings, Settings
from cti.db import campaign_repository as repo
from cti.db.campaign_models import LeadRow
from tests.support.api import api_clients

pytestmark = pytest.mark.integration

WAIT = {"Prefer": "wait=30"}
CSV = {"Content-Type": "text/csv", **WAIT}
NDJSON = {"Content-Type": "application/x-ndjson", **WAIT}
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def spool_dir(tmp_path: Path) -> Path:
    return tmp_path / "spool"


@pytest.fixture
async def api(
    db_sessionmaker: async_sessionmaker[AsyncSession], spool_dir: Path
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    settings = Settings(
        environment="test",
        dialer=DialerSettings(import_spool_dir=str(spool_dir), import_max_bytes=4 * 1024**2,
                              import_workers=0, import_batch_size=500),
    )
    people = {role: (role, "1001" if role == "agent" else None)
              for role in ("agent", "supervisor")}
    async with api_clients(db_sessionmaker, settings, people) as clients:
        yield clients


async def campaign(sup: httpx.AsyncClient, name: str) -> int:
    created = await sup.post("/v1/campaigns", json={
        "name": name, "caller_id": "4008001234", "mode": "preview", "seats": ["1001"],
        "windows": [{"start": "00:00", "end": "23:59"}]})
    assert created.status_code == 201, created.text
    cid: int = created.json()["id"]
    return cid


async def leads_of(maker: async_sessionmaker[AsyncSession], cid: int) -> dict[str, Any]:
    async with maker() as s:
        rows = (await s.execute(select(LeadRow.phone, LeadRow.fields)
                                .where(LeadRow.campaign_id == cid))).all()
    return {phone: fields for phone, fields in rows}


async def all_errors(sup: httpx.AsyncClient, job: dict[str, Any]) -> list[dict[str, Any]]:
    page = (await sup.get(job["errors_url"], params={"limit": 500})).json()
    items: list[dict[str, Any]] = page["items"]
    return items


def adds_up(job: dict[str, Any]) -> bool:
    return bool(job["rows"] == job["imported"] + job["rejected"] + job["duplicates_in_list"]
                + job["duplicates_in_campaign"])


async def test_one_nan_or_bad_text_among_thousands_of_ndjson_rows_is_one_row_error(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The probe's file: 5,000 rows, one with NaN, lost the whole import. Now each value
    PostgreSQL refuses is its row's error, named, and every good row is imported."""
    sup = api["supervisor"]
    cid = await campaign(sup, "ndjson")
    bad = {
        2501: '"score":NaN', 2502: '"score":Infinity', 2503: '"score":-Infinity',
        2504: '"score":1e400', 2505: '"note":"a\\u0000b"', 2506: '"note":"\\ud800"',
        2507: '"\\u0000":"x"', 2508: '"deep":' + "[" * 80 + "]" * 80,
        2509: '"deep":' + "[" * 3000 + "]" * 3000,
        4999: '"tz":"Asia/\\u0000"',
    }
    lines = []
    for n in range(1, 5001):
        extra = bad.get(n, f'"name":"customer {n}"')
        lines.append(f'{{"phone":"+86133{n:08d}",{extra}}}')
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content="\n".join(lines).encode(),
                       headers=NDJSON)
    job = r.json()
    assert r.status_code == 201 and job["state"] == "done", job
    assert (job["rows"], job["imported"], job["rejected"]) == (5000, 5000 - len(bad), len(bad))
    assert adds_up(job) and job["error"] is None
    errors = {e["row"]: (e["field"], e["code"]) for e in await all_errors(sup, job)}
    assert errors == {
        2501: ("score", "not_finite"), 2502: ("score", "not_finite"),
        2503: ("score", "not_finite"), 2504: ("score", "not_finite"),
        2505: ("note", "invalid_character"), 2506: ("note", "invalid_character"),
        2507: ("\u2400", "invalid_character"), 2508: ("deep", "too_deep"),
        2509: ("row", "malformed_json"), 4999: ("timezone", "invalid_character"),
    }
    stored = await leads_of(db_sessionmaker, cid)
    assert len(stored) == 5000 - len(bad)
    assert stored["+8613300002500"] == {"name": "customer 2500"}
    assert stored["+8613300005000"] == {"name": "customer 5000"}

    doc = (b'[{"phone":"13400000011","name":"good1"},{"phone":"13400000012",'
           b'"score":Infinity},{"phone":"13400000013","name":"good3"}]')
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=doc, headers={**JSON, **WAIT})
    job = r.json()
    assert job["state"] == "done" and (job["imported"], job["rejected"]) == (2, 1), job
    assert [(e["row"], e["field"], e["code"]) for e in await all_errors(sup, job)] == [
        (2, "score", "not_finite")]


async def test_nul_bytes_in_a_csv_reject_their_rows_and_the_report_shows_them(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """The probe's 20,000-row CSV failed at its NUL after 13,662 rows; a NUL in a phone
    cell imported nothing. Now the rows are rejected and the rest imported, counted."""
    sup = api["supervisor"]
    cid = await campaign(sup, "nul")
    rows = [b"phone,name"]
    for n in range(1, 6001):
        name = b"bad\x00name" if n == 4502 else f"customer {n}".encode()
        phone = b"1391\x00" + str(n).encode() if n == 10 else f"139{n:08d}".encode()
        rows.append(phone + b"," + name)
    rows.append("13900009999,José".encode())  # the first non-ASCII line: UTF-8
    rows.append(b"13900009998,\xff\x00")  # not UTF-8, and a NUL in the value shown
    r = await sup.post(f"/v1/campaigns/{cid}/leads", content=b"\n".join(rows) + b"\n",
                       headers=CSV)
    job = r.json()
    assert job["state"] == "done", job
    assert (job["rows"], job["imported"], job["rejected"]) == (6002, 5999, 3)
    assert adds_up(job) and job["encoding"] == "utf-8"
    errors = {e["row"]: e for e in await all_errors(sup, job)}
    assert set(errors) == {11, 4503, 6003}
    assert (errors[11]["field"], errors[11]["code"]) == ("phone", "invalid_character")
    assert errors[4503]["field"] == "name" and errors[4503]["value"] == "bad\u2400name"
    assert "NUL" in errors[4503]["message"]
    assert errors[6003]["code"] == "encoding" and errors[6003]["value"] == "13900009998,ÿ\u2400"
    stored = await leads_of(db_sessionmaker, cid)
    assert len(stored) == 5999 and stored["+8613900009999"] == {"name": "José"}

    # The probe's three-row file with a NUL in the middle phone.
    small = await sup.post(f"/v1/campaigns/{cid}/leads", headers=CSV, content=(
        b"phone,name\n13912888881,a\n1391\x00288888,b\n13912888883,c\n"))
    assert (small.json()["imported"], small.json()["rejected"]) == (2, 1), small.json()


async def test_a_latin1_csv_is_not_imported_as_mojibake(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    sup = api["supervisor"]
    cid = await campaign(sup, "latin1")
    latin1 = "phone,name\n13912345681,José Müller\n13912345682,François\n" \
             "13912345683,Smith\n".encode("latin-1")
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=latin1, headers=CSV)).json()
    assert job["state"] == "done" and (job["imported"], job["rejected"]) == (1, 2), job
    assert job["errors_by_code"] == {"encoding": 2}
    errors = await all_errors(sup, job)
    assert [e["row"] for e in errors] == [2, 3]
    assert "?encoding=" in errors[0]["message"]
    assert await leads_of(db_sessionmaker, cid) == {"+8613912345683": {"name": "Smith"}}

    # Its charset named, the rejected rows import right; the one imported is counted.
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=latin1, headers={
        "Content-Type": "text/csv; charset=ISO-8859-1", **WAIT})).json()
    assert (job["imported"], job["rejected"], job["duplicates_in_campaign"]) == (2, 0, 1)
    assert job["encoding"] == "iso8859-1"
    stored = await leads_of(db_sessionmaker, cid)
    assert stored["+8613912345681"] == {"name": "José Müller"}
    assert stored["+8613912345682"] == {"name": "François"}
    # ?encoding= does the same.
    other = await campaign(sup, "latin1 again")
    job = (await sup.post(f"/v1/campaigns/{other}/leads?encoding=latin-1", content=latin1,
                          headers=CSV)).json()
    assert (job["imported"], job["rejected"]) == (3, 0)

    # What must go on working: UTF-8, UTF-8 with BOM, GBK.
    for n, body in enumerate(("phone,姓名\n13800138000,张三\n".encode(),
                              "\ufeffphone,姓名\n13800138001,李四\n".encode(),
                              "phone,姓名\n13800138002,王五\n".encode("gbk"))):
        job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=body,
                              headers=CSV)).json()
        assert (job["imported"], job["rejected"]) == (1, 0), job
        assert job["encoding"] == ("utf-8", "utf-8-sig", "gb18030")[n]
    stored = await leads_of(db_sessionmaker, cid)
    assert [stored[f"+861380013800{n}"]["姓名"] for n in range(3)] == ["张三", "李四", "王五"]


async def test_the_media_type_decides_what_is_read(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession],
    spool_dir: Path,
) -> None:
    sup = api["supervisor"]
    cid = await campaign(sup, "media")
    good = "phone,name,grade\n13912888801,张三,H\n13912888802,李四,A\n".encode()

    png = await sup.post(f"/v1/campaigns/{cid}/leads", content=good,
                         headers={"Content-Type": "image/png", **WAIT})
    form = await sup.post(f"/v1/campaigns/{cid}/leads", headers=WAIT,
                          files={"file": ("good.csv", good, "text/csv")})
    gzip = await sup.post(f"/v1/campaigns/{cid}/leads", content=good,
                          headers={**CSV, "Content-Encoding": "gzip"})
    for refused in (png, form, gzip):
        assert refused.status_code == 415, refused.text
        assert refused.json()["code"] == "unsupported_media_type"
    assert "text/csv" in png.json()["details"]["accepted"]
    # Nothing kept: no job, no spooled file, no lead.
    assert (await sup.get(f"/v1/campaigns/{cid}/imports")).json()["total"] == 0
    assert not await asyncio.to_thread(lambda: spool_dir.exists() and os.listdir(spool_dir))
    assert await leads_of(db_sessionmaker, cid) == {}

    # The grade and the column names are kept (the form's envelope imported neither).
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=good, headers={
        "Content-Type": "text/plain", **WAIT})).json()
    assert (job["format"], job["imported"]) == ("csv", 2), job
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613912888801")
    assert lead is not None and lead.grade == "H" and lead.fields == {"name": "张三"}
    nd = b'{"phone":"13912888803"}\n'
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=nd, headers={
        "Content-Type": "application/octet-stream", **WAIT})).json()
    assert (job["format"], job["imported"]) == ("ndjson", 1), job
    # ?format= is taken whatever the media type says.
    job = (await sup.post(f"/v1/campaigns/{cid}/leads?format=csv",
                          content=b"phone\n13912888804\n",
                          headers={"Content-Type": "application/x-www-form-urlencoded",
                                   **WAIT})).json()
    assert (job["format"], job["imported"]) == ("csv", 1), job


async def test_lead_changes_with_values_postgresql_refuses_are_422(
    api: dict[str, httpx.AsyncClient], db_sessionmaker: async_sessionmaker[AsyncSession]
) -> None:
    """NaN, Infinity (1e400 reads as Infinity), U+0000 and unpaired surrogates in free
    fields: 422 on both lead PATCH endpoints, and the lead unchanged."""
    sup, agent = api["supervisor"], api["agent"]
    cid = await campaign(sup, "patch")
    await sup.post(f"/v1/campaigns/{cid}/leads", headers=CSV,
                   content=b"phone,name\n13800138000,Zhang\n13800138001,Li\n")
    async with db_sessionmaker() as s:
        lead = await repo.lead_by_phone(s, cid, "+8613800138000")
        on_call = await repo.lead_by_phone(s, cid, "+8613800138001")
        assert lead is not None and on_call is not None
        await s.commit()
        assert await repo.claim_dial(s, on_call.id, datetime.now(UTC), call_id="node1:8.1",
                                     seat_id="1001")
        await s.commit()
    for value in ("NaN", "Infinity", "-Infinity", "1e400", '"a\\u0000b"', '"\\ud800"'):
        body = f'{{"fields": {{"n": {value}}}}}'.encode()
        for client, url in ((sup, f"/v1/campaigns/{cid}/leads/{lead.id}"),
                            (agent, "/v1/calls/node1:8.1/lead")):
            r = await client.patch(url, content=body, headers=JSON)
            assert r.status_code == 422, (url, value, r.text)
            assert r.json()["details"]["fields"][0]["field"].startswith("fields"), r.text
    assert await leads_of(db_sessionmaker, cid) == {"+8613800138000": {"name": "Zhang"},
                                                    "+8613800138001": {"name": "Li"}}
    fine = await agent.patch("/v1/calls/node1:8.1/lead", json={"fields": {"n": 1.5}})
    assert fine.status_code == 200, fine.text
    assert json.loads(fine.text)["lead"]["fields"] == {"name": "Li", "n": 1.5}
    fine = await sup.patch(f"/v1/campaigns/{cid}/leads/{lead.id}", json={"fields": {"n": 2}})
    assert fine.status_code == 200 and fine.json()["fields"] == {"name": "Zhang", "n": 2}
    async with db_sessionmaker() as s:
        assert await s.scalar(select(func.count()).select_from(LeadRow)) == 2


async def test_a_job_failed_by_the_unforeseen_says_what_is_kept_not_the_drivers_words(
    api: dict[str, httpx.AsyncClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    sup = api["supervisor"]
    cid = await campaign(sup, "unforeseen")

    async def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError('UntranslatableCharacterError: \\u0000 cannot be converted')

    monkeypatch.setattr("cti.imports.runner.repo.import_leads", broken)
    job = (await sup.post(f"/v1/campaigns/{cid}/leads", content=b"phone\n13800138000\n",
                          headers=CSV)).json()
    assert job["state"] == "failed", job
    assert "Error" not in job["error"] and "\\u0000" not in job["error"]
    assert "rows committed before it are kept" in job["error"]
