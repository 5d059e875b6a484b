"""A campaign whose service goes away while its calls are up, on the real bench.

A deploy or a crash stops the service while customers are ringing, queued or talking to
agents; Asterisk carries on without it. The next process must settle those calls: the
ones still up are followed to their end, the ones that ended meanwhile get the outcome
Asterisk's channel event log gives (an abandon counted and kept from a repeat call, an
answered call recorded as answered). Before, their attempts kept no outcome for ever.
The truth is what the customers' SIPp saw, not the service's word.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.bench import drop_ami
from tests.support.campaign import (
    AttemptRow,
    abandon_report,
    attempt_rows,
    bench_fixtures,
    import_leads,
    shanghai_window,
)
from tests.support.service import CtiService, until
from tests.support.sipp import (
    INVITE_LOG,
    SippBench,
    SippProcess,
    called_class,
    parse_invite_log,
)

pytestmark = pytest.mark.integration

AGENTS = ["2101", "2102", "2103", "2104"]
RING_SECONDS = 15
WRAP_UP = 8  # longer than the outage in the test of calls up across a crash

bench_asterisk, bench, service = bench_fixtures(
    AGENTS, wrapup_seconds=1,
    env={"CTI_DIALER__CUSTOMER_RING_SECONDS": str(RING_SECONDS),
         "CTI_DIALER__PREDICTIVE_RING_SECONDS": str(RING_SECONDS)})


def _campaign(svc: CtiService, name: str, numbers: list[str]) -> int:
    created = svc.http.post("/v1/campaigns", json={
        "name": name, "mode": "progressive", "caller_id": "+862161234567",
        "skill_group": "sales", "windows": [shanghai_window(datetime.now(UTC))],
        "default_timezone": "Asia/Shanghai",
    })
    assert created.status_code == 201, created.text
    cid = int(created.json()["id"])
    import_leads(svc, cid, "phone\n" + "\n".join(numbers) + "\n")
    return cid


def _running(svc: CtiService, asterisk: AsteriskInstance, name: str, numbers: list[str]) -> int:
    """A progressive campaign of ``numbers``, all the agents in its group, started."""
    cid = _campaign(svc, name, numbers)
    for seat in AGENTS:
        asterisk.cli(f"queue add member PJSIP/{seat} to sales")
    assert svc.http.post(f"/v1/campaigns/{cid}/start").status_code == 200
    return cid


def _lead(pg: PostgresCluster, phone: str) -> str:
    return pg.psql(f"SELECT attempts, coalesce(last_outcome, '-') FROM leads "
                   f"WHERE phone = '{phone}'", database="cti").strip()


def _all_settled(pg: PostgresCluster, numbers: list[str], timeout: float) -> list[AttemptRow]:
    def settled() -> list[AttemptRow] | None:
        rows = attempt_rows(pg)
        dialed = {r[0] for r in rows}
        return rows if dialed >= set(numbers) and all(r[1] != "-" for r in rows) else None

    return until(settled, timeout, "every lead dialed and every attempt settled", every=1.0)


def _as_the_customers_saw(rows: list[AttemptRow], customers: SippProcess,
                          why: Callable[[], str]) -> None:
    """Each number dialed once, each attempt's outcome what its customer's SIPp saw
    (``why``: what to print when some were abandoned)."""
    reached = Counter(r.number for r in parse_invite_log(customers.workdir / INVITE_LOG))
    assert reached == Counter(r[0] for r in rows), "attempts and calls differ"
    assert max(reached.values()) == 1, "a number was dialed twice"
    expected = {"answer": "answered", "busy": "busy", "failure": "failed", "ring": "no_answer"}
    wrong = {phone: outcome for phone, outcome, _, _ in rows
             if outcome != expected[called_class(phone)]}
    if "abandoned" in wrong.values():
        print(why())
    assert not wrong, f"outcomes not as the customers saw them: {wrong}"


def test_an_abandon_during_a_crash_is_counted_from_asterisks_log(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """The service dies as the call is placed; the customer answers, no agent takes it in
    time, hears the message and hangs up, all while no service runs. The next process
    records the abandon: the lead's last outcome, the campaign's abandon count, and the
    72-hour rule that keeps the number from a second call."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=30)
    bench.agent(AGENTS[0], mode="answer", answer_after=3.0, hangup_after=2.0)  # too slow
    number = "+8613800138970"  # last digit 0: answers
    cid = _campaign(service, "crash-abandon", [number])
    bench_asterisk.cli(f"queue add member PJSIP/{AGENTS[0]} to sales")
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200
    until(lambda: attempt_rows(pg_cluster), 30, "the call placed", every=0.05)
    service.crash()
    # answer 0.5 s + 2 s for an agent + the message, then Asterisk hangs up
    until(lambda: bench_asterisk.cli("core show channels count").startswith("0 active"),
          30, "the call over", every=0.5)
    assert attempt_rows(pg_cluster)[0][1] == "-"  # nobody was there to hear its end

    service.start()
    def outcomes() -> list[str] | None:
        rows = attempt_rows(pg_cluster)
        return [r[1] for r in rows] if rows and rows[0][1] != "-" else None

    assert until(outcomes, 30, "the attempt settled", every=0.5) == ["abandoned"]
    assert _lead(pg_cluster, number) == "1|abandoned"
    live = until(lambda: (s := service.get(f"/v1/campaigns/{cid}/stats"))["abandoned"] and s,
                 10, "the abandon in the campaign's figures")
    assert live["abandoned"] == 1, live
    time.sleep(3)  # the campaign runs on: the 72-hour rule keeps the number from a redial
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
    assert [r.number for r in parse_invite_log(customers.workdir / INVITE_LOG)] == [number]


