"""Seats an admin registers and removes, against the real Asterisk and PostgreSQL.

``PUT /v1/seats/{id}`` took any id (``abc``, ``1``, 17 digits): a seat no phone could ever
be, shown on every wallboard, taken as a queue member, and never removable (no DELETE).
Now an id whose endpoint Asterisk does not have is refused while Asterisk can be asked,
and ``DELETE /v1/seats/{id}`` removes a seat nothing holds. Display names are one line of
1 to 80 characters, blanks around them dropped.

The service fixture and helpers are test_inbound.py's.
"""

from __future__ import annotations

import httpx
import pytest

from cti.stack.postgres import PostgresCluster
from tests.integration.test_inbound import call, join, login, ok, seat, seats_known, service
from tests.support.service import CtiService, until

pytestmark = pytest.mark.integration

__all__ = ["service"]  # the fixture, used by name


def admin_token(svc: CtiService) -> str:
    return svc.cli("token", "create", "--user", "root", "--role",
                   "admin").strip().splitlines()[-1]


def fields(r: httpx.Response) -> list[str]:
    return [f["field"] for f in r.json()["details"]["fields"]]


def ghost(pg_cluster: PostgresCluster, seat_id: str) -> None:
    """A seat no endpoint stands behind, as registered before ids were checked (or while
    Asterisk was away)."""
    pg_cluster.psql(f"INSERT INTO seats (id, node, interface) "
                    f"VALUES ('{seat_id}', 'node1', 'PJSIP/{seat_id}')", database="cti")


def test_a_seat_id_asterisk_has_no_endpoint_for_is_refused(service: CtiService) -> None:
    admin = admin_token(service)
    for seat_id in ("abc", "a.b", "1001-x", "1", "12345678901234567"):
        r = call(service, "PUT", f"/v1/seats/{seat_id}", {}, token=admin)
        assert r.status_code == 422 and fields(r) == ["seat_id"], (seat_id, r.text)
        assert f"no endpoint PJSIP/{seat_id}" in r.text, r.text
    assert not {"abc", "a.b", "1001-x", "1"} & set(seats_known(service))
    # an endpoint it has: named
    r = call(service, "PUT", "/v1/seats/1003", {"display_name": "  Front desk "}, token=admin)
    assert r.status_code == 204, r.text
    assert seat(service, "1003")["display_name"] == "Front desk"


def test_display_names_are_one_line_of_1_to_80_characters(service: CtiService) -> None:
    admin = admin_token(service)
    for name, said in (("", "blank"), ("   ", "blank"), ("x" * 81, "80 characters")):
        r = call(service, "PUT", "/v1/seats/1003", {"display_name": name}, token=admin)
        assert r.status_code == 422 and fields(r) == ["display_name"], (name, r.text)
        assert said in r.text, r.text
    ok(call(service, "PUT", "/v1/seats/1003", {"display_name": "\u524d\u53f0" * 40},
            token=admin))
    ok(call(service, "PUT", "/v1/seats/1003", {"display_name": None}, token=admin))
    assert seat(service, "1003")["display_name"] is None


def test_a_ghost_seat_can_be_deleted_once_nothing_holds_it(
    pg_cluster: PostgresCluster, service: CtiService
) -> None:
    admin = admin_token(service)
    ghost(pg_cluster, "5557")
    assert "5557" in seats_known(service)

    # agents and supervisors may not
    r = call(service, "DELETE", "/v1/seats/5557")
    assert r.status_code == 403, r.text

    # a skill group's member: refused, naming the group
    join(service, "sales", ("5557", 0))
    r = call(service, "DELETE", "/v1/seats/5557", token=admin)
    assert r.status_code == 409 and "sales" in r.text, r.text
    assert r.json()["details"]["skill_groups"] == ["sales"]
    ok(call(service, "DELETE", "/v1/skill-groups/sales/members/5557"))

    r = call(service, "DELETE", "/v1/seats/5557", token=admin)
    assert r.status_code == 204, r.text
    assert "5557" not in seats_known(service)
    r = call(service, "DELETE", "/v1/seats/5557", token=admin)
    assert r.status_code == 404, r.text


def test_a_seat_logged_in_or_that_asterisk_has_is_not_deleted(service: CtiService) -> None:
    admin = admin_token(service)
    join(service, "support", ("1003", 0))
    login(service, "1003", "support")
    r = call(service, "DELETE", "/v1/seats/1003", token=admin)
    assert r.status_code == 409 and "logged in" in r.text and "support" in r.text, r.text
    ok(call(service, "POST", "/v1/seats/1003/logout"))
    until(lambda: seat(service, "1003")["skill_groups"] == [], 10, "seat 1003 logged out")
    ok(call(service, "DELETE", "/v1/skill-groups/support/members/1003"))

    # nothing holds it, but Asterisk has its endpoint: it would be back at the next connect
    r = call(service, "DELETE", "/v1/seats/1003", token=admin)
    assert r.status_code == 409 and "PJSIP/1003" in r.text, r.text
    assert "1003" in seats_known(service)

    r = call(service, "DELETE", "/v1/seats/trunk", token=admin)
    assert r.status_code == 422 and fields(r) == ["seat_id"], r.text
