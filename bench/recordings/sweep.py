"""The retention sweep over 1,000,000 catalogue rows with their files: its duration, and
the API's p99 latency during the sweep as a ratio to the same load while idle.

    .venv/bin/python -m bench.recordings.sweep [--rows 1000000] [--idle 20]

Rows are spread evenly over 400 days across 200 seats and 4 skill groups (one with a
365-day policy), so about three quarters are past the 92-day default; 1% are on legal
hold. Each row has its file in the store (a 1,644-byte WAV: the sweep's cost is the
unlink and the rows, not the bytes). The API runs under uvicorn in its own process, which
also runs the sweep (as the in-service schedule does), started by ``POST
/v1/recordings/sweep?dry_run=false``. A load client sends, one after another, an agent's
list (``?seat_id=...&limit=20``) and a recording's detail, and records each latency:
first for ``--idle`` seconds with no sweep, then for the whole sweep.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bench.recordings.common import api_server, percentile, postgres, token
from cti.stack.postgres import PostgresCluster
from recordings import wav

DAYS = 400
SEATS = 200
FILE = wav.canonical_header(1, 8000, 16, 1600) + bytes(1600)


def populate(pg: PostgresCluster, rows: int, base: Path, now: datetime) -> None:
    start = time.perf_counter()
    # Row i: started i * (DAYS days / rows) ago; path by UTC day, like naming.store_path.
    pg.psql(f"""
        INSERT INTO recordings (call_id, node, direction, seat_id, customer_number,
            skill_group, policy_key, started_at, duration_seconds, size_bytes, sha256,
            channels, path, legal_hold)
        SELECT 'node1:' || i || '.0', 'node1', 'inbound', (1000 + i % {SEATS})::text,
            '0612' || i, g, g, t, 0.1, {len(FILE)}, repeat('0', 64), 1,
            to_char(t AT TIME ZONE 'UTC', 'YYYY/MM/DD') || '/' || i || '.0.wav', i % 100 = 0
        FROM generate_series(1, {rows}) AS i,
             LATERAL (SELECT (ARRAY['sales','support','billing','vip'])[1 + i % 4] AS g,
                      TIMESTAMPTZ '{now.isoformat()}' - (i * {DAYS * 86400.0 / rows}) *
                      INTERVAL '1 second' AS t) AS x;
        INSERT INTO recording_policies (key, retention_days) VALUES ('vip', 365);
        ANALYZE recordings;""", database="cti")
    rows_s = time.perf_counter() - start
    start = time.perf_counter()
    store = base / "store"
    day, dir_fd = "", -1
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    for i in range(1, rows + 1):
        t = now - timedelta(seconds=i * DAYS * 86400.0 / rows)
        if (d := f"{t:%Y/%m/%d}") != day:
            if dir_fd >= 0:
                os.close(dir_fd)
            (store / d).mkdir(parents=True, exist_ok=True)
            day, dir_fd = d, os.open(store / d, os.O_RDONLY | os.O_DIRECTORY)
        fd = os.open(f"{i}.0.wav", flags, 0o644, dir_fd=dir_fd)
        os.write(fd, FILE)
        os.close(fd)
    os.close(dir_fd)
    print(f"populated {rows} rows in {rows_s:.1f} s, files in {time.perf_counter() - start:.1f} s",
          flush=True)


def load(client: httpx.Client, auth: dict[str, str], stop: threading.Event,
         out: list[float], rows: int) -> None:
    rnd = random.Random(7)
    while not stop.is_set():
        seat = 1000 + rnd.randrange(SEATS)
        t = time.perf_counter()
        r = client.get("/v1/recordings", params={"seat_id": str(seat), "limit": 20},
                       headers=auth)
        out.append(time.perf_counter() - t)
        assert r.status_code == 200, r.text
        t = time.perf_counter()
        r = client.get(f"/v1/recordings/{rnd.randrange(1, rows)}", headers=auth)
        out.append(time.perf_counter() - t)
        assert r.status_code in (200, 404), r.text


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--pause", type=float, default=0.02)
    args = ap.parse_args()
    now = datetime.now(UTC).replace(microsecond=0)
    base = Path(tempfile.mkdtemp(prefix="bench-rec-sweep-"))
    try:
        with postgres() as pg:
            populate(pg, args.rows, base, now)
            sup = {"Authorization": f"Bearer {token(pg.url, 'sue', 'supervisor')}"}
            admin = {"Authorization": f"Bearer {token(pg.url, 'root', 'admin')}"}
            with api_server(pg.url, base, batch_size=args.batch, pause=args.pause) as api, \
                    httpx.Client(base_url=api, timeout=600) as c:
                idle: list[float] = []
                stop = threading.Event()
                th = threading.Thread(target=load, args=(c, sup, stop, idle, args.rows))
                th.start()
                time.sleep(args.idle)
                stop.set()
                th.join()
                during: list[float] = []
                stop = threading.Event()
                th = threading.Thread(target=load, args=(
                    httpx.Client(base_url=api, timeout=600), sup, stop, during, args.rows))
                th.start()
                t0 = time.perf_counter()
                report = c.post("/v1/recordings/sweep", params={"dry_run": "false"},
                                headers=admin).json()
                sweep_s = time.perf_counter() - t0
                stop.set()
                th.join()
            left = int(pg.psql("SELECT count(*) FROM recordings", database="cti")
                       .strip().split()[-1])
    finally:
        files_left = sum(len(f) for _, _, f in os.walk(base / "store"))
        shutil.rmtree(base, ignore_errors=True)
    p99_idle, p99_during = percentile(idle, 0.99), percentile(during, 0.99)
    result = {
        "date": now.date().isoformat(), "rows": args.rows, "batch": args.batch,
        "pause_s": args.pause, "deleted": report["deleted"], "batches": report["batches"],
        "files_missing": report["files_missing"], "files_left": files_left,
        "sweep_seconds": round(sweep_s, 1),
        "deleted_per_second": round(report["deleted"] / sweep_s),
        "requests_idle": len(idle), "requests_during": len(during),
        "p50_idle_ms": round(percentile(idle, 0.5) * 1000, 2),
        "p99_idle_ms": round(p99_idle * 1000, 2),
        "p50_during_ms": round(percentile(during, 0.5) * 1000, 2),
        "p99_during_ms": round(p99_during * 1000, 2),
        "p99_during_over_idle": round(p99_during / p99_idle, 2),
        "rows_left": left,
    }
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "last_sweep.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
