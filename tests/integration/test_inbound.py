"""Inbound features end to end: real Asterisk 22, PostgreSQL and SIPp phones, the service
as its own process, driven and observed over REST (and Asterisk's own CLI and AMI).

One path per test: IVR digit routing, rollover, auto-pause after no-answers, a paused
seat never rung, a group change while a caller waits, agent control, the group's hold
music, calls routed while the service is down, and refused bad input.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
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
        # the service seeds sales/support and learns the seats from Asterisk
        until(lambda: len(seats_known(svc)) >= 4, 15, "seats registered from Asterisk")
        yield svc


def seats_known(svc: CtiService) -> list[str]:
    return [s["id"] for s in svc.get("/v1/seats")]


def call(svc: CtiService, method: str, path: str, body: Any = None,
         token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return svc.http.request(method, path, json=body, headers=headers)


def ok(r: httpx.Response) -> Any:
    assert r.status_code < 300, (r.status_code, r.text)
    return r.json() if r.content else None


def seat(svc: CtiService, seat_id: str) -> dict[str, Any]:
    return dict(svc.get(f"/v1/seats/{seat_id}"))


def join(svc: CtiService, group: str, *members: tuple[str, int]) -> None:
    for seat_id, level in members:
        ok(call(svc, "PUT", f"/v1/skill-groups/{group}/members/{seat_id}", {"level": level}))


def login(svc: CtiService, seat_id: str, *groups: str) -> None:
    ok(call(svc, "POST", f"/v1/seats/{seat_id}/login", {"groups": list(groups)}))
    until(lambda: set(groups) <= set(seat(svc, seat_id)["skill_groups"]), 10,
          f"seat {seat_id} logged in to {groups}")


def ended_calls(svc: CtiService, number: str) -> list[dict[str, Any]]:
    """The number's ended calls once history has all the writer was given (the API shows
    an ended call and its timeline from the writer before that): what the database holds."""
    if not svc.history_written():
        return []
    page = svc.get("/v1/calls", status="ended", customer_number=number, limit=50)
    return [c for c in page["items"] if c["state"] == "ended"]


def timeline(svc: CtiService, call_id: str) -> list[dict[str, Any]]:
    return list(svc.get(f"/v1/calls/{call_id}")["timeline"])


def test_the_ivr_digit_picks_the_skill_group(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    menu = {"greeting": "dir-welcome", "default_group": "sales", "numbers": ["100"],
            "timeout_seconds": 3, "max_invalid": 1,
            "options": [{"digit": "1", "group": "sales"}, {"digit": "2", "group": "support"}]}
    r = call(service, "PUT", "/v1/ivr-menus/main", menu)
    assert r.status_code == 201, r.text
    join(service, "sales", ("1001", 0))
    join(service, "support", ("1002", 0))
    sipp.agent("1001", mode="answer")
    sipp.agent("1002", mode="answer")
    login(service, "1001", "sales")
    login(service, "1002", "support")

    # "2" -> support; nothing pressed -> the default group; a wrong digit -> default too
    for number, digits, group in (("861000000002", "2", "support"),
                                  ("861000000000", "", "sales"),
                                  ("861000000009", "9", "sales")):
        customer = sipp.customer("100", digits=digits, hold=9.0, caller_number=number)
        assert customer.wait(timeout=40).ok, customer.output()
        done = until(lambda n=number: ended_calls(service, n), 15, f"call from {number}")[0]
        assert done["skill_group"] == group, (digits, done)
        assert done["seat_id"] == ("1002" if group == "support" else "1001")


def test_rollover_to_the_next_seat_shows_in_the_timeline(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    # linear: seats are rung in the order they logged in, so 1001 always rings first
    r = call(service, "POST", "/v1/skill-groups",
             {"name": "rollover", "strategy": "linear", "ring_seconds": 3, "retry_seconds": 1,
              "no_answer_pause_after": 0, "numbers": ["500"]})
    assert r.status_code == 201, r.text
    join(service, "rollover", ("1001", 0), ("1002", 0))
    sipp.agent("1001", mode="no_answer")
    sipp.agent("1002", mode="answer")
    login(service, "1001", "rollover")
    login(service, "1002", "rollover")

    customer = sipp.customer("500", hold=10.0, caller_number="861000000101")
    assert customer.wait(timeout=40).ok
    done = until(lambda: ended_calls(service, "861000000101"), 15, "the call in history")[0]
    assert done["seat_id"] == "1002"
    steps = [(e["kind"], e["seat_id"]) for e in timeline(service, done["id"])
             if e["kind"] in ("offered", "no_answer", "answered")]
    assert steps[:2] == [("offered", "1001"), ("no_answer", "1001")], steps
    assert steps[-2:] == [("offered", "1002"), ("answered", "1002")], steps
    moved_on = next(e for e in timeline(service, done["id"]) if e["kind"] == "no_answer")
    assert moved_on["detail"]["reason"] == "ring_timeout"
    assert moved_on["detail"]["ring_ms"] >= 2500


def test_ringall_frees_the_seats_that_lost_the_race_while_the_winner_talks(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    # app_queue rings everyone and hangs up the others' legs when one answers, with no
    # AgentRingNoAnswer for them: they must not stay "ringing" for the other's call.
    r = call(service, "POST", "/v1/skill-groups",
             {"name": "everyone", "strategy": "ringall", "ring_seconds": 15,
              "no_answer_pause_after": 0, "numbers": ["510"]})
    assert r.status_code == 201, r.text
    join(service, "everyone", ("1001", 0), ("1002", 0))
    sipp.agent("1001", mode="answer", answer_after=1.0)
    sipp.agent("1002", mode="no_answer")
    login(service, "1001", "everyone")
    login(service, "1002", "everyone")

    customer = sipp.customer("510", hold=6.0, caller_number="861000000111")
    until(lambda: seat(service, "1002")["state"] == "ringing", 15, "1002 rung with 1001")
    until(lambda: seat(service, "1001")["state"] == "on_call", 15, "1001 answered")
    # while 1001 still talks, 1002 is free again (it was stuck ringing until the call ended)
    until(lambda: seat(service, "1002")["state"] == "available", 3, "1002 free again")
    assert seat(service, "1001")["state"] == "on_call"
    assert customer.wait(timeout=40).ok
    done = until(lambda: ended_calls(service, "861000000111"), 15, "the call in history")[0]
    assert done["seat_id"] == "1001"
    offered = {e["seat_id"] for e in timeline(service, done["id"]) if e["kind"] == "offered"}
    assert offered == {"1001", "1002"}


def test_a_seat_is_paused_after_n_no_answers_and_then_never_rung(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    ok(call(service, "PATCH", "/v1/skill-groups/sales",
            {"ring_seconds": 2, "retry_seconds": 1, "no_answer_pause_after": 2}))
    join(service, "sales", ("1001", 0))
    sipp.agent("1001", mode="no_answer")
    login(service, "1001", "sales")

    customer = sipp.customer("200", hold=12.0, caller_number="861000000201")
    paused = until(lambda: seat(service, "1001")["state"] == "paused", 30, "auto-pause")
    assert paused
    assert seat(service, "1001")["pause_reason"] == "no-answer"
    assert "no-answer" in asterisk.cli("queue show sales")  # app_queue's own pause reason
    customer.wait(timeout=30)
    history = until(lambda: ended_calls(service, "861000000201"), 15, "call in history")[0]
    offers = [e for e in timeline(service, history["id"]) if e["kind"] == "offered"]
    assert len(offers) == 2, offers  # paused after the second miss: never rung again

    # A paused seat is not offered calls; another seat takes them all.
    join(service, "sales", ("1002", 0))
    sipp.agent("1002", mode="answer")
    login(service, "1002", "sales")
    for i in range(2):
        # Call only once 1002 can take it (after its wrap-up), and hold well past the queue's
        # 1 s retry: the dialplan answers at once, so ``hold`` counts the wait in the queue,
        # and a 2 s caller arriving during the wrap-up hung up just as 1002 was offered the
        # call (CI: seat_id None, offer and no_answer 4 ms apart).
        until(lambda: seat(service, "1002")["state"] == "available", 15, "1002 available")
        number = f"86100000030{i}"
        assert sipp.customer("200", hold=6.0, caller_number=number).wait(timeout=30).ok
        done = until(lambda n=number: ended_calls(service, n), 15, "call in history")[0]
        assert done["seat_id"] == "1002", done
        assert all(e["seat_id"] != "1001" for e in timeline(service, done["id"]))


def test_agent_control_login_pause_unpause_wrap_up_end_logout(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    ok(call(service, "PATCH", "/v1/skill-groups/support", {"wrapup_seconds": 120}))
    join(service, "support", ("1003", 4))
    join(service, "sales", ("1003", 1))
    agent_token = service.cli("token", "create", "--user", "agent-1003", "--role", "agent",
                              "--seat", "1003").strip().splitlines()[-1]
    other = call(service, "POST", "/v1/seats/1001/pause", {"reason": "break"}, agent_token)
    assert other.status_code == 403  # agents act on their own seat only

    # A reason that does not exist is named as such, logged in or not.
    nap = call(service, "POST", "/v1/seats/1003/pause", {"reason": "nap"}, agent_token)
    assert nap.status_code == 422 and "unknown pause reason 'nap'" in nap.text

    sipp.agent("1003", mode="answer")
    r = call(service, "POST", "/v1/seats/1003/login", {}, agent_token)
    assert r.status_code == 202 and sorted(r.json()["groups"]) == ["sales", "support"]
    until(lambda: seat(service, "1003")["state"] == "available", 10, "available")
    group = service.get("/v1/skill-groups/support")
    assert {m["seat_id"]: m["penalty"] for m in group["members"]}["1003"] == 4

    bad = call(service, "POST", "/v1/seats/1003/pause", {"reason": "nap"}, agent_token)
    assert bad.status_code == 422 and "reason" in bad.text
    ok(call(service, "POST", "/v1/seats/1003/pause", {"reason": "lunch"}, agent_token))
    until(lambda: seat(service, "1003")["pause_reason"] == "lunch", 10, "paused for lunch")
    ok(call(service, "POST", "/v1/seats/1003/unpause", None, agent_token))
    until(lambda: seat(service, "1003")["state"] == "available", 10, "unpaused")

    assert sipp.customer("300", hold=2.0, caller_number="861000000401").wait(timeout=30).ok
    until(lambda: seat(service, "1003")["state"] == "wrap_up", 10, "wrap-up after the call")
    early = call(service, "POST", "/v1/seats/1003/wrap-up/end", None, agent_token)
    assert early.status_code == 202, early.text
    until(lambda: seat(service, "1003")["state"] == "available", 5, "wrap-up ended early")
    # app_queue agrees: the next caller is offered to the seat at once
    assert sipp.customer("300", hold=2.0, caller_number="861000000402").wait(timeout=30).ok
    done = until(lambda: ended_calls(service, "861000000402"), 15, "second call")[0]
    assert done["seat_id"] == "1003" and done["wait_seconds"] <= 3

    ok(call(service, "POST", "/v1/seats/1003/logout", {}, agent_token))
    until(lambda: seat(service, "1003")["state"] == "offline", 10, "logged out")
    assert "1003" not in asterisk.cli("queue show support")


def test_a_group_change_while_a_caller_waits_keeps_the_caller(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    join(service, "support", ("1004", 0))
    sipp.agent("1004", mode="answer")
    login(service, "1004", "support")
    ok(call(service, "POST", "/v1/seats/1004/pause", {"reason": "meeting"}))
    until(lambda: seat(service, "1004")["state"] == "paused", 10, "paused")

    customer = sipp.customer("300", hold=4.0, caller_number="861000000501")
    until(lambda: "1 calls" in asterisk.cli("queue show support"), 15, "the caller queued")
    changed = ok(call(service, "PATCH", "/v1/skill-groups/support",
                      {"ring_seconds": 9, "max_wait_seconds": 600, "display_name": "Help"}))
    assert changed["ring_seconds"] == 9
    assert "timeout = 9" in (Path(service.env["CTI_ASTERISK__ROOT"])
                             / service.env["CTI_ASTERISK__ETC_DIR"].lstrip("/")
                             / "cti" / "queues.conf").read_text()
    assert "1 calls" in asterisk.cli("queue show support")  # still waiting after reload
    ok(call(service, "POST", "/v1/seats/1004/unpause"))
    assert customer.wait(timeout=30).ok
    done = until(lambda: ended_calls(service, "861000000501"), 15, "the call in history")[0]
    assert done["seat_id"] == "1004" and done["abandoned"] is False


def test_the_group_hold_class_is_the_one_played(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    root = Path(service.env["CTI_ASTERISK__ROOT"])
    packaged = next((root / "usr/share/asterisk/moh").glob("*.wav"))
    ok(call(service, "POST", "/v1/music-on-hold", {"name": "calm"}))
    up = service.http.post("/v1/music-on-hold/calm/files",
                           files={"file": ("calm.wav", packaged.read_bytes(), "audio/wav")})
    assert up.status_code == 201, up.text
    ok(call(service, "PATCH", "/v1/skill-groups/support", {"music_class": "calm"}))
    bad = call(service, "PATCH", "/v1/skill-groups/support", {"music_class": "loud"})
    assert bad.status_code == 422 and "music_class" in bad.text

    join(service, "support", ("1004", 0))
    sipp.agent("1004", mode="answer")
    login(service, "1004", "support")
    ok(call(service, "POST", "/v1/seats/1004/pause", {"reason": "meeting"}))
    classes = asyncio.run(_moh_classes_during(asterisk, sipp))
    assert classes and set(classes) == {"calm"}, classes


async def _moh_classes_during(asterisk: AsteriskInstance, sipp: SippBench) -> list[str]:
    """MusicOnHoldStart classes seen on AMI while a caller waits in support."""
    p = asterisk.params
    reader, writer = await asyncio.open_connection("127.0.0.1", p.ami_port)
    await reader.readline()
    writer.write(f"Action: Login\r\nUsername: {p.ami_username}\r\nSecret: {p.ami_secret}\r\n"
                 "Events: call\r\n\r\n".encode())
    customer = await asyncio.to_thread(sipp.customer, "300", hold=4.0,
                                       caller_number="861000000601")
    classes: list[str] = []
    try:
        async with asyncio.timeout(15):
            while not classes:
                block = (await reader.readuntil(b"\r\n\r\n")).decode()
                if "Event: MusicOnHoldStart" in block:
                    classes += [line.split(": ", 1)[1] for line in block.split("\r\n")
                                if line.startswith("Class: ")]
    finally:
        writer.close()
        await asyncio.to_thread(customer.wait, 20)
    return classes


def test_calls_still_reach_a_queue_while_the_service_is_down(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    join(service, "support", ("1002", 0))
    sipp.agent("1002", mode="answer")
    login(service, "1002", "support")
    service.stop()
    customer = sipp.customer("300", hold=3.0, caller_number="861000000701")
    assert customer.wait(timeout=30).ok  # answered by the seat with no service running
    connects = [r for r in asterisk.queue_log_rows() if r[4] == "CONNECT" and r[2] == "support"]
    assert connects and connects[-1][3] == "1002"
    service.start()
    service.wait_ready()


def test_bad_input_is_refused_and_changes_nothing(service: CtiService) -> None:
    before = service.get("/v1/skill-groups/sales/settings")
    conf = (Path(service.env["CTI_ASTERISK__ROOT"])
            / service.env["CTI_ASTERISK__ETC_DIR"].lstrip("/") / "cti" / "extensions.conf")
    files_before = conf.read_text()
    cases: list[tuple[str, str, Any, int, str]] = [
        ("PATCH", "/v1/skill-groups/sales", {"ring_seconds": 0}, 422, "ring_seconds"),
        ("PATCH", "/v1/skill-groups/sales", {"max_wait_seconds": -5}, 422, "max_wait_seconds"),
        ("PATCH", "/v1/skill-groups/sales", {"max_wait_seconds": 86401}, 422,
         "max_wait_seconds"),
        ("PATCH", "/v1/skill-groups/sales", {"hours": {"timezone": "Mars/Olympus", "weekly": [
            {"days": ["mon"], "opens": "09:00", "closes": "18:00"}]}}, 422, "timezone"),
        ("PATCH", "/v1/skill-groups/nosuch", {"ring_seconds": 5}, 404, "nosuch"),
        ("PUT", "/v1/skill-groups/sales/members/7777", {"level": 1}, 404, "7777"),
        ("PUT", "/v1/ivr-menus/main", {"greeting": "dir-welcome", "default_group": "sales",
                                       "options": [{"digit": "1", "group": "sales"},
                                                   {"digit": "1", "group": "support"}]},
         422, "twice"),
        ("PUT", "/v1/ivr-menus/main", {"greeting": "dir-welcome", "default_group": "nosuch",
                                       "options": []}, 422, "nosuch"),
        ("PUT", "/v1/ivr-menus/main", {"greeting": "no-such-sound", "default_group": "sales",
                                       "options": []}, 422, "greeting"),
        # A number or box another group has: the request's own field is named, though
        # billing and b3 come before support and sales by name.
        ("POST", "/v1/skill-groups", {"name": "billing", "numbers": ["300"]}, 422,
         "groups.billing.numbers: 300 is already routed by groups.support"),
        ("POST", "/v1/skill-groups", {"name": "b3", "voicemail_box": "sales"}, 422,
         "groups.b3.voicemail_box: box 'sales' already belongs to groups.sales"),
        ("PATCH", "/v1/skill-groups/sales", {"numbers": ["200", "300"]}, 422,
         "groups.sales.numbers: 300 is already routed by groups.support"),
        ("DELETE", "/v1/skill-groups/sales", None, 409, "sales"),
        # An empty list names no group (it was a 409 "not a member of any skill group");
        # a group that does not exist is the request's error, not the seat's state.
        ("POST", "/v1/seats/1001/login", {"groups": []}, 422, '"field":"groups"'),
        ("POST", "/v1/seats/1001/logout", {"groups": []}, 422, '"field":"groups"'),
        ("POST", "/v1/seats/1001/logout", {"groups": ["nosuch"]}, 422,
         "no skill group ['nosuch']"),
        ("POST", "/v1/seats/1001/logout", {"groups": ["support"]}, 409, "not logged in"),
    ]
    for method, path, body, status, needle in cases:
        r = call(service, method, path, body)
        assert r.status_code == status, (method, path, body, r.status_code, r.text)
        assert needle in r.text, (needle, r.text)
    assert service.get("/v1/skill-groups/sales/settings") == before
    assert conf.read_text() == files_before
    assert call(service, "GET", "/v1/ivr-menus/main").status_code == 404
    assert call(service, "GET", "/v1/skill-groups/billing/settings").status_code == 404
    assert call(service, "GET", "/v1/skill-groups/b3/settings").status_code == 404


def test_skill_group_lifecycle_reaches_asterisk(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    body = {"name": "billing", "display_name": "Billing", "strategy": "leastrecent",
            "ring_seconds": 12, "max_wait_seconds": 90, "numbers": ["400"],
            "widen": [{"after_seconds": 0, "max_level": 1},
                      {"after_seconds": 30, "max_level": 5}],
            "hours": {"timezone": "Asia/Shanghai", "holidays": ["2027-01-01"],
                      "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri"],
                                  "opens": "09:00", "closes": "18:00"}]}}
    created = call(service, "POST", "/v1/skill-groups", body)
    assert created.status_code == 201, created.text
    until(lambda: "billing has" in asterisk.cli("queue show billing"), 10, "queue billing")
    assert "leastrecent" in asterisk.cli("queue show billing")
    assert "cti-billing" in asterisk.cli("queue show rules")
    plan = asterisk.cli("dialplan show cti-group-billing")
    assert "Asia/Shanghai" in plan and "2027-01-01" in plan
    assert "cti-group-billing" in asterisk.cli("dialplan show 400@cti-inbound")
    dup = call(service, "POST", "/v1/skill-groups", body)
    assert dup.status_code == 409
    # The live view follows at once (a reload sends no event): live, with its strategy...
    live = service.get("/v1/skill-groups/billing")
    assert (live["live"], live["strategy"]) == (True, "leastrecent"), live
    ok(call(service, "PATCH", "/v1/skill-groups/billing", {"strategy": "ringall"}))
    assert "ringall" in asterisk.cli("queue show billing")
    assert service.get("/v1/skill-groups/billing")["strategy"] == "ringall"

    assert call(service, "DELETE", "/v1/skill-groups/billing").status_code == 204
    until(lambda: "No such queue" in asterisk.cli("queue show billing")
          or "billing has" not in asterisk.cli("queue show billing"), 10, "billing gone")
    assert "400" not in asterisk.cli("dialplan show cti-inbound")
    # ...and a deleted group leaves it (it was listed, live, until the next resync)
    assert "billing" not in [g["name"] for g in service.get("/v1/skill-groups")]


def live_call_of(svc: CtiService, seat_id: str) -> str | None:
    s = seat(svc, seat_id)
    return s["call_id"] if s["state"] == "on_call" else None


def device_in_use(asterisk: AsteriskInstance, seat_id: str) -> bool:
    return f"PJSIP/{seat_id}-" in asterisk.cli("core show channels concise")


@pytest.mark.parametrize("mode", ["blind", "attended"])
def test_transfer_of_a_seat_call_to_another_seat(
    mode: str, asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    join(service, "sales", ("1001", 0))
    first = sipp.agent("1001", mode="answer")
    second = sipp.agent("1002", mode="answer", answer_after=0.5)
    login(service, "1001", "sales")
    customer = sipp.customer("200", hold=14.0, caller_number=f"86100000080{len(mode)}")
    call_id = until(lambda: live_call_of(service, "1001"), 15, "seat 1001 on the call")

    agent_token = service.cli("token", "create", "--user", "agent-1002", "--role", "agent",
                              "--seat", "1002").strip().splitlines()[-1]
    foreign = call(service, "POST", f"/v1/calls/{call_id}/transfer",
                   {"mode": mode, "seat": "1003"}, agent_token)
    assert foreign.status_code == 403  # not the agent's own call
    r = call(service, "POST", f"/v1/calls/{call_id}/transfer", {"mode": mode, "seat": "1002"})
    assert r.status_code == 202, r.text
    until(lambda: device_in_use(asterisk, "1002"), 10, "seat 1002 rung and answered")
    if mode == "attended":
        assert device_in_use(asterisk, "1001")  # consulting: the seat is still on
        assert r.json()["state"] == "consulting"
        ok(call(service, "POST", f"/v1/calls/{call_id}/transfer/complete"))
    until(lambda: not device_in_use(asterisk, "1001"), 10, "seat 1001 off the call")
    assert device_in_use(asterisk, "1002")  # the customer is now with 1002
    # ...and the service says so: the call is 1002's, 1001 is free and no longer acts on it
    live = until(lambda: (c := service.get(f"/v1/calls/{call_id}"))["seat_id"] == "1002"
                 and c, 10, "the call moved to seat 1002")
    assert live["state"] == "on_call"
    until(lambda: seat(service, "1002")["call_id"] == call_id
          and seat(service, "1002")["state"] in ("on_call", "offline"), 5, "1002 on the call")
    assert seat(service, "1001")["call_id"] is None
    first_token = service.cli("token", "create", "--user", "agent-1001", "--role", "agent",
                              "--seat", "1001").strip().splitlines()[-1]
    left = call(service, "POST", f"/v1/calls/{call_id}/transfer",
                {"mode": "blind", "seat": "1003"}, first_token)
    assert left.status_code == 403  # no longer 1001's call
    assert customer.wait(timeout=30).ok
    done = until(lambda: (c := service.get(f"/v1/calls/{call_id}"))["ended_at"] and c, 15,
                 "the call ended")
    assert done["seat_id"] == "1002"
    moved = [e for e in done["timeline"] if e["kind"] == "transferred"]
    assert [(e["seat_id"], e["detail"]["from"]) for e in moved] == [("1002", "1001")], moved
    verb = "BLINDTRANSFER" if mode == "blind" else "ATTENDEDTRANSFER"
    assert any(row[4] == verb for row in asterisk.queue_log_rows()), verb
    if mode == "blind":  # (attended: Asterisk re-INVITEs the phones to hold and bridge
        # them, which this simple SIPp UAS counts as a failed call; the channels above
        # and app_queue's ATTENDEDTRANSFER are the proof there)
        assert first.stop().successful >= 1 and second.stop().successful >= 1


def test_a_call_is_hung_up_over_the_api_by_its_agent_or_a_supervisor(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    join(service, "sales", ("1001", 0))
    agent = sipp.agent("1001", mode="answer")
    login(service, "1001", "sales")
    customer = sipp.customer("200", hold=30.0, caller_number="861000000950")
    call_id = until(lambda: live_call_of(service, "1001"), 15, "seat 1001 on the call")

    other = service.cli("token", "create", "--user", "agent-1002", "--role", "agent",
                        "--seat", "1002").strip().splitlines()[-1]
    foreign = call(service, "POST", f"/v1/calls/{call_id}/hangup", None, other)
    assert foreign.status_code == 403  # not the agent's own call
    assert device_in_use(asterisk, "1001")
    own = service.cli("token", "create", "--user", "agent-1001", "--role", "agent",
                      "--seat", "1001").strip().splitlines()[-1]
    r = call(service, "POST", f"/v1/calls/{call_id}/hangup", None, own)
    assert r.status_code == 202, r.text
    assert r.json()["call_id"] == call_id and r.json()["channels"] >= 2
    until(lambda: not device_in_use(asterisk, "1001"), 10, "seat 1001 off the call")
    ended = until(lambda: (c := service.get(f"/v1/calls/{call_id}"))["ended_at"] and c, 15,
                  "the call ended in history")
    assert ended["ended_at"] is not None
    customer.wait(timeout=30)  # hung up long before its 30 s
    agent.stop()
    gone = call(service, "POST", f"/v1/calls/{call_id}/hangup")
    assert gone.status_code == 404 and "live call" in gone.text


def test_transfer_refuses_calls_that_are_not_live(service: CtiService) -> None:
    r = call(service, "POST", "/v1/calls/node1:123.4/transfer", {"mode": "blind", "seat": "1002"})
    assert r.status_code == 404 and "live call" in r.text
    r = call(service, "POST", "/v1/calls/node1:123.4/transfer", {"mode": "sideways"})
    assert r.status_code == 422 and "mode" in r.text


def test_outside_business_hours_the_caller_reaches_the_group_voicemail(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()
    hours = {"timezone": "Asia/Shanghai", "holidays": [today],
             "weekly": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                         "opens": "00:00", "closes": "23:59"}]}
    ok(call(service, "PATCH", "/v1/skill-groups/support", {"hours": hours}))
    join(service, "support", ("1002", 0))
    sipp.agent("1002", mode="answer")
    login(service, "1002", "support")  # a seat is free, but today is a holiday

    customer = sipp.customer("300", hold=12.0, audio_delay=6.0, caller_number="861000000901")
    assert customer.wait(timeout=40).ok
    msgs = until(lambda: [m for m in service.get("/v1/voicemail", box="support")["items"]
                          if m["caller_number"] == "861000000901"], 20, "the message")
    assert msgs[0]["duration_seconds"] >= 2
    entered = [r for r in asterisk.queue_log_rows() if r[4] == "ENTERQUEUE" and r[2] == "support"
               and "861000000901" in "|".join(r)]
    assert entered == []  # never queued: the after-hours path goes straight to voicemail
    ok(call(service, "PATCH", "/v1/skill-groups/support", {"hours": None}))
