"""Running a campaign on the real bench over REST, and reading what it did from PostgreSQL.

Shared by the live campaign tests (tests/integration/test_campaign_live.py, the
bench-only predictive run in test_campaign_predictive.py), with their fixtures
(``bench_fixtures``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple, TypeVar
from zoneinfo import ZoneInfo

import pytest

from cti.stack.asterisk import AsteriskInstance
from cti.stack.postgres import PostgresCluster
from tests.support.bench import reset_asterisk, running_asterisk, sipp_bench
from tests.support.service import CtiService, serving, until
from tests.support.sipp import SippBench

AttemptRow = tuple[str, str, str, str]
T = TypeVar("T")
#: A fixture as ``pytest.fixture`` leaves it, by what it yields to a test. (pytest 8.4+
#: wraps the function in an object whose ``__call__`` returns Any, so mypy accepts it here
#: without checking the yield; earlier versions return the function itself.)
Fixture = Callable[..., Iterator[T]]

#: What a campaign run leaves behind; each test's service starts with them empty.
CAMPAIGN_TABLES = ("calls", "call_events", "seat_state_log", "seats", "recordings",
                   "dial_attempts", "dnc", "campaigns", "cel")


class BenchFixtures(NamedTuple):
    """A live campaign module's fixtures, in the order its names bind them."""

    bench_asterisk: Fixture[AsteriskInstance]
    bench: Fixture[SippBench]
    service: Fixture[CtiService]


def bench_fixtures(agents: Sequence[str], *, wrapup_seconds: int,
                   env: Mapping[str, str]) -> BenchFixtures:
    """A live campaign module's three fixtures, for it to bind to these names::

        bench_asterisk, bench, service = bench_fixtures(AGENTS, wrapup_seconds=2, env={...})

    ``agents`` are the Asterisk's seats, ``wrapup_seconds`` its queues' wrap-up (and the
    service's), ``env`` what the service's environment adds (``CTI_DIALER__...``).
    """

    @pytest.fixture(scope="module")
    def bench_asterisk(tmp_path_factory: pytest.TempPathFactory, pg_cluster: PostgresCluster,
                       pg_url: str) -> Iterator[AsteriskInstance]:
        """One Asterisk for the module, its seats static contacts where SIPp agents listen,
        its channel event log in the tests' (migrated) database."""
        with running_asterisk(lambda: tmp_path_factory.mktemp("asterisk"), extensions=agents,
                              wrapup_seconds=wrapup_seconds,
                              cel=pg_cluster.cel_database()) as instance:
            yield instance

    @pytest.fixture
    def bench(bench_asterisk: AsteriskInstance, tmp_path: Path) -> Iterator[SippBench]:
        """The SIPp bench for one test; afterwards its processes are stopped and Asterisk
        reset (calls hung up, queue members removed): no test inherits the last's agents."""
        sipp = sipp_bench(bench_asterisk, tmp_path / "sipp")
        try:
            yield sipp
        finally:
            sipp.close()
            reset_asterisk(bench_asterisk)

    @pytest.fixture
    def service(bench_asterisk: AsteriskInstance, pg_cluster: PostgresCluster, pg_url: str,
                tmp_path: Path) -> Iterator[CtiService]:
        """The service for one test, over empty ``CAMPAIGN_TABLES``, its skill groups
        wrapping up for ``wrapup_seconds`` (the database outlives the module: groups an
        earlier module seeded keep the seed's 10 s, which the service would apply)."""
        with serving(bench_asterisk, pg_cluster, pg_url, tmp_path, wrapup_seconds=wrapup_seconds,
                     groups_wrap_up=True, truncate=CAMPAIGN_TABLES, env=env) as svc:
            yield svc

    return BenchFixtures(bench_asterisk, bench, service)


def shanghai_window(now: datetime) -> dict[str, str]:
    """A window around now in Shanghai that does not reach London's wall clock (8 h off)."""
    local = now.astimezone(ZoneInfo("Asia/Shanghai"))
    start = max(local - timedelta(hours=1), local.replace(hour=0, minute=0))
    end = min(local + timedelta(hours=2), local.replace(hour=23, minute=59))
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}


