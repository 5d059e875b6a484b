"""A campaign run to completion on the real bench.

The service (its own process) runs a campaign over REST against Asterisk 22: thirty SIPp
agents with short talk times in a skill group, and one SIPp UAS on the trunk's far end
playing the customers (the dialled number's last digit picks answer, busy, failure or
ring-out: tests/sipp/called_customers.xml). The leads include numbers on the DNC list
and numbers whose local time is outside the calling window. The test reads what reached
the trunk from the UAS's own INVITE log, so it does not take the service's word for it.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyreadstat
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.campaign import (
    abandon_report,
    attempt_rows,
    bench_fixtures,
    import_leads,
    occupancy,
    shanghai_window,
)
from tests.support.service import CtiService, until
from tests.support.sipp import (
    INVITE_LOG,
    SippBench,
    called_class,
    parse_invite_log,
    parse_uas_log,
)
from tests.support.wav import tone_wav

pytestmark = pytest.mark.integration

# The campaign dials progressively (its list is too short for an abandon budget), so a
# ring-out holds an agent's slot for its 15 s: with ten agents the 80 ring-outs took
# two minutes of the run, with thirty they go in three waves. bench/campaign_live runs
# it with ten (its recorded runs), through CTI_CAMPAIGN_AGENTS.
AGENTS = [str(n) for n in range(2001, 2001 + int(os.environ.get("CTI_CAMPAIGN_AGENTS", "30")))]
# bench/campaign_live reruns this test with longer talk (the live engine's latency is a
# fixed cost per call: its share of the agents' time falls as calls get longer).
TALK_SECONDS = float(os.environ.get("CTI_CAMPAIGN_TALK_SECONDS", "3"))
WRAPUP_SECONDS = 2
RING_SECONDS = 15  # the regulators' minimum
MESSAGE_SECONDS = 3.0  # the campaign's uploaded abandon message
# Lead mix by the called customers' classes (last digit): 40% answer, 10% busy,
# 10% failure, 40% ring out (5 of those after a post-dial delay).
MIX = {"0": 27, "1": 27, "2": 26, "3": 20, "4": 20, "5": 40, "6": 35, "9": 5}
# The called customers ending in 9 ring after this much post-dial delay (100 Trying, then
# the 180 later, as a mobile network reaching the handset).
POST_DIAL = 4.0
DNC = ["+8613800138900", "+8613800138901", "+8613800138905"]
LONDON = [f"+4420794600{n:02d}" for n in range(10)]  # valid UK numbers, Europe/London
REPORT = Path(os.environ.get("CTI_CAMPAIGN_REPORT", "")) if os.environ.get(
    "CTI_CAMPAIGN_REPORT") else None


bench_asterisk, bench, service = bench_fixtures(
    AGENTS, wrapup_seconds=WRAPUP_SECONDS,
    env={"CTI_DIALER__CUSTOMER_RING_SECONDS": str(RING_SECONDS),
         "CTI_DIALER__PREDICTIVE_RING_SECONDS": str(RING_SECONDS)})


def leads_csv() -> tuple[str, list[str]]:
    # distinct numbers: +86 138 0013 8 <3 digits>, the last digit fixed by MIX
    numbers: list[str] = []
    for digit, count in MIX.items():
        numbers += [f"+8613800138{n:02d}{digit}" for n in range(count)]
    rows = ["phone,name", *(f"{p},Lead {i}" for i, p in enumerate(numbers + DNC + LONDON))]
    return "\n".join(rows) + "\n", numbers


def test_a_campaign_runs_to_completion_within_every_rule(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=1.0, max_call=60,
                                       post_dial=POST_DIAL)
    for seat in AGENTS:
        bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=TALK_SECONDS)
    for number in DNC:
        r = service.http.post("/v1/dnc", json={"phone": number, "reason": "asked"})
        assert r.status_code in (200, 201), r.text

    now = datetime.now(UTC)
    created = service.http.post("/v1/campaigns", json={
        "name": "live-run", "mode": "predictive", "caller_id": "+862161234567",
        "skill_group": "sales", "windows": [shanghai_window(now)],
        "default_timezone": "Asia/Shanghai", "max_attempts": 3, "cap_per_day": 1,
        "cap_per_week": 3,
        "retry_delays": {"busy": 60, "no_answer": 60, "failed": 60},
    })
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    body, numbers = leads_csv()
    report = import_leads(service, cid, body)
    assert report["imported"] == len(numbers) + len(DNC) + len(LONDON), report

    # No agent logged in: the campaign places nothing.
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200
    # The start is applied before its answer: the runner is there at once.
    assert service.get(f"/v1/campaigns/{cid}/live")["dialing"] is True
    time.sleep(4)
    assert attempt_rows(pg_cluster) == []
    live = service.get(f"/v1/campaigns/{cid}/live")
    assert live["placed"] == 0 and "no agent" in live["last_decision"]
    assert live["learned"]["dials_seen"] == 0  # a new campaign: nothing saved to take back

    for seat in AGENTS:
        bench_asterisk.cli(f"queue add member PJSIP/{seat} to sales")
    started = time.time()

    def finished() -> list[tuple[str, str, str, str]] | None:
        rows = attempt_rows(pg_cluster)
        dialed = {r[0] for r in rows}
        in_flight = [r for r in rows if r[1] == "-"]
        return rows if dialed >= set(numbers) and not in_flight else None

    rows = until(finished, 600, "every lead dialed once and resolved", every=1.0)
    ended = time.time()
    # What the pacer learned from those dials, as a supervisor reads it (before the stop:
    # a runner whose last call has ended is gone).
    learned = until(lambda: (seen := service.get(f"/v1/campaigns/{cid}/live")["learned"])
                    ["dials_seen"] == len(numbers) and seen, 30, "the pacer's view of each dial")
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()

    invites = parse_invite_log(customers.workdir / INVITE_LOG)
    reached = Counter(row.number for row in invites)
    # Nothing on the DNC list, outside its window, or over its cap reached the trunk.
    assert not set(reached) & set(DNC), "a DNC number was dialed"
    assert not set(reached) & set(LONDON), "a lead outside its calling window was dialed"
    assert max(reached.values()) == 1, "a number was dialed over its daily cap"
    assert set(reached) == set(numbers)
    assert len(rows) == len(numbers)

    outcomes = {phone: outcome for phone, outcome, _, _ in rows}
    expected = {"answer": {"answered", "abandoned"}, "busy": {"busy"}, "failure": {"failed"},
                "ring": {"no_answer"}}
    wrong = {p: o for p, o in outcomes.items() if o not in expected[called_class(p)]}
    assert not wrong, wrong
    # Ring-outs rang at least the regulators' 15 s.
    for phone, outcome, start, end in rows:
        if outcome == "no_answer":
            assert float(end) - float(start) >= RING_SECONDS - 0.5, (phone, start, end)
    rang_full_time(customers.workdir / INVITE_LOG, numbers)

    live_answers = sum(1 for o in outcomes.values() if o in ("answered", "abandoned"))
    abandoned = sum(1 for o in outcomes.values() if o == "abandoned")
    rate = abandoned / live_answers
    occ = occupancy(pg_cluster, AGENTS, started, ended)
    figures = {"leads": len(numbers), "agents": len(AGENTS), "seconds": round(ended - started, 1),
               "live_answers": live_answers, "abandoned": abandoned, "abandon_rate": rate,
               "occupancy": occ, "talk_seconds": TALK_SECONDS, "wrapup_seconds": WRAPUP_SECONDS,
               "ring_seconds": RING_SECONDS, "mode": "predictive"}
    print("live campaign run:", json.dumps(figures))
    if REPORT is not None:
        REPORT.write_text(json.dumps(figures, indent=2))
    if abandoned:  # the campaign dials progressively here (no budget): say why each was
        print(abandon_report(pg_cluster, bench_asterisk, service))
    assert rate <= 0.03, figures
    # Older dials weigh a little less (half-life 1,500 dials): the plain share, nearly.
    assert abs(learned["live_answer_rate"] - live_answers / len(numbers)) < 0.02, learned
    assert learned["handled_seen"] >= 1 and learned["talk_seconds"] > 0, learned
    # Every live answer was recorded, under the campaign's retention policy.
    live_numbers = {p for p, o in outcomes.items() if o in ("answered", "abandoned")}

    def recorded() -> set[str] | None:
        page = service.get("/v1/recordings", campaign=f"campaign-{cid}", limit=200)
        found = {r["customer_number"] for r in page["items"]}
        return found if found >= live_numbers else None

    assert until(recorded, 60, "the campaign's recordings", every=1.0) == live_numbers
    calls = service.get("/v1/calls", status="ended", limit=500)["items"]
    outbound = [c for c in calls if c["direction"] == "outbound"]
    assert {c["customer_number"] for c in outbound} >= {
        p for p, o in outcomes.items() if o == "answered"}
    assert httpx.codes.is_success(service.http.get(f"/v1/campaigns/{cid}/stats").status_code)
    reports_agree(service, cid, rows, numbers, (started, ended), occ)


def rang_full_time(log: Path, numbers: list[str]) -> None:
    """Every customer who never answered heard their phone ring the full ring time before
    the dialer gave up, counted from the 180 (the customer's own log): with a network's
    post-dial delay too. Counted from the INVITE, as Asterisk's Originate timeout counts,
    the late ringers rang 11 s."""
    invites = {r.call_id: r for r in parse_uas_log(log, "INVITE")}
    ringing = {r.call_id: r for r in parse_uas_log(log, "RINGING")}
    cancels = parse_uas_log(log, "CANCEL")
    assert len(cancels) == sum(1 for n in numbers if called_class(n) == "ring"), cancels
    late = 0
    for cancel in cancels:
        rang, invited = ringing[cancel.call_id], invites[cancel.call_id]
        assert cancel.time - rang.time >= RING_SECONDS - 0.2, (invited, rang, cancel)
        assert cancel.time - rang.time <= RING_SECONDS + 2.5, (invited, rang, cancel)
        if cancel.number.endswith("9"):
            late += 1
            assert rang.time - invited.time >= POST_DIAL - 0.1, (invited, rang)
    assert late == MIX["9"]


def reports_agree(service: CtiService, cid: int, rows: list[tuple[str, str, str, str]],
                  numbers: list[str], run: tuple[float, float], occ: float) -> None:
    """The outbound-call report (in SPSS, read back by ReadStat) counts the run's dials
    as the customers' own SIPp classes and the attempts have them, and the seat workload
    report's time adds up to the occupancy the test reads from the seat log."""
    r = service.http.get("/v1/reports/campaigns", params={
        "format": "sav", "from": datetime.fromtimestamp(run[0] - 60, UTC).isoformat(),
        "to": datetime.now(UTC).isoformat()})
    assert r.status_code == 200, r.text
    with tempfile.NamedTemporaryFile(suffix=".sav") as f:
        f.write(r.content)
        f.flush()
        frame, _ = pyreadstat.read_sav(f.name)
    row = frame[frame["campaign_id"] == cid].iloc[0]
    outcomes = Counter(outcome for _, outcome, _, _ in rows)
    assert row["dials"] == len(numbers) and row["in_progress"] == 0
    for outcome in ("answered", "abandoned", "busy", "no_answer", "failed", "machine"):
        assert row[outcome] == outcomes[outcome], (outcome, row[outcome], outcomes)
    answering = sum(1 for n in numbers if called_class(n) == "answer")
    assert row["live_answers"] == answering and row["numbers_dialed"] == len(numbers)

    window = {"from": datetime.fromtimestamp(run[0], UTC).isoformat(),
              "to": datetime.fromtimestamp(run[1], UTC).isoformat()}
    seats = {s["seat_id"]: s for s in service.get("/v1/reports/agents", **window)["rows"]}
    mine = [seats[a] for a in AGENTS if a in seats]
    busy = sum(s[k] for s in mine for k in ("ringing_s", "on_call_s", "wrap_up_s", "busy_s"))
    logged = sum(s["logged_in_s"] - s["paused_s"] for s in mine)
    assert abs(busy / logged - occ) < 0.01, (busy / logged, occ)


@dataclass
class Played:
    """A Playback in ``[cti-dialer]`` as Asterisk's log tells it."""

    channel: str
    started: float
    opened: bool = False  # Asterisk found the file and began streaming it
    seconds: float | None = None  # until the dialplan's next step (Hangup)


# messages.log: "[2026-11-26 10:00:00.123] VERBOSE[715][C-00000001] pbx.c: Executing ..."
_VERBOSE = re.compile(r"^\[(?P<at>[0-9-]+ [0-9:.]+)\] VERBOSE\[[^]]*\](?:\[[^]]*\])? (?P<text>.*)$")
_PLAYBACK = re.compile(
    r'Executing \[s@cti-dialer:\d+\] Playback\("(?P<chan>[^"]+)", "(?P<file>[^"]*)"\)')


def played(asterisk: AsteriskInstance, sound: str) -> Played | None:
    """The call whose Playback was given ``sound``, once its dialplan went on past it."""
    found: Played | None = None
    for line in asterisk.messages_log.read_text(errors="replace").splitlines():
        m = _VERBOSE.match(line)
        if m is None:
            continue
        at = datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S.%f").timestamp()
        text = m["text"]
        if found is None:
            p = _PLAYBACK.search(text)
            if p is not None and p["file"] == sound:
                found = Played(p["chan"], at)
        elif f"<{found.channel}> Playing '{sound}." in text:
            found.opened = True
        elif f'Hangup("{found.channel}"' in text:
            found.seconds = at - found.started
            return found
    return None


def test_an_answer_no_agent_takes_in_time_is_abandoned_and_hears_the_message(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    """The only agent answers after 3 s: past the 2 s deadline, so every live answer is
    an abandon; the customer hears the campaign's own information message (a recording
    uploaded over REST), to its end, then Asterisk hangs up."""
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=30)
    bench.agent(AGENTS[0], mode="answer", answer_after=3.0, hangup_after=2.0)
    created = service.http.post("/v1/campaigns", json={
        "name": "slow-agent", "mode": "progressive", "caller_id": "+862161234567",
        "skill_group": "sales", "windows": [shanghai_window(datetime.now(UTC))],
        "default_timezone": "Asia/Shanghai",
    })
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    # Recorded at 16 kHz: Asterisk plays it from .wav16, resampled for the 8 kHz call.
    uploaded = service.http.put(f"/v1/campaigns/{cid}/abandon-message",
                                content=tone_wav(MESSAGE_SECONDS, rate=16000),
                                headers={"Content-Type": "audio/wav"})
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["abandon_message"] == f"cti/campaigns/abandon-{cid}"
    sound = str(bench_asterisk.path("sounds", "campaigns", f"abandon-{cid}"))
    number = "+8613800138990"  # last digit 0: answers
    import_leads(service, cid, f"phone\n{number}\n")
    bench_asterisk.cli(f"queue add member PJSIP/{AGENTS[0]} to sales")
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200

    rows = until(lambda: (r := attempt_rows(pg_cluster)) and r[0][1] != "-" and r, 60,
                 "the attempt's outcome", every=0.5)
    assert [r[1] for r in rows] == ["abandoned"]
    phone, _, start, end = rows[0]
    # answer 0.5 s + 2 s for an agent + the whole message
    assert float(end) - float(start) >= 0.5 + 2 + MESSAGE_SECONDS, rows
    # Asterisk played exactly the uploaded file, to its end (its log says so).
    playback = until(lambda: played(bench_asterisk, sound), 10, f"the Playback of {sound}")
    assert playback.opened, playback
    assert playback.seconds is not None and playback.seconds >= MESSAGE_SECONDS - 0.1, playback
    live = service.get(f"/v1/campaigns/{cid}/live")
    assert live["abandoned"] == 1 and live["connected"] == 0
    # The Prometheus page raises the same figures for an alert on rate over target.
    label = str(cid)
    assert service.metric("cti_campaign_calls_abandoned_total", campaign=label) == 1
    # one live answer, abandoned: 100%, once the runner's next tick has counted it
    until(lambda: service.metric("cti_campaign_abandon_rate", campaign=label,
                                 window="24h") == 1.0, 10, "the abandon rate on /metrics")
    assert service.metric("cti_campaign_abandon_target", campaign=label) == \
        live["abandon_target"]
    # The service's log says why: how long the customer waited and the group as its
    # mirror had it then; Asterisk's says what app_queue did with the call.
    report = abandon_report(pg_cluster, bench_asterisk, service)
    assert re.search(r"abandoned: no agent took it in 2\.\d s; group sales now: free: ", report), \
        report
    assert re.search(r'Queue\("PJSIP/trunk-[0-9a-f]+", "sales,,,,2"\)', report), report
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
    # The number got one call only: the 72-hour rule keeps it from being called again.
    assert [r.number for r in parse_invite_log(customers.workdir / INVITE_LOG)] == [number]
    lead = pg_cluster.psql(f"SELECT attempts, last_outcome FROM leads WHERE phone = '{phone}'",
                           database="cti").strip()
    assert lead == "1|abandoned"


def test_a_callback_goes_back_to_the_agent_who_booked_it(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=30)
    for seat in AGENTS[:2]:
        bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=2.0)
    created = service.http.post("/v1/campaigns", json={
        "name": "callbacks", "mode": "progressive", "caller_id": "+862161234567",
        "skill_group": "sales", "windows": [shanghai_window(datetime.now(UTC))],
        "default_timezone": "Asia/Shanghai",  # the default cap: one call a day
    })
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    number = "+8613800138980"
    import_leads(service, cid, f"phone\n{number}\n")
    for seat in AGENTS[:2]:
        bench_asterisk.cli(f"queue add member PJSIP/{seat} to sales")
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200

    def first_call() -> list[str] | None:
        out = pg_cluster.psql("SELECT call_id, seat_id, outcome FROM dial_attempts "
                              "WHERE outcome IS NOT NULL AND seat_id IS NOT NULL",
                              database="cti")
        return out.split("|") if out.strip() else None

    call_id, seat, outcome = until(first_call, 60, "the first call answered", every=0.5)
    assert outcome.strip() == "answered"
    agent = service.cli("token", "create", "--user", f"agent-{seat}", "--role", "agent",
                        "--seat", seat).strip().splitlines()[-1]
    when = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
    booked = service.http.post(f"/v1/calls/{call_id}/disposition",
                               json={"code": "callback", "callback_at": when},
                               headers={"Authorization": f"Bearer {agent}"})
    assert booked.status_code == 201, booked.text

    def second_call() -> list[str] | None:
        out = pg_cluster.psql("SELECT call_id, seat_id, agent_reserved, outcome FROM "
                              "dial_attempts ORDER BY id OFFSET 1", database="cti").strip()
        return out.split("|") if out and not out.endswith("|") else None

    second = until(second_call, 60, "the callback placed and ended", every=0.5)
    assert second[0].startswith("node1:cti-c2d-"), second  # agent first: click-to-dial
    assert second[1] == seat and second[2] == "t" and second[3] == "answered", second
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
    assert [r.number for r in parse_invite_log(customers.workdir / INVITE_LOG)] == [number] * 2