@pytest.fixture
def long_wrap_up(service: CtiService) -> Iterator[int]:
    """The group's wrap-up outlasting the outage (put back after: the database outlives
    the module, and the next modules' services apply it to their Asterisk)."""
    before = service.get("/v1/skill-groups/sales/settings")["wrapup_seconds"]
    r = service.http.patch("/v1/skill-groups/sales", json={"wrapup_seconds": WRAP_UP})
    assert r.status_code == 200, r.text
    try:
        yield WRAP_UP
    finally:
        service.http.patch("/v1/skill-groups/sales", json={"wrapup_seconds": before})


def test_calls_up_across_a_crash_end_with_the_outcomes_the_customers_saw(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster, long_wrap_up: int,
) -> None:
    """Killed while agents talk to customers and others ring; down long enough for some
    calls to end. Every attempt gets the outcome its customer saw, none is dialed twice,
    and the campaign goes on to its other leads, progressively: no abandon, although the
    agents whose calls ended in the outage are still in wrap-up when the new process
    starts (it learns so from Asterisk's LastCall; taken for free, they drew calls the
    queue would not give them, which were abandoned)."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=1.0, max_call=60)
    for seat in AGENTS:
        bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=4.0)
    # answer (x6), busy, failure, ring out (x3): distinct numbers, the last digit the class
    numbers = [f"+86138001381{n}{d}" for n in range(2) for d in "01234"] + \
        [f"+86138001382{n}5" for n in range(3)]
    cid = _running(service, bench_asterisk, "crash-mid-call", numbers)

    def talking() -> bool:
        seats = service.get("/v1/seats")
        return sum(1 for s in seats if s["state"] == "on_call") >= 2
    until(talking, 60, "agents talking to customers", every=0.2)
    open_at_crash = [r for r in attempt_rows(pg_cluster) if r[1] == "-"]
    service.crash()
    time.sleep(5)  # some talk ends (4 s), ring-outs go on
    service.start()

    rows = _all_settled(pg_cluster, numbers, 120)
    assert open_at_crash, "the crash came with no call in flight: nothing was tested"
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
    _as_the_customers_saw(rows, customers, lambda: "")



def test_ami_lost_mid_campaign_loses_no_outcome_and_abandons_nothing(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """The service's AMI connection is cut for 2 s, three times, while agents talk and
    customers ring. Each time the service reconnects and rebuilds its mirror from Asterisk's lists;
    the events of the gap are lost. The campaign goes on progressively: every attempt gets
    the outcome its customer saw (those whose end fell in a gap from the channel event
    log), no number is dialed twice, and nothing is abandoned: the rebuilt mirror shows
    no seat free that app_queue would not give a call."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=1.0, max_call=60)
    for seat in AGENTS:
        bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=3.0)
    # answer (x24), busy (x3), failure (x3), ring out (x2): the last digit is the class
    numbers = [f"+86138001383{n}{d}" for n in range(8) for d in "012"] + \
        [f"+86138001384{n}{d}" for n in range(3) for d in "34"] + \
        [f"+86138001385{n}5" for n in range(2)]
    cid = _running(service, bench_asterisk, "ami-lost", numbers)

    def just_placed() -> bool:
        return any(outcome == "-" and time.time() - float(start) < 0.3
                   for _, outcome, start, _ in attempt_rows(pg_cluster))

    cuts = 0
    for _ in range(3):
        until(just_placed, 60, "calls just placed", every=0.05)
        # A fault of 2 s, every reconnect cut again, as calls have just been placed: they
        # are answered (after 1 s) and connected unheard, and end (3 s of talk) heard.
        outage_ends = time.monotonic() + 2.0
        while time.monotonic() < outage_ends:
            cuts += drop_ami(bench_asterisk)
            time.sleep(0.02)
        service.wait_ready(30)
        time.sleep(3.0)  # dialing again, on the rebuilt mirror
    lost = service.log_path.read_text(errors="replace").count("mirror frozen until resync")
    assert cuts >= 3 and lost >= 3, f"{cuts} cuts, the service lost AMI {lost} times"

    rows = _all_settled(pg_cluster, numbers, 180)
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
    _as_the_customers_saw(rows, customers,
                          lambda: abandon_report(pg_cluster, bench_asterisk, service))