def import_leads(svc: CtiService, campaign_id: int, body: str) -> dict[str, Any]:
    r = svc.http.post(f"/v1/campaigns/{campaign_id}/leads", content=body.encode(),
                      headers={"Content-Type": "text/csv"}, timeout=60)
    assert r.status_code in (200, 201, 202), r.text
    if r.status_code != 202:
        return dict(r.json())
    location = r.headers["Location"]

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = svc.get(location)
        return job if job["state"] in ("done", "failed") else None

    return until(done, 60, "the lead import")


def attempt_rows(pg: PostgresCluster, after_id: int = 0) -> list[AttemptRow]:
    """(phone, outcome or '-', started, ended or '-') of the attempts with an id over
    ``after_id`` (a history seeded before the run has the lower ids)."""
    out = pg.psql("SELECT phone, coalesce(outcome, '-'), extract(epoch from started_at), "
                  "coalesce(extract(epoch from ended_at)::text, '-') FROM dial_attempts "
                  f"WHERE id > {int(after_id)} ORDER BY id", database="cti")
    return [tuple(line.split("|")) for line in out.splitlines() if line]  # type: ignore[misc]


def occupancy(pg: PostgresCluster, seats: Sequence[str], since: float, until_: float) -> float:
    """Talk, ringing and wrap-up over logged-in time of the agents, from the seat log."""
    out = pg.psql(
        "SELECT seat_id, state, extract(epoch from at) FROM seat_state_log "
        "ORDER BY seat_id, at, id", database="cti")
    busy = logged = 0.0
    rows = [line.split("|") for line in out.splitlines() if line]
    for seat in seats:
        mine = [(state, float(at)) for s, state, at in rows if s == seat]
        for (state, at), nxt in zip(mine, [*mine[1:], ("end", until_)], strict=True):
            start, end = max(at, since), min(nxt[1], until_)
            if end <= start or state in ("offline", "paused"):
                continue
            logged += end - start
            if state in ("on_call", "ringing", "wrap_up", "busy"):
                busy += end - start
    return busy / logged if logged else 0.0


def seat_log(pg: PostgresCluster) -> list[tuple[str, str, float]]:
    """(seat, state, epoch seconds) of every seat state change, in order."""
    out = pg.psql("SELECT seat_id, state, extract(epoch from at) FROM seat_state_log "
                  "ORDER BY at, id", database="cti")
    return [(s, state, float(at)) for s, state, at in (
        line.split("|") for line in out.splitlines() if line)]


def dwell_times(log: Sequence[tuple[str, str, float]], since: float,
                until_: float) -> dict[str, list[float]]:
    """How long each visit of a seat to a state lasted, by state, for the visits that
    began and ended inside [since, until_]."""
    last: dict[str, tuple[str, float]] = {}
    out: dict[str, list[float]] = {}
    for seat, state, at in log:
        previous = last.get(seat)
        if previous is not None and since <= previous[1] and at <= until_:
            out.setdefault(previous[0], []).append(at - previous[1])
        last[seat] = (state, at)
    return out


def free_seats_at(log: Sequence[tuple[str, str, float]], at: float) -> int:
    """Seats whose last logged state at ``at`` was available (the mirror's view)."""
    state: dict[str, str] = {}
    for seat, s, when in log:
        if when > at:
            break
        state[seat] = s
    return sum(1 for s in state.values() if s == "available")


def abandon_report(pg: PostgresCluster, asterisk: AsteriskInstance, service: CtiService,
                   lines_per_call: int = 30) -> str:
    """Why each abandoned attempt was abandoned, for a failing run's report: the service's
    abandon line (the group as its mirror had it) and what Asterisk logged of the call
    (its dialplan from the NoOp naming the attempt, app_queue's ringing, the hangup)."""
    ids = [int(i) for i in pg.psql("SELECT id FROM dial_attempts WHERE outcome = 'abandoned' "
                                   "ORDER BY id", database="cti").split()]
    if not ids:
        return "no attempt abandoned"
    out = [line for line in service.log_path.read_text(errors="replace").splitlines()
           if "abandoned: no agent took it" in line or "settled from the channel" in line]
    log = asterisk.messages_log.read_text(errors="replace").splitlines()
    for attempt in ids:
        call = next((m[1] for line in log if '"campaign ' in line
                     and (m := re.search(r"\[(C-[0-9a-f]+)\].*attempt (\d+)\"", line))
                     and int(m[2]) == attempt), None)
        out.append(f"-- attempt {attempt}, Asterisk call {call}:")
        out += [line for line in log if call and f"[{call}]" in line][:lines_per_call]
    return "\n".join(out)
