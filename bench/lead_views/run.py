"""How supervisors' views of a big campaign scale: its leads listed and exported, and
its dials searched by customer, each as a ratio to a plain query over the same rows.

Rerun: ``.venv/bin/python -m bench.lead_views [--leads 300000] [--rounds 5]``.

A throwaway PostgreSQL 15 cluster is migrated and filled with one campaign of
``--leads`` leads (Chinese names, a grade, a city), one finished dial per lead, a
disposition on every 100th, and a tenth of the leads due again (the rest scheduled).
Each phase runs ``--rounds`` times through the service's own code and its median is
divided by a baseline of the same rows, timed in the same rounds:

- ``list page``: ``lead_views.list_leads`` (a status filter, its count, a page of 50 with
  the in-call flag) / a bare ``SELECT .. ORDER BY id LIMIT 50`` of the campaign;
- ``list page, deep``: the same at offset ``leads - 100``;
- ``dials by number``: ``dial_history.search`` for one phone / the bare page above;
- ``dials by name``: ``dial_history.search`` for a name fragment / ``count(*)`` of the
  campaign's leads (one pass over the table);
- ``export``: the whole campaign through ``LeadService`` as CSV (each lead's status, the
  last disposition, every free field) / every row of the campaign fetched by asyncpg.

Writes ``bench/lead_views/last_run.json`` and ``bench/lead_views/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

FILL = """
INSERT INTO leads (campaign_id, phone, timezones, grade, fields, attempts, last_attempt_at,
                   last_outcome, next_eligible_at, first_attempt_at)
SELECT :cid, '+86139' || lpad(g::text, 8, '0'), ARRAY['Asia/Shanghai'],
       (ARRAY['H','A','B','C'])[1 + g % 4],
       jsonb_build_object('name', '客户' || g,
                          'city', (ARRAY['北京','上海','广州','成都'])[1 + g % 4]),
       1, now() - interval '2 hours', 'no_answer',
       CASE WHEN g % 10 = 0 THEN now() - interval '1 minute' ELSE now() + interval '1 day' END,
       now() - interval '2 hours'
FROM generate_series(1, :n) AS g;
INSERT INTO dial_attempts (phone, campaign_id, lead_id, call_id, seat_id, started_at,
                           ended_at, outcome)
SELECT phone, campaign_id, id, 'node1:b' || id, '1001', now() - interval '2 hours',
       now() - interval '2 hours' + interval '25 seconds', 'no_answer'
