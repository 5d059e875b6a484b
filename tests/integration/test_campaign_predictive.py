"""A predictive campaign that ran yesterday, run live on the bench: it over-dials.

Bench only (``python -m bench.campaign_live --predictive-history``): skipped unless
``CTI_CAMPAIGN_PREDICTIVE_LEADS`` is set, because it runs for many minutes and CI is
near its budget. The bench of test_campaign_live.py, here with ten SIPp agents (short talk)
and one SIPp UAS of called customers, but before the campaign starts its previous session
is written into PostgreSQL (tests/support/campaign_history.py: 1,200 live answers, 2%
abandoned, 14-22 h ago), so the rolling 24 h abandon budget lets the pacer over-dial
once it has learned (100 dials, 30 handled calls). The leads are shuffled across the
customer classes (answer, busy, failure, ring out) like the simulator's customers.

Every rule still holds and is checked from the UAS's own logs: nothing on the DNC list
or outside its window reaches the trunk, no number twice, no seeded lead again,
ring-outs ring 15 s. The figures (abandon rate, occupancy, the pacer's rules tick by
tick, the information message heard) go to ``CTI_CAMPAIGN_REPORT``.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
import wave
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from statistics import fmean, pstdev
from typing import Any

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.campaign import (
    attempt_rows,
    bench_fixtures,
    dwell_times,
    free_seats_at,
    import_leads,
    occupancy,
    seat_log,
    shanghai_window,
)
from tests.support.campaign_history import previous_session, write_session
from tests.support.service import CtiService
from tests.support.sipp import INVITE_LOG, SippBench, called_class, parse_uas_log

LEADS = int(os.environ.get("CTI_CAMPAIGN_PREDICTIVE_LEADS", "0"))
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(LEADS <= 0, reason="bench only: python -m bench.campaign_live "
                       "--predictive-history (sets CTI_CAMPAIGN_PREDICTIVE_LEADS)"),
]

AGENTS = [str(n) for n in range(2001, 2011)]
TALK_SECONDS = float(os.environ.get("CTI_CAMPAIGN_TALK_SECONDS", "3"))
WRAPUP_SECONDS = 2
RING_SECONDS = 15
CONNECT_SECONDS = 2
ANSWER_AFTER = 1.0
HISTORY_LIVE = int(os.environ.get("CTI_CAMPAIGN_HISTORY_LIVE", "1200"))
HISTORY_ABANDON_RATE = float(os.environ.get("CTI_CAMPAIGN_HISTORY_ABANDON_RATE", "0.02"))
# Shares of the leads by the called customers' last digit: 40% answer (0-2), 10% busy
# (3), 10% failure (4), 40% ring out (5-6).
SHARES = {"0": 0.1334, "1": 0.1333, "2": 0.1333, "3": 0.10, "4": 0.10, "5": 0.20, "6": 0.20}
DNC = ["+8613800138900", "+8613800138901", "+8613800138905"]
LONDON = [f"+4420794600{n:02d}" for n in range(10)]
REPORT = Path(os.environ["CTI_CAMPAIGN_REPORT"]) if os.environ.get("CTI_CAMPAIGN_REPORT") else None
TIMEOUT = float(os.environ.get("CTI_CAMPAIGN_PREDICTIVE_TIMEOUT", "2400"))


bench_asterisk, bench, service = bench_fixtures(
    AGENTS, wrapup_seconds=WRAPUP_SECONDS,
    env={"CTI_DIALER__CUSTOMER_RING_SECONDS": str(RING_SECONDS),
         "CTI_DIALER__PREDICTIVE_RING_SECONDS": str(RING_SECONDS),
         "CTI_DIALER__CONNECT_SECONDS": str(CONNECT_SECONDS)})


def lead_numbers(total: int) -> list[str]:
    """``total`` distinct numbers (+86 1380013 NNN D, Beijing: Asia/Shanghai; some other
    prefixes, +86 1390000 for one, map to Asia/Urumqi, two hours behind the window) in
    the bench's customer mix, shuffled so the classes interleave as the simulator's
    customers do (the runner dials in order). NNN stays under 800: the DNC numbers are
    1380013 89x."""
    numbers: list[str] = []
    for digit, share in SHARES.items():
        count = round(total * share)
        assert count <= 800, "too many leads for the numbering"
        numbers += [f"+861380013{n:03d}{digit}" for n in range(count)]
    random.Random(0).shuffle(numbers)
    return numbers


def message_seconds(asterisk: AsteriskInstance, sound: str = "tt-allbusy") -> float:
    """Length of the information message abandoned calls hear, from Asterisk's sounds."""
    root = asterisk.installation.host_path(PurePosixPath("/usr/share/asterisk/sounds"))
    for path in sorted(root.rglob(f"{sound}.wav")):
        with wave.open(str(path)) as w:
            return float(w.getnframes()) / float(w.getframerate())
    return 0.0


