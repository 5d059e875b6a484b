"""A configuration change Asterisk refuses is undone everywhere: PostgreSQL keeps the old
settings and the generated files are put back (real Asterisk 22 whose AMI user may not
Reload, real PostgreSQL, the service as a process)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskInstance, provision
from cti.stack.postgres import PostgresCluster
from cti.stack.render import AMI_WRITE
from tests.support.service import CtiService, serving

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def asterisk_without_reload() -> Iterator[AsteriskInstance]:
    # QueueReload needs only "agent", so queue changes still apply; Reload of the
    # dialplan needs "config", which this AMI user lacks.
    write = tuple(c for c in AMI_WRITE if c != "config")
    instance = AsteriskInstance.make(provision(), ami_write=write)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(instance.host_path(), ignore_errors=True)


@pytest.fixture
def service(asterisk_without_reload: AsteriskInstance, pg_cluster: PostgresCluster,
            pg_url: str, tmp_path: Path) -> Iterator[CtiService]:
    with serving(asterisk_without_reload, pg_cluster, pg_url, tmp_path,
                 truncate=("skill_groups", "ivr_menus")) as svc:
        yield svc


def test_a_change_asterisk_refuses_changes_nothing(
    asterisk_without_reload: AsteriskInstance, service: CtiService
) -> None:
    generated = asterisk_without_reload.host_path("etc", "cti")
    before = {p.name: p.read_text() for p in generated.glob("*.conf")}
    settings = service.get("/v1/skill-groups/sales/settings")

    # numbers live in the dialplan: this change needs the Reload the AMI user may not do
    r = service.http.patch("/v1/skill-groups/sales", json={"numbers": ["200", "201"],
                                                           "ring_seconds": 7})
    assert r.status_code == 502, r.text
    assert r.json()["code"] == "asterisk_refused" and "nothing was changed" in r.text

    assert service.get("/v1/skill-groups/sales/settings") == settings
    assert {p.name: p.read_text() for p in generated.glob("*.conf")} == before
    assert "201" not in asterisk_without_reload.cli("dialplan show cti-inbound")
    assert "timeout = 7" not in before["queues.conf"]