def test_a_paused_campaigns_call_left_by_a_crash_is_settled_too(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """Paused while its last call is up, then the service dies: the campaign has no
    running runner to settle the call, so the next process starts one that only follows
    it to its end, dialing nothing."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=60)
    bench.agent(AGENTS[2], mode="answer", answer_after=0.1, hangup_after=6.0)
    numbers = ["+8613800138960", "+8613800138961"]  # both answer
    cid = _campaign(service, "paused-crash", numbers)
    bench_asterisk.cli(f"queue add member PJSIP/{AGENTS[2]} to sales")
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200
    until(lambda: any(s["state"] == "on_call" for s in service.get("/v1/seats")), 30,
          "the agent talking to the first customer", every=0.1)
    assert service.http.post(f"/v1/campaigns/{cid}/pause").status_code == 200
    # applied before the answer: the runner dials no more, and drains its call
    assert service.get(f"/v1/campaigns/{cid}/live")["dialing"] is False
    service.crash()
    service.start()

    def outcomes() -> list[str] | None:
        rows = attempt_rows(pg_cluster)
        return [r[1] for r in rows] if rows and all(r[1] != "-" for r in rows) else None

    assert until(outcomes, 30, "the call settled", every=0.5) == ["answered"]
    assert service.get(f"/v1/campaigns/{cid}")["state"] == "paused"
    time.sleep(2)  # and nothing more is dialed for a paused campaign
    customers.stop()
    assert len(parse_invite_log(customers.workdir / INVITE_LOG)) == 1


def _clicked(svc: CtiService, bench: SippBench, asterisk: AsteriskInstance, seat: str,
             number: str, *, hangup_after: float) -> SippProcess:
    """The agent at ``seat`` (logged in, the phone answering and hanging up after
    ``hangup_after`` s) clicks to dial ``number``, a customer who answers; the customers'
    SIPp."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=30)
    bench.agent(seat, mode="answer", answer_after=0.2, hangup_after=hangup_after)
    asterisk.cli(f"queue add member PJSIP/{seat} to sales")
    until(lambda: svc.get(f"/v1/seats/{seat}")["state"] == "available", 10,
          "the seat logged in")
    placed = svc.http.post("/v1/calls/click-to-dial", json={"seat": seat, "number": number})
    assert placed.status_code == 201, placed.text
    return customers


def _first_outcome(pg: PostgresCluster) -> str | None:
    rows = attempt_rows(pg)
    return rows[0][1] if rows and rows[0][1] != "-" else None


def test_a_click_to_dial_call_that_ends_during_a_crash_gets_its_outcome(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """Click-to-dial follows its calls in memory too. The agent talks to the customer
    when the service dies, and hangs up before it is back: the next process finds the
    attempt open, no request of its own following it, and takes its outcome from the
    log (answered), as it would have from the DialEnd it missed."""
    customers = _clicked(service, bench, bench_asterisk, AGENTS[3], "+8613800138950",
                         hangup_after=3.0)
    until(lambda: service.get(f"/v1/seats/{AGENTS[3]}")["state"] == "on_call", 20,
          "the agent talking to the customer", every=0.1)
    service.crash()
    until(lambda: bench_asterisk.cli("core show channels count").startswith("0 active"),
          30, "the call over", every=0.5)
    service.start()

    # Looked for every 30 s, once 10 s old (a younger one may be on its way to a request)
    assert until(lambda: _first_outcome(pg_cluster), 60, "the attempt settled",
                 every=0.5) == "answered"
    customers.stop()


def test_a_click_to_dial_call_through_a_lost_ami_connection_gets_its_outcome(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """The service's AMI connection is cut for 3 s as the agent clicks: the agent's
    phone answers, the customer is dialed and answers, all unheard; the call ends (the
    agent hangs up) after the service is back. Taken at its word the service never saw
    the customer dialed and voided the attempt; the log says it was dialed and answered."""
    customers = _clicked(service, bench, bench_asterisk, AGENTS[2], "+8613800138960",
                         hangup_after=5.0)
    outage_ends = time.monotonic() + 3.0
    while time.monotonic() < outage_ends:
        drop_ami(bench_asterisk)
        time.sleep(0.02)
    service.wait_ready(30)
    assert "mirror frozen until resync" in service.log_path.read_text(errors="replace")

    assert until(lambda: _first_outcome(pg_cluster), 30, "the attempt closed",
                 every=0.5) == "answered"
    customers.stop()
    assert [r.number for r in parse_invite_log(customers.workdir / INVITE_LOG)] == [
        "+8613800138960"]