def sample(live: dict[str, Any], t: float) -> dict[str, Any]:
    keep = ("ticks", "placed", "over_dialed", "over_dial_ticks", "ringing", "waiting",
            "agents_free", "agents_talking", "agents_wrapping", "answered", "connected",
            "abandoned", "abandon_rate_24h", "rules")
    return {"t": round(t, 2), **{k: live[k] for k in keep},
            "rule": live["last_decision"].split(":", 1)[0]}


def call_timelines(pg: PostgresCluster) -> dict[str, dict[str, float]]:
    """Per dialed call: first time of each timeline kind (the customer's answer is the
    first "answered"; an agent's pick-up the "answered" with a skill group)."""
    out = pg.psql("SELECT call_id, kind, skill_group IS NOT NULL, extract(epoch from at) "
                  "FROM call_events WHERE call_id LIKE 'node1:cti-dial-%' ORDER BY at, id",
                  database="cti")
    calls: dict[str, dict[str, float]] = {}
    for line in out.splitlines():
        if not line:
            continue
        call_id, kind, grouped, at = line.split("|")
        if kind == "answered" and grouped == "t":
            kind = "connected"
        calls.setdefault(call_id, {}).setdefault(kind, float(at))
    return calls


def test_a_predictive_campaign_with_yesterdays_history_over_dials_within_every_rule(
    bench_asterisk: AsteriskInstance, bench: SippBench, service: CtiService,
    pg_cluster: PostgresCluster, pg_url: str,
) -> None:
    assert bench.trunk_port is not None
    customers = bench.called_customers(port=bench.trunk_port, answer_after=ANSWER_AFTER,
                                       max_call=60)
    for seat in AGENTS:
        bench.agent(seat, mode="answer", answer_after=0.1, hangup_after=TALK_SECONDS)
    for number in DNC:
        r = service.http.post("/v1/dnc", json={"phone": number, "reason": "asked"})
        assert r.status_code in (200, 201), r.text

    now = datetime.now(UTC)
    created = service.http.post("/v1/campaigns", json={
        "name": "predictive-run", "mode": "predictive", "caller_id": "+862161234567",
        "skill_group": "sales", "windows": [shanghai_window(now)],
        "default_timezone": "Asia/Shanghai", "max_attempts": 3, "cap_per_day": 1,
        "cap_per_week": 3, "retry_delays": {"busy": 60, "no_answer": 60, "failed": 60},
    })
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    numbers = lead_numbers(LEADS)
    body = "phone,name\n" + "".join(
        f"{p},Lead {i}\n" for i, p in enumerate(numbers + DNC + LONDON))
    report = import_leads(service, cid, body)
    assert report["imported"] == len(numbers) + len(DNC) + len(LONDON), report

    history = previous_session(now, live=HISTORY_LIVE, abandon_rate=HISTORY_ABANDON_RATE,
                               seats=tuple(AGENTS))
    seeded_up_to = asyncio.run(write_session(pg_url, cid, history, "Asia/Shanghai"))
    seeded = {d.phone for d in history.dials}

    assert service.http.post(f"/v1/campaigns/{cid}/start").status_code == 200
    for seat in AGENTS:
        bench_asterisk.cli(f"queue add member PJSIP/{seat} to sales")
    started = time.time()
    samples: list[dict[str, Any]] = []
    rows: list[tuple[str, str, str, str]] = []
    next_check = 0.0
    while True:  # one sample of the runner's status a second; the end checked less often
        now_s = time.time()
        assert now_s - started < TIMEOUT, f"campaign not done after {TIMEOUT}s"
        status = service.http.get(f"/v1/campaigns/{cid}/live")
        if status.status_code == 200:  # 404 until the dialer has started its runner
            samples.append(sample(status.json(), now_s - started))
        if now_s >= next_check:
            next_check = now_s + 3.0
            rows = attempt_rows(pg_cluster, seeded_up_to)
            if {r[0] for r in rows} >= set(numbers) and all(r[1] != "-" for r in rows):
                break
        time.sleep(max(0.0, 1.0 - (time.time() - now_s)))
    ended = time.time()
    final = service.get(f"/v1/campaigns/{cid}/live")
    assert service.http.post(f"/v1/campaigns/{cid}/stop").status_code == 200
    customers.stop()

    log = customers.workdir / INVITE_LOG
    invites = parse_uas_log(log, "INVITE")
    reached = Counter(row.number for row in invites)
    # Nothing on the DNC list, outside its window, over its cap, or from yesterday's
    # (finished) session reached the trunk.
    assert not set(reached) & set(DNC), "a DNC number was dialed"
    assert not set(reached) & set(LONDON), "a lead outside its calling window was dialed"
    assert not set(reached) & seeded, "a lead of the previous session was dialed again"
    assert max(reached.values()) == 1, "a number was dialed over its daily cap"
    assert set(reached) == set(numbers)
    assert len(rows) == len(numbers)
    outcomes = {phone: outcome for phone, outcome, _, _ in rows}
    expected = {"answer": {"answered", "abandoned"}, "busy": {"busy"}, "failure": {"failed"},
                "ring": {"no_answer"}}
    wrong = {p: o for p, o in outcomes.items() if o not in expected[called_class(p)]}
    assert not wrong, wrong
    for phone, outcome, start, end in rows:
        if outcome == "no_answer":
            assert float(end) - float(start) >= RING_SECONDS - 0.5, (phone, start, end)

    # What the customers heard: from the UAS's answer to Asterisk's BYE.
    answered_at = {r.number: r.time for r in parse_uas_log(log, "ANSWER")}
    bye_at = {r.number: r.time for r in parse_uas_log(log, "BYE")}
    message = message_seconds(bench_asterisk)
    abandoned_phones = [p for p, o in outcomes.items() if o == "abandoned"]
    on_line = {p: bye_at[p] - answered_at[p] for p in abandoned_phones
               if p in bye_at and p in answered_at}
    heard = sum(1 for d in on_line.values() if d >= CONNECT_SECONDS + message - 0.5)

    # Where the time went between the customer's answer and an agent, per live call.
    phone_of = dict(line.split("|") for line in pg_cluster.psql(
        f"SELECT call_id, phone FROM dial_attempts WHERE id > {seeded_up_to}",
        database="cti").splitlines() if line)
    timelines = call_timelines(pg_cluster)
    seats_log = seat_log(pg_cluster)
    live_calls = []
    for call_id, phone in phone_of.items():
        if outcomes.get(phone) not in ("answered", "abandoned") or phone not in answered_at:
            continue
        kinds = timelines.get(call_id, {})
        queued = kinds.get("queued")
        live_calls.append({
            "phone": phone, "outcome": outcomes[phone], "answer": answered_at[phone],
            "queued": queued, "offered": kinds.get("offered"),
            "connected": kinds.get("connected"), "bye": bye_at.get(phone),
            "free_at_queued": free_seats_at(seats_log, queued) if queued else None,
        })

    live_answers = sum(1 for o in outcomes.values() if o in ("answered", "abandoned"))
    last_invite = max(r.time for r in invites)
    # How long agents really spent in each state (the simulator is given the same), and
    # how late each Originate reached the customer after its tick began.
    dwell = {state: {"n": len(v), "mean": fmean(v), "sd": pstdev(v)}
             for state, v in dwell_times(seats_log, started, ended).items()}
    invite_at = {r.number: r.time for r in invites}
    lags = sorted(invite_at[phone] - float(start) for phone, _, start, _ in rows)
    figures = {
        "leads": len(numbers), "agents": len(AGENTS), "seconds": round(ended - started, 1),
        "dialing_seconds": round(last_invite - started, 1),
        "live_answers": live_answers, "abandoned": len(abandoned_phones),
        "abandon_rate": len(abandoned_phones) / live_answers if live_answers else 0.0,
        "abandon_rate_24h": final["abandon_rate_24h"],
        "occupancy": occupancy(pg_cluster, AGENTS, started, ended),
        "occupancy_dialing": occupancy(pg_cluster, AGENTS, started, last_invite),
        "talk_seconds": TALK_SECONDS, "wrapup_seconds": WRAPUP_SECONDS,
        "ring_seconds": RING_SECONDS, "answer_after": ANSWER_AFTER,
        "connect_seconds": CONNECT_SECONDS, "mode": "predictive",
        "message_seconds": message, "abandons_heard_message": heard,
        "abandons_on_line_seconds": sorted(round(v, 2) for v in on_line.values()),
        "history": {"live": history.live, "abandoned": history.abandoned,
                    "dials": len(history.dials),
                    "began_ago_seconds": started - history.first.timestamp(),
                    "ended_ago_seconds": started - history.last.timestamp()},
        "pacer": {k: final[k] for k in ("ticks", "rules", "placed", "over_dialed",
                                        "over_dial_ticks", "answered", "connected",
                                        "abandoned", "tick_work_seconds")},
        "seat_states": dwell,
        "invite_lag_seconds": {"mean": fmean(lags), "p50": lags[len(lags) // 2],
                               "p90": lags[int(len(lags) * 0.9)], "max": lags[-1]},
        "samples": samples, "live_calls": live_calls,
    }
    print("live predictive campaign run:", json.dumps({k: v for k, v in figures.items()
                                                       if k not in ("samples", "live_calls")}))
    if REPORT is not None:
        REPORT.write_text(json.dumps(figures, indent=1))
    # Every abandoned customer heard the information message.
    assert heard == len(abandoned_phones), figures["abandons_on_line_seconds"]
