"""Inbound administration against the real Asterisk and PostgreSQL: deleting a skill
group seats are logged in to, voicemail of a box no group uses any more, and what the
API refuses (the carrier trunk as a seat, an unknown node, a seat without a phone,
seconds in business hours, recording policies for nothing, line breaks in names).

The service fixture and helpers are test_inbound.py's."""

from __future__ import annotations

import httpx
import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.test_inbound import call, join, login, ok, seat, service
from tests.support.service import CtiService, until
from tests.support.sipp import SippBench

pytestmark = pytest.mark.integration

__all__ = ["service"]  # the fixture, used by name


def admin_token(svc: CtiService) -> str:
    return svc.cli("token", "create", "--user", "root", "--role",
                   "admin").strip().splitlines()[-1]


def fields(r: httpx.Response) -> list[str]:
    return [f["field"] for f in r.json()["details"]["fields"]]


def test_deleting_a_group_logs_its_seats_out_of_it_first(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    """The queue went on a reload with the seat still "in" it: the seat's logout then
    failed with a 502 at that group, forever, half done."""
    ok(call(service, "POST", "/v1/skill-groups", {"name": "temp", "numbers": ["700"]}))
    join(service, "temp", ("1003", 2))
    join(service, "support", ("1003", 0))
    login(service, "1003", "support", "temp")

    r = call(service, "DELETE", "/v1/skill-groups/temp")
    assert r.status_code == 204, r.text

    # logged out of temp as by a logout (app_queue's own record of it), still in support
    removed = [row for row in asterisk.queue_log_rows()
               if row[4] == "REMOVEMEMBER" and row[2] == "temp" and "1003" in row[3]]
    assert removed, asterisk.queue_log_rows()[-5:]
    until(lambda: seat(service, "1003")["skill_groups"] == ["support"], 10,
          "seat 1003 only in support")
    assert "PJSIP/1003" in asterisk.cli("queue show support")
    assert "temp" not in [g["name"] for g in service.get("/v1/skill-groups")]

    r = call(service, "POST", "/v1/seats/1003/logout")
    assert r.status_code == 202 and r.json()["groups"] == ["support"], r.text
    until(lambda: seat(service, "1003")["skill_groups"] == [], 10, "seat 1003 logged out")


def test_messages_of_a_box_no_group_uses_any_more_can_be_marked_heard_and_deleted(
    asterisk: AsteriskInstance, sipp: SippBench, service: CtiService
) -> None:
    """After support's box changed, app_voicemail no longer knew "support": both 502."""
    # nobody is logged in to support: the caller leaves a message in its box
    customer = sipp.customer("300", hold=12.0, audio_delay=6.0, caller_number="861000000702")
    assert customer.wait(timeout=40).ok, customer.output()
    found = until(lambda: [m for m in service.get("/v1/voicemail", box="support")["items"]
                           if m["caller_number"] == "861000000702"], 20, "the message")
    message = found[0]["id"]

    r = call(service, "PATCH", "/v1/skill-groups/support", {"voicemail_box": "support2"})
    assert r.status_code == 200 and r.json()["voicemail_box"] == "support2", r.text

    r = call(service, "POST", f"/v1/voicemail/{message}/heard")
    assert r.status_code == 200 and r.json()["heard"] is True, r.text
    r = call(service, "DELETE", f"/v1/voicemail/{message}")
    assert r.status_code == 204, r.text
    assert message not in [m["id"] for m in service.get("/v1/voicemail")["items"]]


def test_the_carrier_trunk_is_no_seat(service: CtiService) -> None:
    """It became a queue member (app_queue would ring the carrier) and a stored seat."""
    r = call(service, "PUT", "/v1/skill-groups/sales/members/trunk", {"level": 0})
    assert r.status_code == 422 and fields(r) == ["seat_id"], r.text
    r = call(service, "POST", "/v1/seats/trunk/login")
    assert r.status_code == 422 and fields(r) == ["seat_id"], r.text
    r = call(service, "PUT", "/v1/seats/trunk", {"display_name": "Carrier"},
             token=admin_token(service))
    assert r.status_code == 422 and fields(r) == ["seat_id"], r.text
    assert "trunk" not in [s["id"] for s in service.get("/v1/seats")]


def test_a_seat_that_cannot_work_is_refused(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, service: CtiService
) -> None:
    admin = admin_token(service)
    # a node the service does not drive (its logins were a 502 later)
    r = call(service, "PUT", "/v1/seats/5555", {"display_name": "Ghost", "node": "ghost"},
             token=admin)
    assert r.status_code == 422 and fields(r) == ["node"], r.text
    # a seat whose endpoint Asterisk does not have is not registered (test_seat_admin.py);
    # one registered before (or while Asterisk was away) does not log in: app_queue took
    # it "(Invalid)"
    r = call(service, "PUT", "/v1/seats/5556", {"display_name": "NoPhone"}, token=admin)
    assert r.status_code == 422 and fields(r) == ["seat_id"], r.text
    pg_cluster.psql("INSERT INTO seats (id, node, interface) "
                    "VALUES ('5556', 'node1', 'PJSIP/5556')", database="cti")
    join(service, "sales", ("5556", 0))
    r = call(service, "POST", "/v1/seats/5556/login")
    assert r.status_code == 409 and "no endpoint PJSIP/5556" in r.text, r.text
    assert "5556" not in asterisk.cli("queue show sales")


def test_names_are_one_line(service: CtiService) -> None:
    r = call(service, "POST", "/v1/skill-groups",
             {"name": "billing", "display_name": "Bill\r\ning", "numbers": ["400"]})
    assert r.status_code == 422 and fields(r) == ["display_name"], r.text
    r = call(service, "PUT", "/v1/seats/1001", {"display_name": "Ghost\r\nX"},
             token=admin_token(service))
    assert r.status_code == 422 and fields(r) == ["display_name"], r.text


def test_a_recording_policy_must_name_a_group_or_campaign(service: CtiService) -> None:
    """A typo ("Sales") was stored, and silently never applied."""
    admin = admin_token(service)
    policy = {"retention_days": 100, "stereo": False}
    for key in ("nosuchgroup", "Sales", "campaign-999", "..."):
        r = call(service, "PUT", f"/v1/recordings/policies/{key}", policy, token=admin)
        assert r.status_code == 404 and r.json()["details"]["id"] == key, (key, r.text)
    r = call(service, "PUT", "/v1/recordings/policies/sales", policy, token=admin)
    assert r.status_code == 200, r.text
    # a group that goes keeps its policy deletable
    ok(call(service, "POST", "/v1/skill-groups", {"name": "temp", "numbers": ["700"]}))
    ok(call(service, "PUT", "/v1/recordings/policies/temp", policy, token=admin))
    ok(call(service, "DELETE", "/v1/skill-groups/temp"))
    r = call(service, "DELETE", "/v1/recordings/policies/temp", token=admin)
    assert r.status_code == 204, r.text


def test_business_hours_are_whole_minutes_and_a_day_may_be_open_to_its_end(
    asterisk: AsteriskInstance, service: CtiService
) -> None:
    def hours(opens: str, closes: str) -> dict[str, object]:
        return {"hours": {"timezone": "Europe/Paris",
                          "weekly": [{"days": ["mon", "tue"], "opens": opens,
                                      "closes": closes}]}}

    for opens in ("09:00:30", "09:00+05:00"):  # were stored as 09:00 without a word
        r = call(service, "PATCH", "/v1/skill-groups/support", hours(opens, "18:00"))
        assert r.status_code == 422 and fields(r) == ["hours.weekly.0.opens"], r.text

    r = call(service, "PATCH", "/v1/skill-groups/support", hours("00:00", "24:00"))
    assert r.status_code == 200, r.text
    assert r.json()["hours"]["weekly"][0] == {"days": ["mon", "tue"], "opens": "00:00",
                                              "closes": "24:00"}
    shown = service.get("/v1/skill-groups/support/settings")["hours"]["weekly"][0]
    assert shown["closes"] == "24:00"
    # open through 23:59 (GotoIfTime ranges include their last minute)
    plan = asterisk.cli("dialplan show s@cti-group-support")
    assert "GotoIfTime(00:00-23:59,mon,*,*,Europe/Paris?open)" in plan, plan
