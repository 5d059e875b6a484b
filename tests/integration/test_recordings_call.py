"""Recording end to end: real Asterisk 22 records (dialplan MixMonitor), SIPp plays the
customer and the agent with audio, the service (its own process) catalogues into the real
PostgreSQL and serves the WAV with HTTP Range."""

from __future__ import annotations

import array
import hashlib
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from recordings import wav
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    with serving(asterisk, pg_cluster, pg_url, tmp_path,
                 truncate=("calls", "call_events", "seat_state_log", "seats", "recordings",
                           "recording_policies", "recording_sweep_batches")) as svc:
        yield svc


def recordings_of(svc: CtiService, number: str) -> list[dict[str, Any]]:
    return list(svc.get("/v1/recordings", customer_number=number)["items"])


def rms(samples: array.array[int]) -> float:
    return math.sqrt(sum(s * s for s in samples) / max(1, len(samples)))


def channel_rms(body: bytes) -> list[float]:
    info = wav.parse_header(body[:4096], len(body))
    pcm = array.array("h", body[info.data_offset : info.data_offset + info.data_size])
    return [rms(pcm[c :: info.channels]) for c in range(info.channels)]  # type: ignore[arg-type]


def ended_call(svc: CtiService, call_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        call: dict[str, Any] = svc.get(f"/v1/calls/{call_id}")
        return call if call.get("ended_at") else None

    return until(check, 15, f"call {call_id} ended in history")


def call_seconds(call: dict[str, Any]) -> float:
    start = datetime.fromisoformat(call["started_at"])
    end = datetime.fromisoformat(call["ended_at"])
    return (end - start).total_seconds()


def test_inbound_call_leaves_exactly_one_recording_with_sound_of_the_call_length(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    agent = sipp.agent("1001", mode="answer", answer_after=1.0)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    number = "861390000001"
    customer = sipp.customer("200", hold=6.0, caller_number=number)
    assert customer.wait(timeout=40).ok
    agent.stop()

    found = until(lambda: recordings_of(service, number), 30, "the recording catalogued")
    assert len(found) == 1
    rec = found[0]
    call = ended_call(service, rec["call_id"])
    assert rec["seat_id"] == "1001" and rec["skill_group"] == "sales"
    assert rec["direction"] == "inbound" and rec["channels"] == 1
    # The recording spans the call: from the answer in the dialplan to the hang-up.
    assert abs(rec["duration_seconds"] - call_seconds(call)) < 1.0, (rec, call)
    assert 5.0 <= rec["duration_seconds"] <= 8.0
    # Both phones sent media the whole call: the audio lacks nothing.
    assert abs(rec["call_seconds"] - call_seconds(call)) < 1.0, (rec, call)
    assert rec["audio_gap_seconds"] < 1.0, rec

    # One file, in the store, none left in flight.
    base = asterisk.recordings_dir / "cti"
    assert [p.name for p in (base / "store").rglob("*.wav")] == \
        [f"{call['linkedid']}.wav"]
    assert not list((base / "ready").iterdir()) and not list((base / "recording").iterdir())

    whole = service.http.get(rec["audio_url"])
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/wav"
    assert whole.headers["accept-ranges"] == "bytes"
    assert "sales_1001_861390000001" in whole.headers["content-disposition"]
    body = whole.content
    assert len(body) == rec["size_bytes"]
    assert hashlib.sha256(body).hexdigest() == rec["sha256"]
    # g711a.pcap from both phones: clearly more than silence (comfort noise is ~0-50).
    assert channel_rms(body)[0] > 300, channel_rms(body)

    part = service.http.get(rec["audio_url"], headers={"Range": "bytes=1000-4999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-4999/{len(body)}"
    assert part.content == body[1000:5000]
    tail = service.http.get(rec["audio_url"], headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == body[-100:]
    bad = service.http.get(rec["audio_url"], headers={"Range": f"bytes={len(body)}-"})
    assert bad.status_code == 416
    assert bad.headers["content-range"] == f"bytes */{len(body)}"
    assert bad.json()["code"] == "range_not_satisfiable"

    # An agent reaches their own seat's recordings only.
    own = service.cli("token", "create", "--user", "a1001", "--role", "agent", "--seat",
                      "1001").strip().splitlines()[-1]
    other = service.cli("token", "create", "--user", "a1002", "--role", "agent", "--seat",
                        "1002").strip().splitlines()[-1]
    for token, status in ((own, 206), (other, 404)):
        r = httpx.get(service.base_url + rec["audio_url"], timeout=5,
                      headers={"Authorization": f"Bearer {token}", "Range": "bytes=0-43"})
        assert r.status_code == status


def test_a_call_longer_than_its_media_keeps_the_audio_length_and_shows_the_gap(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    """The SIPp phones play a 7 s pcap, then send no RTP (as a phone with silence
    suppression does): MixMonitor writes nothing while no frames flow."""
    agent = sipp.agent("1001", mode="answer", answer_after=1.0)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    number = "861390000003"
    assert sipp.customer("200", hold=16.0, caller_number=number).wait(timeout=60).ok
    agent.stop()

    rec = until(lambda: recordings_of(service, number), 30, "the recording catalogued")[0]
    call = ended_call(service, rec["call_id"])
    print(rec, call_seconds(call))
    # call_seconds is the call's (MixMonitorStart to hang-up), not the audio's ...
    assert abs(rec["call_seconds"] - call_seconds(call)) < 1.0, (rec, call)
    # ... and the audio is what Asterisk wrote: not padded, its gap shown.
    assert rec["duration_seconds"] < rec["call_seconds"] - 3.0, rec
    assert rec["audio_gap_seconds"] == pytest.approx(
        rec["call_seconds"] - rec["duration_seconds"], abs=0.002)
    body = service.http.get(rec["audio_url"]).content
    info = wav.parse_header(body[:4096], len(body))
    assert info.duration == pytest.approx(rec["duration_seconds"], abs=0.01)


def test_stereo_policy_puts_customer_and_agent_on_separate_channels(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    admin = service.cli("token", "create", "--user", "root", "--role", "admin").strip() \
        .splitlines()[-1]
    put = httpx.put(f"{service.base_url}/v1/recordings/policies/support", timeout=5,
                    headers={"Authorization": f"Bearer {admin}"},
                    json={"retention_days": 365, "stereo": True})
    assert put.status_code == 200, put.text

    agent = sipp.agent("1002", mode="answer", answer_after=1.0)
    asterisk.cli("queue add member PJSIP/1002 to support")
    number = "861390000002"
    assert sipp.customer("300", hold=6.0, caller_number=number).wait(timeout=40).ok
    agent.stop()

    rec = until(lambda: recordings_of(service, number), 30, "the stereo recording")[0]
    assert rec["channels"] == 2 and rec["skill_group"] == "support"
    call = ended_call(service, rec["call_id"])
    assert abs(rec["duration_seconds"] - call_seconds(call)) < 1.0, (rec, call)
    left, right = channel_rms(service.http.get(rec["audio_url"]).content)
    assert left > 300 and right > 300, (left, right)  # both phones play g711a.pcap
