"""Supervision end to end: real Asterisk 22, PostgreSQL, SIPp phones, the service as a
process, driven over REST; what each phone hears is measured on the wire.

Each party plays its own tone: the customer 500 Hz, the agent 800 Hz, the supervisor's
phone 1300 Hz. RTP is captured on ``lo``; for each party, the packets Asterisk sends to
it (the reverse of the flow carrying its own tone into Asterisk) show what it hears:

- listen:  the supervisor hears customer and agent; neither hears the supervisor
- whisper: the agent hears the supervisor; the customer does not
- barge:   agent and customer both hear the supervisor
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.conftest import BENCH_WRAPUP_SECONDS
from tests.support.rtp import RtpCapture, RtpPacket, tone_pcap, tone_share
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

CUSTOMER, AGENT, SUPERVISOR = 500.0, 800.0, 1300.0
WINDOW = 2.5  # seconds of audio judged per phase
SETTLE = 1.0  # after a mode change, before judging


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    if not pg_cluster.is_running():
        pg_cluster.start()
    pg_cluster.psql("TRUNCATE calls, call_events, seat_state_log, seats, supervision_sessions "
                    "CASCADE", database="cti")
    pg_cluster.psql("INSERT INTO seats (id, node, interface) VALUES "
                    "('1001', 'node1', 'PJSIP/1001'), ('1002', 'node1', 'PJSIP/1002'), "
                    "('1003', 'node1', 'PJSIP/1003')", database="cti")
    with serving(asterisk, pg_cluster, pg_url, tmp_path) as svc:
        yield svc


@pytest.fixture
def clients(service: CtiService) -> Iterator[Callable[..., httpx.Client]]:
    """``clients(user, role, seat=None)``: an HTTP client with a new token for that user."""
    made: list[httpx.Client] = []

    def make(user: str, role: str, seat: str | None = None) -> httpx.Client:
        args = ["token", "create", "--user", user, "--role", role]
        if seat is not None:
            args += ["--seat", seat]
        token = service.cli(*args).strip().splitlines()[-1]
        made.append(httpx.Client(base_url=service.base_url, timeout=15.0,
                                 headers={"Authorization": f"Bearer {token}"}))
        return made[-1]

    yield make
    for c in made:
        c.close()


def live_call(svc: CtiService, seat: str) -> dict[str, Any] | None:
    for call in svc.get("/v1/calls", status="active")["items"]:
        if call["seat_id"] == seat and call["state"] == "on_call":
            return dict(call)
    return None


class Ears:
    """What each party hears, from the capture."""

    def __init__(self, capture: RtpCapture, asterisk: AsteriskInstance) -> None:
        self.capture = capture
        self.rtp = range(asterisk.params.rtp_start, asterisk.params.rtp_end + 1)

    def heard_by(self, tone: float, since: float, until_: float) -> list[RtpPacket]:
        flows = self.capture.flows(since, until_)
        sent = [key for key, packets in flows.items()
                if key[1] in self.rtp and key[0] not in self.rtp and len(packets) > 20
                and tone_share(packets, tone) > 0.9]
        assert len(sent) == 1, f"no single flow carrying {tone} Hz into Asterisk: {sent}"
        src, dst = sent[0]
        return flows.get((dst, src), [])

    def window(self) -> tuple[float, float]:
        time.sleep(SETTLE)
        start = time.monotonic()
        time.sleep(WINDOW)
        return start, time.monotonic()

    def shares(self, since: float, until_: float) -> dict[str, dict[float, float]]:
        out = {}
        for name, tone in (("customer", CUSTOMER), ("agent", AGENT),
                           ("supervisor", SUPERVISOR)):
            packets = self.heard_by(tone, since, until_)
            assert len(packets) > 40, f"{name} got {len(packets)} RTP packets"
            out[name] = {t: tone_share(packets, t) for t in (CUSTOMER, AGENT, SUPERVISOR)}
        return out


def spy_channels(asterisk: AsteriskInstance) -> list[str]:
    return [line for line in asterisk.cli("core show channels verbose").splitlines()
            if "ChanSpy" in line]


def test_supervisor_hears_then_whispers_then_barges(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService, tmp_path: Path,
    clients: Callable[..., httpx.Client],
) -> None:
    tones = {f: tone_pcap(tmp_path / f"tone{int(f)}.pcap", f, 60.0)
             for f in (CUSTOMER, AGENT, SUPERVISOR)}
    boss = clients("boss", "supervisor", seat="1003")
    with RtpCapture() as capture:
        ears = Ears(capture, asterisk)
        sipp.agent("1001", audio=tones[AGENT])
        sipp.agent("1003", audio=tones[SUPERVISOR])  # the supervisor's phone
        asterisk.cli("queue add member PJSIP/1001 to sales")
        until(lambda: service.get("/v1/seats/1001")["state"] == "available", 10,
              "seat 1001 available")
        customer = sipp.customer("200", hold=32.0, caller_number="861390000001",
                                 audio=tones[CUSTOMER])
        call = until(lambda: live_call(service, "1001"), 20, "the call on seat 1001")

        r = boss.post(f"/v1/calls/{call['id']}/monitor", json={"mode": "listen"})
        assert r.status_code == 201, r.text
        session = r.json()
        assert session["phone_seat_id"] == "1003" and session["agent_seat_id"] == "1001"
        assert session["agent_channel"].startswith("PJSIP/1001-") and session["active"]
        until(lambda: spy_channels(asterisk), 15, "the supervisor's ChanSpy")
        url = f"/v1/calls/{call['id']}/monitor/{session['id']}"

        heard = ears.shares(*ears.window())
        print("listen", heard)
        assert heard["supervisor"][CUSTOMER] > 0.2 and heard["supervisor"][AGENT] > 0.2, heard
        assert heard["agent"][SUPERVISOR] < 0.01 and heard["customer"][SUPERVISOR] < 0.01, heard

        r = boss.patch(url, json={"mode": "whisper"})
        assert r.status_code == 200 and r.json()["mode"] == "whisper", r.text
        heard = ears.shares(*ears.window())
        print("whisper", heard)
        assert heard["agent"][SUPERVISOR] > 0.1, heard
        assert heard["customer"][SUPERVISOR] < 0.01, heard
        assert heard["supervisor"][CUSTOMER] > 0.2, heard

        r = boss.patch(url, json={"mode": "barge"})
        assert r.status_code == 200 and r.json()["mode"] == "barge", r.text
        heard = ears.shares(*ears.window())
        print("barge", heard)
        assert heard["agent"][SUPERVISOR] > 0.1 and heard["customer"][SUPERVISOR] > 0.1, heard

        r = boss.delete(url)
        assert r.status_code == 200, r.text
        ended = r.json()
        assert not ended["active"] and ended["end_reason"] == "stopped", ended
        assert [c["mode"] for c in ended["mode_changes"]] == ["listen", "whisper", "barge"]
        # Each API change is a digit received on the leg too: audited once, as the API's.
        assert all(c["by"] == "boss" and c["via"] == "api" for c in ended["mode_changes"])
        assert ended["duration_seconds"] >= 3 * (SETTLE + WINDOW) - 1
        assert boss.get(url).json() == ended
        until(lambda: not spy_channels(asterisk), 10, "ChanSpy gone")

        # A second session ends with the call itself (the customer hangs up).
        r = boss.post(f"/v1/calls/{call['id']}/monitor", json={"mode": "whisper"})
        assert r.status_code == 201, r.text
        second = r.json()["id"]
        assert customer.wait(timeout=60).ok

        def second_ended() -> dict[str, Any] | None:
            rows = boss.get(f"/v1/calls/{call['id']}/monitor").json()
            row = next(s for s in rows if s["id"] == second)
            return None if row["active"] else dict(row)

        row = until(second_ended, 20, "the second session to end with the call")
        assert row["end_reason"] == "call_ended", row
        audit = boss.get(f"/v1/calls/{call['id']}/monitor").json()
        assert [s["supervisor"] for s in audit] == ["boss", "boss"]
        assert all(s["ended_at"] and s["duration_seconds"] is not None for s in audit)


def test_modes_pressed_on_the_supervisors_phone_are_audited(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService,
    clients: Callable[..., httpx.Client],
) -> None:
    boss = clients("boss", "supervisor", seat="1003")
    sipp.agent("1001")
    # The supervisor's phone answers, then its keypad sends 5 (whisper), 6 (barge), 6 again.
    sipp.agent("1003", digits="566", digits_after=2.0)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    until(lambda: service.get("/v1/seats/1001")["state"] == "available", 10,
          "seat 1001 available")
    customer = sipp.customer("200", hold=25.0, caller_number="861390000004")
    call = until(lambda: live_call(service, "1001"), 20, "the call on seat 1001")
    monitor = f"/v1/calls/{call['id']}/monitor"
    r = boss.post(monitor, json={"mode": "listen"})
    assert r.status_code == 201, r.text
    url = f"{monitor}/{r.json()['id']}"

    def pressed() -> dict[str, Any] | None:
        row = dict(boss.get(url).json())
        return row if row["mode"] == "barge" else None

    row = until(pressed, 20, "the keys pressed on the phone audited")
    changes = [(c["mode"], c["by"], c["via"]) for c in row["mode_changes"]]
    assert changes == [("listen", "boss", "api"), ("whisper", "boss", "phone"),
                       ("barge", "boss", "phone")], changes

    # Back to listening through the API: audited once, as the API's.
    r = boss.patch(url, json={"mode": "listen"})
    assert r.status_code == 200, r.text
    r = boss.delete(url)
    assert r.status_code == 200, r.text
    ended = r.json()
    assert [(c["mode"], c["via"]) for c in ended["mode_changes"]] == [
        ("listen", "api"), ("whisper", "phone"), ("barge", "phone"), ("listen", "api")]
    times = [c["at"] for c in ended["mode_changes"]]
    assert times == sorted(times)
    assert customer.wait(timeout=60).ok


def test_bad_monitor_requests_change_nothing(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, service: CtiService,
    clients: Callable[..., httpx.Client],
) -> None:
    boss = clients("boss", "supervisor", seat="1003")
    agent = clients("ann", "agent", seat="1001")
    pg_cluster.psql(
        "INSERT INTO calls (id, node, linkedid, direction, state, customer_number, started_at,"
        " ended_at, updated_at) VALUES ('node1:1.5', 'node1', '1.5', 'inbound', 'ended', "
        "'0612345678', now(), now(), now())", database="cti")

    def problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
        assert r.status_code == status, r.text
        body = dict(r.json())
        assert body["code"] == code, body
        return body

    problem(agent.post("/v1/calls/node1:1.5/monitor", json={"mode": "listen"}), 403,
            "forbidden")
    problem(boss.post("/v1/calls/node1:9.9/monitor", json={"mode": "listen"}), 404,
            "not_found")
    problem(boss.post("/v1/calls/node1:1.5/monitor", json={"mode": "listen"}), 409,
            "call_not_live")
    body = problem(boss.post("/v1/calls/node1:1.5/monitor", json={"mode": "shout"}), 422,
                   "invalid_input")
    assert body["details"]["fields"][0]["field"] == "mode"
    body = problem(boss.post("/v1/calls/node1:1.5/monitor",
                             json={"mode": "listen", "phone": "10\r\n01"}), 422,
                   "invalid_input")
    assert body["details"]["fields"][0]["field"] == "phone"
    problem(boss.patch(f"/v1/calls/node1:1.5/monitor/{'0' * 32}", json={"mode": "barge"}),
            404, "not_found")
    problem(boss.delete("/v1/calls/node1:1.5/monitor/not-a-session"), 422, "invalid_input")
    problem(agent.get("/v1/calls/node1:1.5/monitor"), 403, "forbidden")
    assert boss.get("/v1/calls/node1:1.5/monitor").json() == []
    assert pg_cluster.psql("SELECT count(*) FROM supervision_sessions", database="cti") == "0"
    assert not spy_channels(asterisk)


def test_session_ends_when_the_supervisor_hangs_up(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService,
    clients: Callable[..., httpx.Client],
) -> None:
    boss = clients("floor", "supervisor")  # no seat of their own: must name a phone
    sipp.agent("1001")
    sipp.agent("1003", hangup_after=4.0)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    until(lambda: service.get("/v1/seats/1001")["state"] == "available", 10,
          "seat 1001 available")
    customer = sipp.customer("200", hold=15.0, caller_number="861390000002")
    call = until(lambda: live_call(service, "1001"), 20, "the call on seat 1001")
    monitor = f"/v1/calls/{call['id']}/monitor"

    for body, why in (({"mode": "listen"}, "no seat"),
                      ({"mode": "listen", "phone": "1001"}, "the agent's own seat"),
                      ({"mode": "listen", "phone": "1099"}, "not a configured seat")):
        r = boss.post(monitor, json=body)
        assert r.status_code == 422, (why, r.text)
        assert r.json()["details"]["fields"][0]["field"] == "phone"
    assert boss.get(monitor).json() == []

    r = boss.post(monitor, json={"mode": "listen", "phone": "1003"})
    assert r.status_code == 201, r.text
    session = r.json()
    r = boss.post(monitor, json={"mode": "barge", "phone": "1003"})
    assert r.status_code == 409 and r.json()["code"] == "phone_busy", r.text

    def ended() -> dict[str, Any] | None:
        row = boss.get(monitor).json()[0]
        return None if row["active"] else dict(row)

    row = until(ended, 20, "the session to end when the supervisor hangs up")
    assert row["end_reason"] == "supervisor_hung_up", row
    assert 3 <= row["duration_seconds"] <= 10, row
    url = f"{monitor}/{session['id']}"
    r = boss.patch(url, json={"mode": "whisper"})
    assert r.status_code == 409 and r.json()["code"] == "session_ended", r.text
    r = boss.delete(url)  # stopping an ended session changes nothing
    assert r.status_code == 200 and r.json() == row
    assert customer.wait(timeout=60).ok


def test_session_left_open_by_a_stopped_service_ends_at_the_next_resync(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService, pg_url: str,
    tmp_path: Path, clients: Callable[..., httpx.Client],
) -> None:
    boss = clients("boss", "supervisor", seat="1003")
    sipp.agent("1001")
    sipp.agent("1003")
    asterisk.cli("queue add member PJSIP/1001 to sales")
    until(lambda: service.get("/v1/seats/1001")["state"] == "available", 10,
          "seat 1001 available")
    sipp.customer("200", hold=30.0, caller_number="861390000003")
    call = until(lambda: live_call(service, "1001"), 20, "the call on seat 1001")
    monitor = f"/v1/calls/{call['id']}/monitor"
    assert boss.post(monitor, json={"mode": "listen"}).status_code == 201
    until(lambda: spy_channels(asterisk), 15, "the supervisor's ChanSpy")

    service.stop()  # nothing is watching while the calls end
    asterisk.cli("channel request hangup all")
    until(lambda: "0 active channels" in asterisk.cli("core show channels count"), 10,
          "every channel gone")
    restarted = CtiService(asterisk, pg_url, tmp_path / "restarted", BENCH_WRAPUP_SECONDS)
    restarted.start()
    try:
        restarted.wait_ready()
        row = until(lambda: next((s for s in restarted.get(monitor) if not s["active"]), None),
                    20, "the orphaned session to end")
        assert row["end_reason"] == "lost" and row["ended_at"] is not None, row
    finally:
        restarted.stop()
        print(restarted.log_tail(100))
