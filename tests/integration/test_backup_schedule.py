"""Scheduled backups in the running service: only the leading replica makes them, a
failed one shows on /metrics without failing /readyz, and a standby that takes over
carries the schedule on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.integration.conftest import BENCH_WRAPUP_SECONDS
from tests.support.service import CtiService, serving, until

pytestmark = pytest.mark.integration


def _generations(target: Path) -> list[Path]:
    if not target.is_dir():
        return []
    return sorted(p for p in target.iterdir()
                  if not p.name.startswith(".") and (p / "manifest.json").is_file())


def test_only_the_leader_backs_up_and_a_failure_does_not_fail_readiness(
    asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str, tmp_path: Path,
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the backup directory should be")
    good = tmp_path / "backups"
    schedule = {"CTI_BACKUP__INTERVAL": "3600", "CTI_BACKUP__FIRST_DELAY": "0",
                "CTI_BACKUP__RETRY_SECONDS": "3600", "CTI_BACKUP__SETTLE_SECONDS": "0"}
    with serving(asterisk, pg_cluster, pg_url, tmp_path / "a",
                 env={**schedule, "CTI_CLUSTER__REPLICA": "replica-a",
                      "CTI_BACKUP__TARGET": str(blocked / "cti")}) as a:
        until(lambda: a.metric("cti_backup_failures_total") == 1, 60, "the backup to fail")
        assert a.metric("cti_backup_failing") == 1
        assert a.metric("cti_backup_last_success_timestamp_seconds") == 0
        status, readiness = a.ready()
        assert status == 200, readiness  # the leader still takes calls
        assert "scheduled backup into" in a.log_tail(400)

        b = CtiService(asterisk, pg_url, tmp_path / "b", BENCH_WRAPUP_SECONDS)
        b.env.update({**schedule, "CTI_CLUSTER__REPLICA": "replica-b",
                      "CTI_BACKUP__TARGET": str(good)})
        b.start()
        try:
            until(lambda: b.metric("cti_replica_leads") == 0, 30, "b to stand by")
            assert b.metric("cti_backup_runs_total") == 0
            assert _generations(good) == []

            a.stop()  # b takes over, and with the lead the schedule
            until(lambda: b.metric("cti_backup_runs_total") == 1, 90, "b's first backup")
            [generation] = _generations(good)
            manifest = json.loads((generation / "manifest.json").read_text())
            assert manifest["database"]["size"] > 0
            assert b.metric("cti_backup_generations") == 1
            assert b.metric("cti_backup_failing") == 0
        finally:
            b.stop()
            print(b.log_tail(150))
