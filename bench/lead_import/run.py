"""Lead import benchmark: 1,000,000 CSV rows through the streaming import into PostgreSQL.

Rerun: ``.venv/bin/python -m bench.lead_import`` (``--rows N`` for a smaller run).

One run generates a CSV file (UTF-8, Chinese free fields, 1% duplicates and 1% bad numbers),
starts a throwaway PostgreSQL 15 cluster, migrates it, and times each phase in its own
process (so each peak RSS is its own):

- ``csv``: ``csv.reader`` over the file, nothing else (the parsing floor);
- ``copy``: asyncpg ``COPY FROM STDIN`` of the same file into a plain table (the database
  floor: no validation, no dedupe, no indexes but the table's own);
- ``parse_before``: the parser with every number through ``phonenumbers.parse`` and no
  cache, as before the fast path (the same-run baseline for the speed-up);
- ``parse``: our parser alone (``dialer.leads``: encoding detection, phonenumbers
  validation, E.164, time zones, dedupe), no database;
- ``parse_pool``: the same parser as the import job runs it
  (``cti.imports.pipeline.parse_stream``: phonenumbers work in ``--workers`` processes,
  or a thread with ``--workers 0``);
- ``import``: the whole import as the background job runs it (the spooled file through
  ``parse_stream`` with its process pool into ``cti.db.campaign_repository.import_leads``:
  COPY batches, ``INSERT .. ON CONFLICT`` dedupe against the campaign, one commit per
  batch with the job's counters);
- ``import_10pct``: the same on the first tenth of the file, to show the peak RSS does not
  grow with the input beyond the dedupe set.

Results: ``bench/lead_import/last_run.json`` and a table on stdout (copied by hand into
``bench/lead_import/RESULTS.md``).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
CHUNK = 64 * 1024
CITIES = ["北京", "上海", "广州", "深圳", "乌鲁木齐", "成都", "杭州", "武汉"]


def generate(path: Path, rows: int) -> dict[str, int]:
    """``rows`` data rows: unique mobile numbers, every 100th a duplicate, every 100th
    (offset 50) a bad number."""
    dups = bad = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write("phone,name,grade,city\n")
        last = ""
        for i in range(rows):
            if i % 100 == 99:
                phone, dups = last, dups + 1
            elif i % 100 == 50:
                phone, bad = f"12{i % 1000:03d}", bad + 1
            else:
                # A permutation of 8-digit suffixes: unique, not sequential.
                phone = f"139{(i * 48271) % 100_000_000:08d}"
                last = phone
            f.write(f"{phone},客户{i},{'HABC'[i % 4]},{CITIES[i % len(CITIES)]}\n")
    return {"rows": rows, "duplicates": dups, "bad": bad}


WORKERS = 0  # --workers; the service's default is DialerSettings.import_workers


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_child_rss_mb() -> float:
    """The largest worker process (the pool's), once they have exited."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def phase_csv(path: Path) -> int:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        next(reader)
        return sum(1 for _ in reader)


async def phase_copy(path: Path, url: str) -> int:
    import asyncpg  # type: ignore[import-untyped]

    conn = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        await conn.execute("DROP TABLE IF EXISTS raw_leads; CREATE TABLE raw_leads "
                           "(phone text, name text, grade text, city text)")
        status = await conn.copy_to_table(
            "raw_leads", source=str(path), format="csv", header=True
        )
        await conn.execute("DROP TABLE raw_leads")
    finally:
        await conn.close()
    return int(status.split()[-1])


def phase_parse_before(path: Path) -> int:
    """The parser as it was before the fast path and the cache: every number through
    ``phonenumbers.parse`` (the same-run baseline for the parsing speed-up)."""
    from dialer import numbers

    numbers._parse_plain = lambda text, region: None
    numbers._parse_cached = numbers._parse_cached.__wrapped__  # type: ignore[assignment]
    return phase_parse(path)


def phase_parse(path: Path) -> int:
    from dialer.leads import ImportOptions, Lead, LeadParser

    parser = LeadParser(ImportOptions(default_region="CN"))
    good = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            good += sum(isinstance(i, Lead) for i in parser.feed(chunk))
    good += sum(isinstance(i, Lead) for i in parser.finish())
    return good


async def phase_parse_pool(path: Path) -> int:
    from cti.imports.pipeline import parse_stream, process_pool
    from cti.imports.spool import read_file
    from dialer.leads import ImportOptions, Lead

    pool = process_pool(WORKERS) if WORKERS else None
    good = 0
    try:
        async for batch in parse_stream(read_file(path), ImportOptions(default_region="CN"),
                                        pool, workers=WORKERS):
            good += sum(isinstance(i, Lead) for i in batch.items)
    finally:
        if pool is not None:
            pool.shutdown()
    return good


async def phase_import(path: Path, url: str) -> int:
    from cti.config import DatabaseSettings
    from cti.db import campaign_repository as repo
    from cti.db import lead_import_repository as jobs
    from cti.db.engine import make_engine, make_sessionmaker
    from cti.imports.pipeline import parse_stream, prefetched, process_pool
    from cti.imports.spool import read_file
    from dialer.campaign import cadences_to_json, delays_to_json, windows_to_json
    from dialer.leads import ImportOptions
    from dialer.schedule import DEFAULT_CADENCES, DEFAULT_RETRY_DELAYS, DEFAULT_WINDOWS

    engine = make_engine(DatabaseSettings(url=url))
    sessions = make_sessionmaker(engine)
    try:
        async with sessions() as s:
            campaign = await repo.create_campaign(s, {
                "name": f"bench-{time.time_ns()}", "mode": "progressive",
                "caller_id": "4008001234", "default_region": "CN",
                "windows": windows_to_json(DEFAULT_WINDOWS), "max_attempts": 5,
                "retry_delays": delays_to_json(DEFAULT_RETRY_DELAYS),
                "grade_cadences": cadences_to_json(DEFAULT_CADENCES),
                "cap_per_day": 1, "cap_per_week": 3,
            }, [])
            size = await asyncio.to_thread(os.path.getsize, path)
            job = await jobs.create_import(s, campaign.id, {}, str(path), size)
        pool = process_pool(WORKERS) if WORKERS else None
        try:
            batches = prefetched(parse_stream(read_file(path), ImportOptions(default_region="CN"),
                                              pool, workers=WORKERS))
            async with sessions() as s:
                report = await repo.import_leads(s, campaign.id, batches,
                                                 now=datetime.now(UTC), import_id=job.id)
        finally:
            if pool is not None:
                pool.shutdown()
        return report.imported
    finally:
        await engine.dispose()


def run_phase(name: str, path: Path, url: str) -> dict[str, Any]:
    started = time.perf_counter()
    if name == "csv":
        rows = phase_csv(path)
    elif name == "copy":
        rows = asyncio.run(phase_copy(path, url))
    elif name == "parse":
        rows = phase_parse(path)
    elif name == "parse_before":
        rows = phase_parse_before(path)
    elif name == "parse_pool":
        rows = asyncio.run(phase_parse_pool(path))
    else:
        rows = asyncio.run(phase_import(path, url))
    seconds = time.perf_counter() - started
    return {"phase": name, "rows_out": rows, "seconds": seconds, "peak_rss_mb": peak_rss_mb(),
            "peak_worker_rss_mb": peak_child_rss_mb()}


def _child(name: str, path: Path, url: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "bench.lead_import", "--phase", name, "--file", str(path),
         "--url", url, "--workers", str(WORKERS)],
        check=True, capture_output=True, text=True, cwd=HERE.parents[1],
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    global WORKERS
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=WORKERS,
                    help="processes validating numbers (0: a thread, as import_workers=0)")
    ap.add_argument("--phase", help=argparse.SUPPRESS)
    ap.add_argument("--file", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    WORKERS = args.workers
    if args.phase:
        print(json.dumps(run_phase(args.phase, Path(args.file), args.url)))
        return

    from cti.db.migrate import upgrade
    from cti.stack.postgres import PostgresCluster

    with tempfile.TemporaryDirectory(prefix="cti-bench-leads-") as tmp:
        big, small = Path(tmp) / "leads.csv", Path(tmp) / "leads_10pct.csv"
        t = time.perf_counter()
        shape = generate(big, args.rows)
        generate(small, args.rows // 10)
        print(f"generated {args.rows:,} rows ({big.stat().st_size / 1e6:.0f} MB) "
              f"in {time.perf_counter() - t:.1f}s", flush=True)
        cluster = PostgresCluster(tempfile.mkdtemp(prefix="cti-bench-pg-"), durable=False)
        cluster.start()
        try:
            upgrade(cluster.url)
            results = []
            for name, path in (("csv", big), ("copy", big), ("parse_before", big), ("parse", big),
                               ("parse_pool", big), ("import", big), ("import_10pct", small)):
                r = _child("import" if name == "import_10pct" else name, path, cluster.url)
                r["phase"] = name
                r["rows_in"] = args.rows if path is big else args.rows // 10
                r["rows_per_s"] = r["rows_in"] / r["seconds"]
                results.append(r)
                print(f"{name:>13}: {r['rows_per_s']:>10,.0f} rows/s  {r['seconds']:7.1f} s  "
                      f"peak RSS {r['peak_rss_mb']:6.0f} MB (worker "
                      f"{r['peak_worker_rss_mb']:4.0f} MB)  out {r['rows_out']:,}", flush=True)
        finally:
            cluster.destroy()
    by = {r["phase"]: r for r in results}
    ratios = {
        "import_vs_csv_reader_speed": by["import"]["rows_per_s"] / by["csv"]["rows_per_s"],
        "import_vs_plain_copy_speed": by["import"]["rows_per_s"] / by["copy"]["rows_per_s"],
        "parse_vs_csv_reader_speed": by["parse"]["rows_per_s"] / by["csv"]["rows_per_s"],
        "parse_vs_parse_before_speed": by["parse"]["rows_per_s"]
        / by["parse_before"]["rows_per_s"],
        "import_vs_parse_before_speed": by["import"]["rows_per_s"]
        / by["parse_before"]["rows_per_s"],
        "import_vs_parse_speed": by["import"]["rows_per_s"] / by["parse"]["rows_per_s"],
        "parse_pool_vs_parse_speed": by["parse_pool"]["rows_per_s"] / by["parse"]["rows_per_s"],
        "import_rss_vs_csv_reader_rss": by["import"]["peak_rss_mb"] / by["csv"]["peak_rss_mb"],
        "import_rss_1m_vs_10pct": by["import"]["peak_rss_mb"] / by["import_10pct"]["peak_rss_mb"],
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.3f}")
    (HERE / "last_run.json").write_text(json.dumps({
        "command": f"python -m bench.lead_import --rows {args.rows} --workers {WORKERS}",
        "workers": WORKERS,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_average_at_end": os.getloadavg(),
        "python": platform.python_version(),
        "input": shape,
        "results": results,
        "ratios": ratios,
    }, indent=2, ensure_ascii=False) + "\n")
