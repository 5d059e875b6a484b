"""The recordings API, catalogue and sweep against the real PostgreSQL and real files.

The app is built in-process over the migrated database; recordings are files in a
temporary store with rows inserted the way the catalogue inserts them.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.app import create_app
from cti.api.recording_service import RecordingService
from cti.config import Settings
from cti.db import repositories
from cti.db.recording_models import RecordingRow, RecordingSweepBatchRow
from cti.domain.events import CallEnded, DomainEvent, RecordingCatalogued, RecordingsDeleted
from cti.domain.model import Call, CallDirection, CallState
from recordings import naming, wav
from recordings import repository as repo
from recordings.catalogue import Cataloguer
from recordings.storage import RecordingDirs
from recordings.sweep import Sweeper
from tests.unit._api_fakes import FakeLiveView

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@dataclass
class Bench:
    http: httpx.AsyncClient
    sm: async_sessionmaker[AsyncSession]
    dirs: RecordingDirs
    sweeper: Sweeper
    tokens: dict[str, str]
    published: list[DomainEvent]  # what the sweeper put on the bus

    def as_(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}


@pytest.fixture
async def bench(
    db_sessionmaker: async_sessionmaker[AsyncSession], tmp_path: Path
) -> AsyncIterator[Bench]:
    dirs = RecordingDirs(tmp_path / "rec", tmp_path / "etc" / "recording-stereo")
    dirs.ensure()
    published: list[DomainEvent] = []
    sweeper = Sweeper(db_sessionmaker, dirs, batch_size=7, publish=published.extend)
    service = RecordingService(db_sessionmaker, dirs, sweeper, 92)
    app = create_app(Settings(environment="test"), live=FakeLiveView(),
                     sessionmaker=db_sessionmaker, health=[], recordings_service=service)
    tokens = {}
    async with db_sessionmaker() as s, s.begin():
        # Retention policies are for groups that exist (the recordings below use these).
        # Those made here go again at the end: a database left with a group or two is
        # not seeded with the defaults by the next module's service.
        known = set((await s.scalars(text("SELECT name FROM skill_groups"))).all())
        made = [g for g in ("sales", "vip") if g not in known]
        for group in made:
            await repositories.upsert_skill_group(s, group, node="node1")
    async with db_sessionmaker() as s:
        for user, role, seat in (("ann", "agent", "1001"), ("bob", "agent", "1002"),
                                 ("sue", "supervisor", None), ("root", "admin", None)):
            tokens[user] = await repositories.create_token(s, user, role, "t", seat_id=seat)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as http:
        yield Bench(http, db_sessionmaker, dirs, sweeper, tokens, published)
    async with db_sessionmaker() as s, s.begin():  # the database is the next module's too
        await s.execute(text("DELETE FROM skill_groups WHERE name = ANY(:made)"),
                        {"made": made})


def audio(seconds: float, channels: int = 1) -> bytes:
    frames = int(seconds * 8000)
    pcm = bytes(range(256)) * (frames * 2 * channels // 256 + 1)
    return wav.canonical_header(channels, 8000, 16, frames * 2 * channels) + \
        pcm[: frames * 2 * channels]


async def add(bench: Bench, linkedid: str, *, age_days: float, seat: str = "1001",
              group: str | None = "sales", number: str = "0612345678",
              seconds: float = 2.0) -> repo.Recording:
    started = NOW - timedelta(days=age_days)
    rel = naming.store_path(started, linkedid)
    path = bench.dirs.store_file(rel)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = audio(seconds)
    path.write_bytes(data)
    facts = repo.CallFacts(f"node1:{linkedid}", "inbound", seat, number, group, None, started)
    new = repo.NewRecording(f"node1:{linkedid}", "node1", facts, started, seconds, len(data),
                            hashlib.sha256(data).hexdigest(), 1, str(rel))
    async with bench.sm() as s, s.begin():
        return await repo.insert_recording(s, new)


async def count_rows(bench: Bench) -> int:
    async with bench.sm() as s:
        return int((await s.execute(select(func.count()).select_from(RecordingRow)))
                   .scalar_one())


# -- catalogue ------------------------------------------------------------------------------


async def test_catalogue_turns_a_ready_file_into_a_row_and_a_stored_file(bench: Bench) -> None:
    published: list[DomainEvent] = []
    cat = Cataloguer(bench.sm, bench.dirs, "node1", grace=3600, publish=published.extend)
    (bench.dirs.ready / "1795600000.7.stereo.wav").write_bytes(audio(6.0, channels=1))
    (bench.dirs.ready / "notes.txt").write_text("not ours")
    assert await cat.catalogue_ready() == 0  # call unknown yet: waits within the grace time

    call = Call(id="node1:1795600000.7", node="node1", linkedid="1795600000.7",
                direction=CallDirection.INBOUND, state=CallState.ENDED,
                customer_number="0611", started_at=NOW.timestamp(), skill_group="support",
                seat_id="1003", recording_started_at=NOW.timestamp() + 1,
                ended_at=NOW.timestamp() + 7)
    cat.on_events([CallEnded(call, NOW.timestamp() + 7)])
    assert await cat.catalogue_ready() == 1
    assert await cat.catalogue_ready() == 0  # idempotent
    # On the bus once, for the live stream; the call lasted 6 s from the recording's start.
    assert len(published) == 1 and isinstance(published[0], RecordingCatalogued)
    event = published[0]
    assert (event.call_id, event.seat_id, event.skill_group, event.duration_seconds,
            event.call_seconds) == ("node1:1795600000.7", "1003", "support", 3.0, 6.0)
    page = (await bench.http.get("/v1/recordings", headers=bench.as_("sue"))).json()
    assert page["total"] == 1
    rec = page["items"][0]
    # MixMonitor's D file: 6 s of mono-labelled samples are 3 s of stereo.
    assert rec["channels"] == 2 and rec["duration_seconds"] == 3.0
    assert rec["id"] == event.recording_id
    assert (rec["call_seconds"], rec["audio_gap_seconds"]) == (6.0, 3.0)
    assert (rec["seat_id"], rec["skill_group"], rec["customer_number"]) == \
        ("1003", "support", "0611")
    assert sorted(p.name for p in bench.dirs.ready.iterdir()) == ["notes.txt"]
    assert list(bench.dirs.store_files()) == [str(naming.store_path(NOW, "1795600000.7"))]


async def test_catalogue_finishes_a_step_a_crash_interrupted(bench: Bench) -> None:
    cat = Cataloguer(bench.sm, bench.dirs, "node1", grace=0)
    ready = bench.dirs.ready / "1795600001.1.wav"
    ready.write_bytes(audio(1.0))
    # As if the service died after inserting the row, before moving the file.
    original = bench.dirs.move_to_store

    def crash(*_: object) -> None:
        raise OSError("killed")

    bench.dirs.move_to_store = crash  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await cat.catalogue_ready()
    assert await count_rows(bench) == 1 and ready.exists()
    bench.dirs.move_to_store = original  # type: ignore[method-assign]
    assert await cat.catalogue_ready() == 1
    assert not ready.exists() and await count_rows(bench) == 1


# -- search and access --------------------------------------------------------------------------


async def test_search_filters_and_agent_access(bench: Bench) -> None:
    a = await add(bench, "1.1", age_days=1, seat="1001", seconds=200)
    b = await add(bench, "1.2", age_days=2, seat="1002", group="support", number="0699")
    await add(bench, "1.3", age_days=10, seat="1001", seconds=30)

    async def ids(who: str, **params: object) -> list[int]:
        r = await bench.http.get("/v1/recordings", params=params, headers=bench.as_(who))
        assert r.status_code == 200, r.text
        return [i["id"] for i in r.json()["items"]]

    assert len(await ids("sue")) == 3
    assert await ids("sue", customer_number="0699") == [b.id]
    assert await ids("sue", skill_group="support") == [b.id]
    assert await ids("sue", min_duration=100) == [a.id]
    assert len(await ids("sue", since=(NOW - timedelta(days=3)).isoformat())) == 2
    assert len(await ids("ann")) == 2 and await ids("bob") == [b.id]
    forbidden = await bench.http.get("/v1/recordings?seat_id=1002", headers=bench.as_("ann"))
    assert forbidden.status_code == 403
    assert (await bench.http.get(f"/v1/recordings/{b.id}", headers=bench.as_("ann"))) \
        .status_code == 404
    put = await bench.http.put(f"/v1/recordings/{a.id}/tags/exemplary", headers=bench.as_("sue"))
    assert put.json()["tags"] == ["exemplary"]
    assert await ids("sue", tag="exemplary") == [a.id]
    agent_tag = await bench.http.put(f"/v1/recordings/{a.id}/tags/problem",
                                     headers=bench.as_("ann"))
    assert agent_tag.status_code == 403
    note = await bench.http.post(f"/v1/recordings/{a.id}/notes", json={"body": "great close"},
                                 headers=bench.as_("sue"))
    assert note.status_code == 201
    detail = (await bench.http.get(f"/v1/recordings/{a.id}", headers=bench.as_("ann"))).json()
    assert [n["body"] for n in detail["notes"]] == ["great close"]
    assert "path" not in detail and "/" not in detail["audio_url"].split("/v1/recordings/")[1] \
        .replace("/audio", "")


async def test_bad_input_is_a_clear_error_and_changes_nothing(bench: Bench) -> None:
    rec = await add(bench, "2.1", age_days=1)
    sue, root = bench.as_("sue"), bench.as_("root")
    for path in ("/v1/recordings/999999", "/v1/recordings/999999/audio"):
        r = await bench.http.get(path, headers=sue)
        assert r.status_code == 404 and r.json()["code"] == "not_found"
    r = await bench.http.get("/v1/recordings/abc", headers=sue)
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "recording_id"
    size = rec.size_bytes
    for header in ("bytes=abc", f"bytes={size}-", "bytes=9-3"):
        r = await bench.http.get(f"/v1/recordings/{rec.id}/audio", headers={**sue,
                                                                           "Range": header})
        assert r.status_code == 416, header
        assert r.headers["content-range"] == f"bytes */{size}"
    # RFC 9110: another unit is ignored, and several ranges may be: the whole file
    for header in ("items=0-1", "bytes=0-1,4-5"):
        r = await bench.http.get(f"/v1/recordings/{rec.id}/audio", headers={**sue,
                                                                           "Range": header})
        assert (r.status_code, len(r.content)) == (200, size), header
    r = await bench.http.put("/v1/recordings/policies/sales", headers=root,
                             json={"retention_days": 91, "stereo": True})
    assert r.status_code == 422
    assert r.json()["details"]["fields"][0]["field"] == "retention_days"
    policies = (await bench.http.get("/v1/recordings/policies", headers=sue)).json()
    assert policies["policies"] == [] and bench.dirs.stereo_keys() == set()
    r = await bench.http.put("/v1/recordings/policies/sales", headers=sue,
                             json={"retention_days": 400})
    assert r.status_code == 403
    r = await bench.http.get("/v1/recordings/sample?from=2026-01-02&to=2026-01-01",
                             headers=sue)
    assert r.status_code == 422
    for zone in ("Mars/Base", "localtime"):
        r = await bench.http.get(
            f"/v1/recordings/sample?from=2026-01-01&to=2026-01-02&tz={zone}", headers=sue)
        assert r.status_code == 422 and "tz" in r.json()["message"], zone
    # Midnight of the calendar's first day in Tokyo is in year 0 in UTC (it was a 500).
    r = await bench.http.get(
        "/v1/recordings/sample?from=0001-01-01&to=0001-01-01&tz=Asia/Tokyo", headers=sue)
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "from"


async def test_range_returns_exactly_the_requested_bytes(bench: Bench) -> None:
    rec = await add(bench, "3.1", age_days=1, seconds=3)
    body = bench.dirs.store_file(rec.path).read_bytes()
    url = f"/v1/recordings/{rec.id}/audio"
    for header, want in (("bytes=0-43", body[:44]), ("bytes=100-", body[100:]),
                         ("bytes=-10", body[-10:]), ("bytes=5-5", body[5:6])):
        r = await bench.http.get(url, headers={**bench.as_("sue"), "Range": header})
        assert r.status_code == 206 and r.content == want
        assert int(r.headers["content-length"]) == len(want)
    # If-Range with a stale tag: the whole file, not a mix of two versions.
    r = await bench.http.get(url, headers={**bench.as_("sue"), "Range": "bytes=0-9",
                                           "If-Range": '"stale"'})
    assert r.status_code == 200 and r.content == body


# -- sampling ---------------------------------------------------------------------------------


async def test_sample_picks_n_per_agent_per_day_of_at_least_m_seconds(bench: Bench) -> None:
    for i in range(6):
        await add(bench, f"4.{i}", age_days=0.01, seat="1001", seconds=200 if i < 4 else 60)
        await add(bench, f"5.{i}", age_days=0.01, seat="1002", seconds=200)
    today = (NOW - timedelta(days=0.01)).date().isoformat()
    url = f"/v1/recordings/sample?from={today}&to={today}&per_agent=3&min_seconds=180&seed=x"
    first = (await bench.http.get(url, headers=bench.as_("sue"))).json()
    per_seat: dict[str, int] = {}
    for item in first["items"]:
        per_seat[item["seat_id"]] = per_seat.get(item["seat_id"], 0) + 1
        assert item["recording"]["duration_seconds"] >= 180
    assert per_seat == {"1001": 3, "1002": 3}
    again = (await bench.http.get(url, headers=bench.as_("sue"))).json()
    assert again == first  # the same seed gives the same sample


# -- retention sweep ----------------------------------------------------------------------------


async def test_sweep_removes_only_what_is_expired_and_not_on_hold(bench: Bench) -> None:
    old = [await add(bench, f"6.{i}", age_days=100 + i) for i in range(20)]
    fresh = await add(bench, "7.1", age_days=30)
    held = await add(bench, "7.2", age_days=200)
    long_kept = await add(bench, "7.3", age_days=200, group="vip")
    r = await bench.http.put(f"/v1/recordings/{held.id}/legal-hold", headers=bench.as_("root"),
                             json={"hold": True, "reason": "case 17"})
    assert r.status_code == 200 and r.json()["legal_hold"] is True
    r = await bench.http.put("/v1/recordings/policies/vip", headers=bench.as_("root"),
                             json={"retention_days": 365, "stereo": True})
    assert r.status_code == 200 and bench.dirs.stereo_keys() == {"vip"}
    orphan = bench.dirs.store / "2020" / "01" / "01" / "9.9.wav"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(audio(0.1))

    dry = (await bench.http.post("/v1/recordings/sweep?dry_run=true",
                                 headers=bench.as_("root"))).json()
    assert dry["would_delete"] == 20 and dry["deleted"] == 0
    assert dry["orphans"] == ["2020/01/01/9.9.wav"]
    assert await count_rows(bench) == 23  # a dry run changes nothing

    report = await bench.sweeper.run(trigger="test")
    assert report.deleted == 20 and report.batches == 3  # batches of 7
    assert report.files_missing == 0
    async with bench.sm() as s:
        left = set((await s.execute(select(RecordingRow.call_id))).scalars())
        audit = (await s.execute(select(RecordingSweepBatchRow)
                                 .order_by(RecordingSweepBatchRow.id))).scalars().all()
    assert left == {fresh.call_id, held.call_id, long_kept.call_id}
    for r_ in old:
        assert not bench.dirs.store_file(r_.path).exists()
    for r_ in (fresh, held, long_kept):
        assert bench.dirs.store_file(r_.path).exists()
    assert [(a.state, a.recordings) for a in audit] == [("done", 7), ("done", 7), ("done", 6)]
    assert sorted(c for a in audit for c in a.call_ids) == sorted(r_.call_id for r_ in old)
    assert orphan.exists()  # reported, never deleted
    # Each batch on the bus once, for the live stream's supervisors.
    deleted = [e for e in bench.published if isinstance(e, RecordingsDeleted)]
    assert [(e.batch_id, sorted(e.call_ids)) for e in deleted] == \
        [(a.id, sorted(a.call_ids)) for a in audit]


async def test_a_sweep_finishes_a_batch_a_crash_left_half_done(bench: Bench) -> None:
    doomed = [await add(bench, f"8.{i}", age_days=120) for i in range(5)]
    # Crash after the claim committed and two files were unlinked.
    async with bench.sm() as s, s.begin():
        claimed = await repo.claim_batch(s, now=NOW, scan_cutoff=NOW - timedelta(days=92),
                                         default_days=92, limit=100, trigger="test")
    assert claimed is not None and len(claimed.items) == 5
    for _, path, _ in claimed.items[:2]:
        os.unlink(bench.dirs.store_file(path))
    # A claimed recording is no longer served, nor can it be put on hold.
    r = await bench.http.get(f"/v1/recordings/{doomed[0].id}/audio", headers=bench.as_("sue"))
    assert r.status_code == 404

    report = await bench.sweeper.run(trigger="test")
    assert report.resumed_batches == 1 and report.deleted == 5 and report.files_missing == 2
    assert await count_rows(bench) == 0
    assert list(bench.dirs.store_files()) == []
    async with bench.sm() as s:
        states = (await s.execute(select(RecordingSweepBatchRow.state))).scalars().all()
    assert states == ["done"]


async def test_only_one_sweep_runs_at_a_time(bench: Bench) -> None:
    await add(bench, "10.1", age_days=120)
    async with bench.sm() as s, s.begin():
        await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": 0x43544952})
        report = await asyncio.wait_for(bench.sweeper.run(trigger="test"), 10)
    assert report.skipped and await count_rows(bench) == 1


async def test_hold_refused_while_a_sweep_deletes(bench: Bench) -> None:
    rec = await add(bench, "11.1", age_days=1)
    async with bench.sm() as s, s.begin():
        await s.execute(update(RecordingRow).where(RecordingRow.id == rec.id)
                        .values(status="deleting"))
    r = await bench.http.put(f"/v1/recordings/{rec.id}/legal-hold", headers=bench.as_("root"),
                             json={"hold": True})
    assert r.status_code == 404  # no longer visible: it is on its way out


def test_cli_sweep_dry_run_reports_orphans(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from cti import cli

    monkeypatch.setenv("CTI_DATABASE__URL", pg_url)
    monkeypatch.setenv("CTI_ASTERISK__ROOT", "")
    monkeypatch.setenv("CTI_ASTERISK__SPOOL_DIR", str(tmp_path / "spool"))
    stray = tmp_path / "spool" / "monitor" / "cti" / "store" / "2020" / "01" / "01" / "1.1.wav"
    stray.parent.mkdir(parents=True)
    stray.write_bytes(audio(0.1))
    assert cli.main(["recordings", "sweep", "--dry-run"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is True and report["deleted"] == 0
    assert report["orphans"] == ["2020/01/01/1.1.wav"] and stray.exists()