def test_a_campaign_of_seats_gets_its_own_group_and_reaches_them(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster,
) -> None:
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=0.5, max_call=30)
    seat = AGENTS[3]
    bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=2.0)
    bench_asterisk.cli(f"queue add member PJSIP/{seat} to support")  # logged in elsewhere
    created = service.http.post("/v1/campaigns", json={
        "name": "seat-list", "mode": "progressive", "caller_id": "+862161234567",
        "seats": [seat], "windows": [shanghai_window(datetime.now(UTC))],
        "default_timezone": "Asia/Shanghai",
    })
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    import_leads(service, cid, "phone\n+8613800138970\n")
    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200

    def members() -> set[str] | None:
        # the group is created first, its members set right after: wait for both
        g = service.http.get(f"/v1/skill-groups/campaign-{cid}")
        found = {m["seat_id"] for m in g.json()["members"]} if g.status_code == 200 else set()
        return found if seat in found else None

    assert seat in until(members, 20, "the campaign's group with its seat")
    rows = until(lambda: (r := attempt_rows(pg_cluster)) and r[0][1] != "-" and r, 60,
                 "the call's outcome", every=0.5)
    assert [r[1] for r in rows] == ["answered"]
    seat_of = pg_cluster.psql("SELECT seat_id FROM dial_attempts", database="cti").strip()
    assert seat_of == seat
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()
