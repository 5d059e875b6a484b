"""Download throughput of ``GET /v1/recordings/{id}/audio`` as a ratio to reading the
same file from disk, in the same run.

    .venv/bin/python -m bench.recordings.download [--mb 128] [--rounds 5]

The API runs under uvicorn in its own process (as in production) over a PostgreSQL
started for the run; the client streams the body with httpx and discards it. The baseline
reads the same file (warm page cache) in 256 KiB chunks. Rounds alternate; the figure is
the median of per-round ratios. A Range request for the second half is timed too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.recordings.common import api_server, postgres, token
from recordings import naming, wav

CHUNK = 256 * 1024


def read_disk(path: Path) -> float:
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while f.read(CHUNK):
            pass
    return time.perf_counter() - start


def download(client: httpx.Client, url: str, headers: dict[str, str]) -> tuple[float, int]:
    start = time.perf_counter()
    got = 0
    with client.stream("GET", url, headers=headers) as r:
        r.raise_for_status()
        for chunk in r.iter_raw(CHUNK):
            got += len(chunk)
    return time.perf_counter() - start, got


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-rec-dl-"))
    try:
        result = run(base, args.mb, args.rounds)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(result, indent=2))
    (Path(__file__).parent / "last_download.json").write_text(json.dumps(result, indent=2))


def run(base: Path, mb: int, rounds: int) -> dict[str, object]:
    started = datetime.now(UTC)
    rel = naming.store_path(started, "1.1")
    path = base / "store" / rel
    path.parent.mkdir(parents=True)
    size = mb << 20
    with open(path, "wb") as f:
        f.write(wav.canonical_header(1, 8000, 16, size))
        block = bytes(range(256)) * 4096
        for _ in range(size // len(block)):
            f.write(block)
    total = path.stat().st_size
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with postgres() as pg:
        pg.psql(
            "INSERT INTO recordings (call_id, node, started_at, duration_seconds, size_bytes,"
            f" sha256, channels, path) VALUES ('node1:1.1', 'node1', '{started.isoformat()}',"
            f" {size / 16000}, {total}, '{digest}', 1, '{rel}')", database="cti")
        auth = {"Authorization": f"Bearer {token(pg.url, 'bench', 'supervisor')}"}
        with api_server(pg.url, base) as api, httpx.Client(base_url=api, timeout=120) as c:
            url = "/v1/recordings/1/audio"
            download(c, url, auth)  # warm: page cache, connections, token cache
            read_disk(path)
            ratios, api_rates, disk_rates, range_ratios = [], [], [], []
            for _ in range(rounds):
                d = read_disk(path)
                a, got = download(c, url, auth)
                assert got == total, (got, total)
                h, got_half = download(c, url, {**auth, "Range": f"bytes={total // 2}-"})
                assert got_half == total - total // 2
                disk_rates.append(total / d / 1e6)
                api_rates.append(total / a / 1e6)
                ratios.append(d / a)
                range_ratios.append((d / 2) / h)
    result = {
        "date": started.date().isoformat(), "file_mb": round(total / 1e6, 1),
        "rounds": rounds,
        "api_over_disk_median": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "range_half_over_disk_median": round(statistics.median(range_ratios), 3),
        "api_mb_s_median": round(statistics.median(api_rates), 1),
        "disk_mb_s_median": round(statistics.median(disk_rates), 1),
    }
    return result


if __name__ == "__main__":
    main()
