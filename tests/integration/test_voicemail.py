"""Voicemail end to end: real Asterisk 22 (app_voicemail, app_queue), SIPp customers and
seats, PostgreSQL, and the service as its own process, observed over REST.

- No seat logged in: Queue() ends with JOINEMPTY and the customer leaves a message.
- A seat logged in that never answers: the maximum wait passes (TIMEOUT), same path.
Each message is listed with caller, time and duration, downloaded (and not silent), marked
heard (INBOX -> Old through app_voicemail) and deleted.
"""

from __future__ import annotations

import asyncio
import io
import math
import shutil
import time
import wave
from array import array
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiUnsafeValue
from cti.config import AmiNode, AmiSettings
from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.conftest import BENCH_WRAPUP_SECONDS
from tests.support.bench import running_asterisk
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench
from tests.unit.test_voicemail_spool import write_message

pytestmark = pytest.mark.integration

MAX_WAIT = 8  # seconds a caller queues before the group's voicemail
# The customer speaks after app_voicemail's greeting and beep (6 s), with a second of
# margin: on a loaded machine (CI) they ran late and the message lost its start (2.97 s
# of 3, once).
GREETING = 7.0
SILENCE_RMS = 200.0  # 16-bit RMS; the g711a.pcap speech is far above, silence is ~0


@pytest.fixture(scope="module")
def asterisk_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskInstance]:
    """This module's own Asterisk: as the shared one, with a short maximum wait."""
    with running_asterisk(lambda: tmp_path_factory.mktemp("asterisk"),
                          wrapup_seconds=BENCH_WRAPUP_SECONDS, max_wait=MAX_WAIT) as instance:
        yield instance


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    shutil.rmtree(asterisk.voicemail_dir(), ignore_errors=True)
    with serving(asterisk, pg_cluster, pg_url, tmp_path) as svc:
        # group settings live in PostgreSQL, shared by the test modules: set this one's
        r = svc.http.patch("/v1/skill-groups/sales", json={"max_wait_seconds": MAX_WAIT})
        assert r.status_code == 200, r.text
        yield svc


def messages(svc: CtiService, **params: Any) -> list[dict[str, Any]]:
    return list(svc.get("/v1/voicemail", **params)["items"])


