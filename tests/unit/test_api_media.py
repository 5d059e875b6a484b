"""``/v1/voicemail`` and ``/v1/music-on-hold`` over HTTP without Asterisk or PostgreSQL:
a spool in a temporary directory, configured skill groups from the in-memory stand-in,
no AMI connection. What needs the real parts is in tests/integration."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI

from cti.api.media import MediaServices, MohResync
from cti.api.moh_service import MohService
from cti.api.store import ConfiguredSkillGroup
from cti.api.voicemail_service import VoicemailService
from cti.config import AsteriskFilesSettings, MediaSettings
from cti.domain.events import NodeConnectionChanged
from cti.telephony.files import AsteriskFiles
from cti.telephony.voicemail import VoicemailSpool
from tests.unit._api_fakes import FakeHistory, bearer, make_app, unreachable_sessionmaker
from tests.unit.test_voicemail_spool import write_message


@pytest.fixture
def app(tmp_path: Path) -> FastAPI:
    write_message(tmp_path / "sales", "INBOX", 0, origtime=1_764_000_000,
                  msg_id="1764000000-00000001", seconds=2.5)
    write_message(tmp_path / "sales", "Old", 0, origtime=1_763_000_000,
                  msg_id="1763000000-00000000")
    write_message(tmp_path / "support", "INBOX", 0, origtime=1_765_000_000,
                  msg_id="1765000000-00000002")
    app = make_app()
    store: Any = FakeHistory(skill_groups=[
        ConfiguredSkillGroup("sales", "node1", None, {"1001": 0}),
        ConfiguredSkillGroup("support", "node1", None, {"1002": 0}),
    ])
    files = AsteriskFiles(AsteriskFilesSettings(root=str(tmp_path / "root")))
    app.state.media = MediaServices(
        voicemail=VoicemailService(VoicemailSpool(tmp_path, "groups"), store, lambda: None,
                                   "node1"),
        moh=MohService(unreachable_sessionmaker(), files, MediaSettings(), lambda: None,
                       "node1"),
    )
    return app


async def call(app: FastAPI, method: str, path: str, token: str = "supervisor-token",
               **kwargs: Any) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        headers = {**bearer(token), **kwargs.pop("headers", {})}
        return await client.request(method, path, headers=headers, **kwargs)


async def test_supervisors_list_every_box_newest_first(app: FastAPI) -> None:
    r = await call(app, "GET", "/v1/voicemail")
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 3
    assert [m["id"] for m in body["items"]] == [
        "support:1765000000-00000002", "sales:1764000000-00000001", "sales:1763000000-00000000"]
    first = body["items"][1]
    assert first["caller_number"] == "0612345678" and first["caller_name"] == "Customer"
    assert first["received_at"] == "2025-11-24T16:00:00Z"
    assert first["duration_seconds"] == 2.5 and first["heard"] is False
    assert first["audio_url"] == "/v1/voicemail/sales:1764000000-00000001/audio"


async def test_filters_and_pages(app: FastAPI) -> None:
    r = await call(app, "GET", "/v1/voicemail", params={"box": "sales", "heard": "false"})
    assert [m["id"] for m in r.json()["items"]] == ["sales:1764000000-00000001"]
    r = await call(app, "GET", "/v1/voicemail", params={"limit": 1, "offset": 1})
    assert r.json()["total"] == 3 and len(r.json()["items"]) == 1
    assert r.json()["items"][0]["id"] == "sales:1764000000-00000001"


async def test_agents_read_only_their_groups(app: FastAPI) -> None:
    r = await call(app, "GET", "/v1/voicemail", token="agent-token")  # seat 1001: sales
    assert {m["box"] for m in r.json()["items"]} == {"sales"}
    r = await call(app, "GET", "/v1/voicemail", token="agent-token", params={"box": "support"})
    assert r.status_code == 403 and r.json()["details"] == {"box": "support"}
    r = await call(app, "GET", "/v1/voicemail/support:1765000000-00000002/audio",
                   token="agent-token")
    assert r.status_code == 403
    r = await call(app, "POST", "/v1/voicemail/sales:1764000000-00000001/heard",
                   token="agent-token")
    assert r.status_code == 403 and r.json()["code"] == "forbidden"


async def test_agents_read_the_boxes_their_groups_use_not_boxes_named_like_them(
    tmp_path: Path,
) -> None:
    # given sales leaving messages in box "sales-vm", and support in box "sales"
    write_message(tmp_path / "sales-vm", "INBOX", 0, origtime=1_764_000_000,
                  msg_id="1764000000-00000001")
    write_message(tmp_path / "sales", "INBOX", 0, origtime=1_765_000_000,
                  msg_id="1765000000-00000002")
    app = make_app()
    store: Any = FakeHistory(skill_groups=[
        ConfiguredSkillGroup("sales", "node1", None, {"1001": 0}, voicemail_box="sales-vm"),
        ConfiguredSkillGroup("support", "node1", None, {"1002": 0}, voicemail_box="sales"),
    ])
    files = AsteriskFiles(AsteriskFilesSettings(root=str(tmp_path / "root")))
    app.state.media = MediaServices(
        voicemail=VoicemailService(VoicemailSpool(tmp_path, "groups"), store, lambda: None,
                                   "node1"),
        moh=MohService(unreachable_sessionmaker(), files, MediaSettings(), lambda: None,
                       "node1"),
    )

    # when the sales agent (seat 1001) lists and reads voicemail
    listed = await call(app, "GET", "/v1/voicemail", token="agent-token")
    own = await call(app, "GET", "/v1/voicemail/sales-vm:1764000000-00000001/audio",
                     token="agent-token")
    foreign = await call(app, "GET", "/v1/voicemail/sales:1765000000-00000002",
                         token="agent-token")

    # then sales' own box is theirs, and support's box "sales" is not
    assert [m["id"] for m in listed.json()["items"]] == ["sales-vm:1764000000-00000001"]
    assert own.status_code == 200
    assert foreign.status_code == 403 and foreign.json()["details"] == {"box": "sales"}


async def test_audio_is_the_wav_with_a_useful_name(app: FastAPI, tmp_path: Path) -> None:
    r = await call(app, "GET", "/v1/voicemail/sales:1764000000-00000001/audio")
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    assert r.content == (tmp_path / "sales" / "INBOX" / "msg0000.wav").read_bytes()
    assert 'filename="voicemail-sales-20251124-160000-0612345678.wav"' in \
        r.headers["content-disposition"]
    r = await call(app, "GET", "/v1/voicemail/sales:1764000000-00000001/audio",
                   headers={"Range": "bytes=0-3"})
    assert r.status_code == 206 and r.content == b"RIFF"


async def test_unknown_and_malformed_ids(app: FastAPI) -> None:
    r = await call(app, "GET", "/v1/voicemail/sales:1-0")
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    for bad in ("..:1-0", "sales:x", "sales", "sales:1-0;rm"):
        r = await call(app, "GET", f"/v1/voicemail/{bad}")
        assert r.status_code in (404, 422), bad
        assert r.json()["code"] in ("invalid_input", "not_found")
    r = await call(app, "GET", "/v1/voicemail", params={"box": "../etc"})
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "box"


async def test_changes_need_asterisk(app: FastAPI, tmp_path: Path) -> None:
    """Without an AMI connection a change is a 503 and the spool is left as it was."""
    r = await call(app, "POST", "/v1/voicemail/sales:1764000000-00000001/heard")
    assert r.status_code == 503 and r.json()["code"] == "unavailable"
    r = await call(app, "DELETE", "/v1/voicemail/sales:1764000000-00000001")
    assert r.status_code == 503
    assert (tmp_path / "sales" / "INBOX" / "msg0000.txt").exists()
    # Already heard: nothing to do, so no Asterisk needed
    r = await call(app, "POST", "/v1/voicemail/sales:1763000000-00000000/heard")
    assert r.status_code == 200 and r.json()["heard"] is True


async def test_moh_input_is_checked_before_anything_else(app: FastAPI) -> None:
    r = await call(app, "POST", "/v1/music-on-hold", json={"name": "Bad Name"})
    assert r.status_code == 422 and r.json()["details"]["fields"][0]["field"] == "name"
    r = await call(app, "POST", "/v1/music-on-hold", json={"name": "ok"}, token="agent-token")
    assert r.status_code == 403
    r = await call(app, "POST", "/v1/music-on-hold/ok/files", content=b"x" * 10,
                   headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and r.json()["code"] == "unsupported_media_type"
    r = await call(app, "POST", "/v1/music-on-hold/ok/files",
                   headers={"Content-Type": "multipart/form-data; boundary=x",
                            "Content-Length": str(100 << 20)})
    assert r.status_code == 413 and r.json()["details"]["field"] == "file"
    r = await call(app, "DELETE", "/v1/music-on-hold/ok/files/..%2F..%2Fx.wav")
    assert r.status_code in (404, 422)
    # the database is down in this app: reads and changes say so, they do not 500
    r = await call(app, "GET", "/v1/music-on-hold")
    assert r.status_code == 503 and r.json()["details"] == {"component": "database"}


class CountingMoh:
    def __init__(self) -> None:
        self.calls = 0

    async def reapply(self) -> bool:
        self.calls += 1
        if self.calls == 1:
            raise OSError("database down")  # a failed run must not end the task
        return True


async def test_moh_resync_reapplies_when_the_node_comes_up() -> None:
    moh = CountingMoh()
    resync = MohResync(cast(MohService, moh), "node1")
    resync.start()
    try:
        resync.on_events([NodeConnectionChanged("node2", True, 0.0),
                          NodeConnectionChanged("node1", False, 0.0)])
        await asyncio.sleep(0.05)
        assert moh.calls == 0
        for expected in (1, 2):
            resync.on_events([NodeConnectionChanged("node1", True, 0.0)])
            async with asyncio.timeout(5):
                while moh.calls < expected:  # noqa: ASYNC110 - the task under test has no hook
                    await asyncio.sleep(0.01)
        assert resync.runs == 1
    finally:
        await resync.stop()
