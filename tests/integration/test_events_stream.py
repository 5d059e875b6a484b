"""``WS /v1/events`` end to end: a SIPp customer calls the ``sales`` queue of the real
Asterisk 22, a SIPp agent on seat 1001 answers, and the service (its own process, with
PostgreSQL) streams the call to WebSocket clients as a wallboard and agent desktops would.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from cti.stack.asterisk import AsteriskInstance
from cti.stack.ports import free_port
from cti.stack.postgres import PostgresCluster
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

CONTROL = {"snapshot", "resumed", "resync"}


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    # The wallboard reads from the stream worker's port, the agents from the API's.
    with serving(asterisk, pg_cluster, pg_url, tmp_path,
                 truncate=("calls", "call_events", "seat_state_log", "seats", "recordings"),
                 env={"CTI_STREAM__PORT": str(free_port())}) as svc:
        yield svc


class Listener:
    """A WebSocket client reading the stream on its own thread into ``messages``."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ws: ClientConnection | None = None
        self._opened = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, args=(url, kwargs), daemon=True)
        self._thread.start()
        if not self._opened.wait(15) or self._error is not None:
            raise AssertionError(f"could not open {url}: {self._error!r}")

    def _read(self, url: str, kwargs: dict[str, Any]) -> None:
        try:
            with connect(url, open_timeout=10, **kwargs) as ws:
                self._ws = ws
                self._opened.set()
                for raw in ws:
                    with self._lock:
                        self.messages.append(json.loads(raw))
        except ConnectionClosed:
            pass
        except Exception as exc:  # reported by __init__ or close()
            self._error = exc
        finally:
            self._opened.set()

    def seen(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> list[dict[str, Any]]:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(10)
        assert self._error is None, self._error
        return self.seen()


def ws_url(service: CtiService) -> str:
    return service.base_url.replace("http://", "ws://") + "/v1/events"


def worker_url(service: CtiService) -> str:
    return f"ws://127.0.0.1:{service.env['CTI_STREAM__PORT']}/v1/events"


def deltas(messages: list[dict[str, Any]], kind: str | None = None) -> list[dict[str, Any]]:
    return [m for m in messages
            if m["type"] not in CONTROL and (kind is None or m["type"] == kind)]


def is_subsequence(wanted: list[Any], seen: list[Any]) -> bool:
    it = iter(seen)
    return all(any(s == w for s in it) for w in wanted)


def test_the_stream_delivers_a_queue_call_in_order(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    agent_token = service.cli("token", "create", "--user", "alice", "--role", "agent",
                              "--seat", "1001").strip().splitlines()[-1]
    other_token = service.cli("token", "create", "--user", "bruno", "--role", "agent",
                              "--seat", "1002").strip().splitlines()[-1]
    agent = sipp.agent("1001", mode="answer", answer_after=1.5)
    asterisk.cli("queue add member PJSIP/1001 to sales")
    until(lambda: service.get("/v1/seats/1001")["state"] == "available", 10,
          "seat 1001 available")

    url = ws_url(service)
    wallboard = Listener(worker_url(service),
                         additional_headers={"Authorization": f"Bearer {service.token}"})
    desk = Listener(f"{url}?token={agent_token}")
    other = Listener(f"{url}?token={other_token}")
    until(lambda: all(c.seen() for c in (wallboard, desk, other)), 10, "three snapshots")

    customer = sipp.customer("200", hold=4.0, caller_number="861391234567")

    def ended() -> list[dict[str, Any]]:
        return [m for m in deltas(wallboard.seen(), "call")
                if m["data"]["customer_number"] == "861391234567" and not m["data"]["active"]]

    call_id = until(ended, 40, "the call's end on the stream")[0]["data"]["id"]
    until(lambda: any(m["data"]["id"] == "1001" and m["data"]["state"] == "available"
                      and m["data"]["previous"] == "wrap_up"
                      for m in deltas(desk.seen(), "seat")), 20, "the seat back from wrap-up")
    # The dialplan recorded the call: once catalogued, its recording is on the stream.
    until(lambda: [m for m in deltas(desk.seen(), "recording")
                   if m["data"]["call_id"] == call_id], 30, "the recording on the desk")
    assert customer.wait(timeout=30).ok
    assert agent.stop().ok

    # The wallboard (a supervisor): a snapshot, then every delta, numbered without a gap.
    board = wallboard.close()
    snapshot = board[0]
    assert snapshot["type"] == "snapshot"
    assert any(s["id"] == "1001" and s["state"] == "available"
               for s in snapshot["data"]["seats"])
    seqs = [m["seq"] for m in board[1:]]
    assert seqs == list(range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(seqs)))
    timeline = [m["data"]["kind"] for m in deltas(board, "call_timeline")
                if m["data"]["call_id"] == call_id]
    assert is_subsequence(["started", "queued", "offered", "answered", "completed", "ended"],
                          timeline), timeline
    states = [m["data"]["state"] for m in deltas(board, "call") if m["data"]["id"] == call_id]
    assert is_subsequence(["queued", "ringing", "on_call", "ended"], states), states
    seat = [m["data"]["state"] for m in deltas(board, "seat") if m["data"]["id"] == "1001"]
    assert is_subsequence(["ringing", "on_call", "wrap_up", "available"], seat), seat
    waiting = [m["data"]["calls_waiting"] for m in deltas(board, "skill_group")
               if m["data"]["name"] == "sales"]
    assert is_subsequence([1, 0], waiting), waiting
    assert all("members" in m["data"] for m in deltas(board, "skill_group"))
    recording = [m for m in deltas(board, "recording") if m["data"]["call_id"] == call_id]
    assert len(recording) == 1, recording
    rec = recording[0]["data"]
    assert rec["seat_id"] == "1001" and rec["skill_group"] == "sales"
    assert rec["audio_url"] == f"/v1/recordings/{rec['id']}/audio"
    assert service.get(f"/v1/recordings/{rec['id']}")["duration_seconds"] == \
        rec["duration_seconds"]
    ended_at = next(m["seq"] for m in deltas(board, "call")
                    if m["data"]["id"] == call_id and not m["data"]["active"])
    assert recording[0]["seq"] > ended_at

    # The agent's desk: its own seat, the call from the moment it rang, group summaries.
    mine = desk.close()
    assert mine[0]["type"] == "snapshot"
    assert [s["id"] for s in mine[0]["data"]["seats"]] == ["1001"]
    assert [m["seq"] for m in mine[1:]] == sorted({m["seq"] for m in mine[1:]})
    assert {m["data"]["id"] for m in deltas(mine, "seat")} == {"1001"}
    kinds = [m["data"]["kind"] for m in deltas(mine, "call_timeline")]
    assert kinds[0] == "offered" and is_subsequence(["answered", "completed", "ended"], kinds)
    assert {m["data"]["id"] for m in deltas(mine, "call")} == {call_id}
    assert [m["data"]["call_id"] for m in deltas(mine, "recording")] == [call_id]
    assert all("members" not in m["data"] for m in deltas(mine, "skill_group"))
    by_seq = {m["seq"]: m for m in board}
    for m in (deltas(mine, "seat") + deltas(mine, "call") + deltas(mine, "call_timeline")
              + deltas(mine, "recording")):
        assert by_seq[m["seq"]] == m  # the same delta, under the same number

    # Another agent's desk hears of the queue, not of the call or the seat.
    theirs = deltas(other.close())
    assert theirs and {m["type"] for m in theirs} == {"skill_group"}

    # The desk reconnects with the last number it saw and misses nothing.
    last = mine[-1]["seq"]
    service.get("/v1/seats/1001")  # the service is still serving
    asterisk.cli("queue pause member PJSIP/1001 queue sales reason lunch")
    until(lambda: service.get("/v1/seats/1001")["state"] == "paused", 10, "seat paused")
    again = Listener(f"{url}?token={agent_token}&since={last}")
    until(lambda: len(again.seen()) >= 2, 10, "the resumed deltas")
    resumed = again.close()
    assert resumed[0]["type"] == "resumed" and resumed[0]["seq"] == last
    paused = [m for m in deltas(resumed, "seat") if m["data"]["state"] == "paused"]
    assert paused and paused[0]["data"]["pause_reason"] == "lunch"
    assert all(m["seq"] > last for m in deltas(resumed))

    # Handshakes are logged with their query string: the tokens in it are masked.
    log = service.log_path.read_text(errors="replace")
    assert "/v1/events?token=***" in log
    assert agent_token not in log and other_token not in log