FROM leads WHERE campaign_id = :cid;
INSERT INTO dispositions (call_id, campaign_id, lead_id, phone, code, notes, seat_id)
SELECT 'node1:b' || id, campaign_id, id, phone, 'not_interested', '已有信用卡', '1001'
FROM leads WHERE campaign_id = :cid AND id % 100 = 0;
ANALYZE leads; ANALYZE dial_attempts; ANALYZE dispositions;
"""


async def _median(rounds: int, run: Callable[[], Awaitable[object]]) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def bench(url: str, leads: int, rounds: int) -> dict[str, Any]:
    import asyncpg  # type: ignore[import-untyped]
    from sqlalchemy import text

    from cti.api.outbound_service import LeadService
    from cti.config import DatabaseSettings, DialerSettings
    from cti.db import campaign_repository as repo
    from cti.db import dial_history, lead_views
    from cti.db.campaign_records import LeadStatus
    from cti.db.dial_history import DialQuery
    from cti.db.engine import make_engine, make_sessionmaker
    from dialer.campaign import cadences_to_json, delays_to_json, windows_to_json
    from dialer.schedule import DEFAULT_CADENCES, DEFAULT_RETRY_DELAYS, DEFAULT_WINDOWS

    engine = make_engine(DatabaseSettings(url=url))
    sessions = make_sessionmaker(engine)
    async with sessions() as s:
        campaign = await repo.create_campaign(s, {
            "name": "bench", "mode": "progressive", "caller_id": "4008001234",
            "default_region": "CN", "default_timezone": "Asia/Shanghai",
            "windows": windows_to_json(DEFAULT_WINDOWS), "max_attempts": 5,
            "retry_delays": delays_to_json(DEFAULT_RETRY_DELAYS),
            "grade_cadences": cadences_to_json(DEFAULT_CADENCES), "cap_per_day": 1,
            "cap_per_week": 3}, ["1001"])
        started = time.perf_counter()
        for statement in FILL.split(";"):
            if statement.strip():
                await s.execute(text(statement), {"cid": campaign.id, "n": leads})
        await s.commit()
        print(f"filled {leads:,} leads, dials and dispositions in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
    cid, now = campaign.id, datetime.now(UTC)
    raw = await asyncpg.connect(url.replace("+asyncpg", ""))
    service = LeadService(sessions, DialerSettings())
    phone = f"+86139{leads // 2:08d}"

    async def bare_page() -> None:
        await raw.fetch("SELECT * FROM leads WHERE campaign_id = $1 ORDER BY id LIMIT 50", cid)

    async def count_all() -> None:
        await raw.fetchval("SELECT count(*) FROM leads WHERE campaign_id = $1", cid)

    async def fetch_all() -> None:
        await raw.fetch("SELECT * FROM leads WHERE campaign_id = $1", cid)

    async def list_page(offset: int) -> None:
        async with sessions() as s:
            await lead_views.list_leads(s, cid, now, status=LeadStatus.DUE, limit=50,
                                        offset=offset)

    async def dials(query: DialQuery) -> None:
        async with sessions() as s:
            found, _ = await dial_history.search(s, query, limit=50, offset=0)
            assert found, query

    async def export() -> None:
        _, body = await service.export(cid, None, None)
        size = 0
        async for chunk in body:
            size += len(chunk)

    phases: list[tuple[str, Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]] = [
        ("list page", lambda: list_page(0), bare_page),
        ("list page, deep", lambda: list_page(leads // 10 - 100), bare_page),
        ("dials by number", lambda: dials(DialQuery(phone=phone)), bare_page),
        ("dials by name", lambda: dials(DialQuery(customer=f"客户{leads // 3}")), count_all),
        ("export", export, fetch_all),
    ]
    results = []
    for name, ours, baseline in phases:
        ours_s = await _median(rounds, ours)
        base_s = await _median(rounds, baseline)
        results.append({"phase": name, "seconds": ours_s, "baseline_seconds": base_s,
                        "ratio": ours_s / base_s})
        print(f"{name:>16}: {ours_s * 1000:9.1f} ms  baseline {base_s * 1000:8.1f} ms  "
              f"ratio {ours_s / base_s:7.2f}x", flush=True)
    await raw.close()
    await engine.dispose()
    return {"leads": leads, "rounds": rounds, "results": results}


def render(run: dict[str, Any], command: str) -> str:
    lines = [
        "# Supervisors' views of a big campaign",
        "",
        f"Command: `{command}`  ",
        f"Run: {run['at']}, Python {run['python']}, PostgreSQL 15 (fsync off), a shared "
        "2-core machine. One campaign of "
        f"{run['leads']:,} leads with one dial each; median of {run['rounds']} rounds.",
        "",
        "| phase | ours | baseline (same run) | ratio |",
        "|---|---|---|---|",
    ]
    baselines = {
        "list page": "bare page of 50",
        "list page, deep": "bare page of 50",
        "dials by number": "bare page of 50",
        "dials by name": "count(*) of the campaign",
        "export": "every row fetched by asyncpg",
    }
    for r in run["results"]:
        lines.append(f"| {r['phase']} | {r['seconds'] * 1000:.1f} ms | "
                     f"{r['baseline_seconds'] * 1000:.1f} ms ({baselines[r['phase']]}) | "
                     f"**{r['ratio']:.2f}x** |")
    lines += ["", "What each phase does and why its baseline: the module docstring of "
              "`bench/lead_views/run.py`.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--leads", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from cti.db.migrate import upgrade
    from cti.stack.postgres import PostgresCluster

    cluster = PostgresCluster(tempfile.mkdtemp(prefix="cti-bench-pg-"), durable=False)
    cluster.start()
    try:
        upgrade(cluster.url)
        run = asyncio.run(bench(cluster.url, args.leads, args.rounds))
    finally:
        cluster.destroy()
    run["at"] = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    run["python"] = platform.python_version()
    (HERE / "last_run.json").write_text(json.dumps(run, indent=2) + "\n")
    command = ".venv/bin/python -m bench.lead_views" + (
        f" --leads {args.leads}" if args.leads != 300_000 else "") + (
        f" --rounds {args.rounds}" if args.rounds != 5 else "")
    (HERE / "RESULTS.md").write_text(render(run, command))