def rms(wav_bytes: bytes) -> float:
    with wave.open(io.BytesIO(wav_bytes), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth()) == (1, 2)
        samples = array("h", wav.readframes(wav.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0


def check_message_lifecycle(svc: CtiService, asterisk: AsteriskInstance, caller: str,
                            called_at: float) -> None:
    [msg] = until(lambda: messages(svc, box="sales"), 20, "the voicemail in the sales box")
    assert msg["caller_number"] == caller
    assert msg["box"] == "sales" and msg["folder"] == "INBOX" and msg["heard"] is False
    assert abs(datetime.fromisoformat(msg["received_at"]).timestamp() - called_at) < 60
    assert msg["duration_seconds"] >= 3, msg
    assert svc.get(f"/v1/voicemail/{msg['id']}") == msg

    audio = svc.http.get(f"/v1/voicemail/{msg['id']}/audio")
    assert audio.status_code == 200
    assert audio.headers["content-type"] == "audio/wav"
    assert "voicemail-sales-" in audio.headers["content-disposition"]
    assert caller in audio.headers["content-disposition"]
    level = rms(audio.content)
    assert level > SILENCE_RMS, f"the message is silent (RMS {level:.0f})"

    heard = svc.http.post(f"/v1/voicemail/{msg['id']}/heard")
    assert heard.status_code == 200, heard.text
    assert heard.json()["heard"] is True and heard.json()["folder"] == "Old"
    assert heard.json()["id"] == msg["id"]  # the id survives the move
    assert messages(svc, box="sales", heard=False) == []
    assert [m["id"] for m in messages(svc, heard=True)] == [msg["id"]]
    box = asterisk.voicemail_dir() / "sales"
    assert list((box / "INBOX").glob("msg*.txt")) == []
    assert len(list((box / "Old").glob("msg*.txt"))) == 1
    # app_voicemail's own count agrees: no new messages for the box
    assert " 0" in asterisk.cli("voicemail show users for groups").split("sales")[1].split("\n")[0]

    gone = svc.http.delete(f"/v1/voicemail/{msg['id']}")
    assert gone.status_code == 204, gone.text
    assert svc.http.delete(f"/v1/voicemail/{msg['id']}").status_code == 404
    assert messages(svc) == []
    assert svc.http.get(f"/v1/voicemail/{msg['id']}").status_code == 404
    assert list((box / "Old").glob("msg*")) == []


def test_no_seat_logged_in_leaves_voicemail(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    called_at = time.time()
    customer = sipp.customer("200", hold=10.0, audio_delay=GREETING, caller_number="0612345678")
    assert customer.wait(timeout=60).ok
    check_message_lifecycle(service, asterisk, "0612345678", called_at)


def test_maximum_wait_passes_to_voicemail(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    agent = sipp.agent("1001", mode="no_answer")
    asterisk.cli("queue add member PJSIP/1001 to sales")
    called_at = time.time()
    # app_queue notices the maximum wait on its own beat, up to a second late: speak after
    # that too, or the greeting runs over the start of the message.
    customer = sipp.customer("200", hold=10.0, audio_delay=MAX_WAIT + 1.0 + GREETING,
                             caller_number="0698765432")
    until(lambda: [r for r in asterisk.queue_log_rows() if r[4] == "EXITWITHTIMEOUT"],
          MAX_WAIT + 15, "the caller to leave the queue on the maximum wait")
    # Leaving a message: no longer waiting in the group, and the seat it rang is free.
    live = until(lambda: [c for c in service.get("/v1/calls", status="active")["items"]
                          if c["customer_number"] == "0698765432"
                          and c["state"] == "dialing"], 5, "the call out of the queue")
    assert live[0]["skill_group"] == "sales"
    until(lambda: service.get("/v1/seats/1001")["state"] != "ringing", 5, "1001 not ringing")
    assert customer.wait(timeout=90).ok
    agent.stop()
    check_message_lifecycle(service, asterisk, "0698765432", called_at)
    # The caller did not abandon: they waited the maximum and went on to voicemail.
    (done,) = [c for c in service.get("/v1/calls", status="ended",
                                      customer_number="0698765432")["items"]]
    assert done["abandoned"] is False, done
    assert MAX_WAIT - 1 <= done["wait_seconds"] <= MAX_WAIT + 2, done


def test_agents_read_only_their_groups_and_cannot_change(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    token = service.cli("token", "create", "--user", "agent7", "--role", "agent",
                        "--seat", "1007").strip().splitlines()[-1]
    agent = httpx.Client(base_url=service.base_url, timeout=5.0,
                         headers={"Authorization": f"Bearer {token}"})
    with agent:
        forbidden = agent.get("/v1/voicemail", params={"box": "sales"})
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "forbidden"
        assert agent.get("/v1/voicemail").json()["items"] == []
        assert agent.post("/v1/voicemail/sales:1-0/heard").status_code == 403
        assert agent.delete("/v1/voicemail/sales:1-0").status_code == 403
    assert service.http.get("/v1/voicemail/sales:1-0").status_code == 404
    bad = service.http.get("/v1/voicemail/..%2Fetc:1-0")
    assert bad.status_code in (404, 422)


def test_agents_read_the_box_their_group_uses_not_one_named_like_it(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    """A group's messages are in its voicemail box, which need not bear its name: sales
    uses "sales-vm", and support uses "sales". The boxes come from PostgreSQL."""
    spool = asterisk.voicemail_dir()
    write_message(spool / "sales-vm", "INBOX", 0, origtime=1_764_000_000,
                  msg_id="1764000000-00000001")  # left by a caller of sales
    write_message(spool / "sales", "INBOX", 0, origtime=1_765_000_000,
                  msg_id="1765000000-00000002")  # left by a caller of support
    sales = service.get("/v1/skill-groups/sales/settings")
    was_member = any(m["seat_id"] == "1001" for m in sales["members"])
    token = service.cli("token", "create", "--user", "agent-vm-1001", "--role", "agent",
                        "--seat", "1001").strip().splitlines()[-1]
    agent = httpx.Client(base_url=service.base_url, timeout=5.0,
                         headers={"Authorization": f"Bearer {token}"})
    try:
        for group, box in (("sales", "sales-vm"), ("support", "sales")):
            r = service.http.patch(f"/v1/skill-groups/{group}", json={"voicemail_box": box})
            assert r.status_code == 200, r.text
        r = service.http.put("/v1/skill-groups/sales/members/1001", json={"level": 0})
        assert r.status_code == 200, r.text
        with agent:
            listed = agent.get("/v1/voicemail")
            own = agent.get("/v1/voicemail/sales-vm:1764000000-00000001/audio")
            foreign = agent.get("/v1/voicemail/sales:1765000000-00000002")
        assert [m["id"] for m in listed.json()["items"]] == ["sales-vm:1764000000-00000001"]
        assert own.status_code == 200, own.text
        assert foreign.status_code == 403 and foreign.json()["details"] == {"box": "sales"}
    finally:  # PostgreSQL is shared by the test modules: leave the groups as they were
        if not was_member:
            service.http.delete("/v1/skill-groups/sales/members/1001")
        for group in ("support", "sales"):
            r = service.http.patch(f"/v1/skill-groups/{group}", json={"voicemail_box": None})
            assert r.status_code == 200, r.text


async def test_voicemail_actions_report_failures(asterisk: AsteriskInstance) -> None:
    """app_voicemail answers a failed move/remove with "Response: Success"; the action
    functions turn that into AmiActionFailed (checked against the real Asterisk)."""
    p = asterisk.params
    node = AmiNode(name="node1", host="127.0.0.1", port=p.ami_port, username=p.ami_username,
                   secret=SecretStr(p.ami_secret))

    logged_in = asyncio.Event()

    async def on_ready(_: AmiConnection) -> None:
        logged_in.set()

    conn = AmiConnection(node, AmiSettings(nodes=[node]), lambda _: None, on_ready,
                         lambda *_: None)
    conn.start()
    try:
        await asyncio.wait_for(logged_in.wait(), 20)
        with pytest.raises(AmiActionFailed, match="move failed"):
            await actions.voicemail_move(conn, context="groups", mailbox="sales",
                                         folder="INBOX", msg_id="1-0", to_folder="Old")
        with pytest.raises(AmiActionFailed, match="remove failed"):
            await actions.voicemail_remove(conn, context="groups", mailbox="sales",
                                           folder="INBOX", msg_id="1-0")
        with pytest.raises(AmiUnsafeValue):
            await actions.voicemail_remove(conn, context="groups", mailbox="sales\r\nX: y",
                                           folder="INBOX", msg_id="1-0")
    finally:
        await conn.stop()
