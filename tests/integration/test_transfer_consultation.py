"""An attended transfer whose consultation Asterisk ends by itself, end to end: real
Asterisk 22 (Atxfer through features.conf), SIPp seats and customer, PostgreSQL, the
service as its own process, driven over REST.

The consulted seat answers busy: Asterisk puts the agent back with the caller. The
service must forget the consultation (a new one can start, "complete" is refused) and
never hang up the agent's channel, which would cut the caller off.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.test_inbound import call, device_in_use, join, live_call_of, login
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration


@pytest.fixture
def service(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path
) -> Iterator[CtiService]:
    with serving(asterisk, pg_cluster, pg_url, tmp_path,
                 truncate=("calls", "call_events", "seat_state_log", "seats", "skill_groups",
                           "ivr_menus")) as svc:
        until(lambda: len(svc.get("/v1/seats")) >= 4, 15, "seats registered from Asterisk")
        yield svc


def test_a_rejected_consultation_leaves_the_caller_with_the_agent(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    join(service, "sales", ("1001", 0))
    sipp.agent("1001", mode="answer")
    sipp.agent("1002", mode="busy")
    login(service, "1001", "sales")
    customer = sipp.customer("200", hold=16.0, caller_number="861000000960")
    call_id = until(lambda: live_call_of(service, "1001"), 15, "seat 1001 on the call")

    r = call(service, "POST", f"/v1/calls/{call_id}/transfer", {"mode": "attended", "seat": "1002"})
    assert r.status_code == 202, r.text
    # Asterisk dials 1002 after the transfer digit timeout (3 s): nothing to complete yet
    early = call(service, "POST", f"/v1/calls/{call_id}/transfer/complete")
    assert early.status_code == 409 and "no channel yet" in early.text, early.text

    # 1002 is busy: the consultation ends, the agent is back with the caller. Wait for
    # Asterisk to have dialled and dropped it before completing (a complete while the
    # target rings is a real transfer, to a target that then refuses)
    def dialled() -> bool:
        timeline = service.get(f"/v1/calls/{call_id}")["timeline"]
        return any(e["kind"] == "offered" and e["seat_id"] == "1002" for e in timeline)

    until(dialled, 15, "the consultation dialled")
    until(lambda: "Local/1002@cti-consult" not in asterisk.cli("core show channels concise"),
          10, "the consultation's channels gone")

    def forgotten() -> bool:
        r = call(service, "POST", f"/v1/calls/{call_id}/transfer/complete")
        assert r.status_code == 409, r.text  # never a Hangup of the agent's channel
        return "no attended transfer in progress" in r.text

    until(forgotten, 15, "the consultation forgotten")
    assert device_in_use(asterisk, "1001")  # still with the caller

    again = call(service, "POST", f"/v1/calls/{call_id}/transfer",
                 {"mode": "attended", "seat": "1003"})
    assert again.status_code == 202, again.text
    assert device_in_use(asterisk, "1001")
    ok = call(service, "POST", f"/v1/calls/{call_id}/hangup")  # done: no need to wait
    assert ok.status_code == 202, ok.text
    customer.wait(timeout=30)


def test_a_blind_transfer_the_seat_does_not_take_returns_the_caller_to_the_queue(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    # 1002 answers busy: [cti-transfer] sends the caller back to sales, where 1001 (free
    # again after its wrap-up) takes them. Before, the caller was hung up.
    join(service, "sales", ("1001", 0))
    first = sipp.agent("1001", mode="answer")
    sipp.agent("1002", mode="busy")
    login(service, "1001", "sales")
    customer = sipp.customer("200", hold=12.0, caller_number="861000000961")
    call_id = until(lambda: live_call_of(service, "1001"), 15, "seat 1001 on the call")

    r = call(service, "POST", f"/v1/calls/{call_id}/transfer", {"mode": "blind", "seat": "1002"})
    assert r.status_code == 202, r.text
    until(lambda: not device_in_use(asterisk, "1001"), 10, "seat 1001 off the call")
    back = until(lambda: live_call_of(service, "1001") == call_id, 20,
                 "the caller back in sales and with 1001 again")
    assert back
    assert customer.wait(timeout=40).ok  # the caller stayed their whole 12 s
    kinds = [e["kind"] for e in service.get(f"/v1/calls/{call_id}")["timeline"]]
    assert kinds.count("queued") == 2 and kinds.count("answered") >= 2, kinds
    first.stop()
