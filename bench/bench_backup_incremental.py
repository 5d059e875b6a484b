"""Incremental recordings backup vs a full copy, measured in the same run.

Usage: .venv/bin/python bench/bench_backup_incremental.py [--files 400] [--kib 256]
       [--changed 0.05] [--rounds 3]

Writes ``--files`` recordings of ``--kib`` KiB under a temporary directory, then per round:

- **full**: ``sync_recordings`` into an empty backup directory (every file copied,
  fsync'd and hashed): the baseline;
- **unchanged**: the same again with that backup's manifest entries (nothing changed);
- **changed**: after rewriting ``--changed`` of the files.

Reports each as a ratio of the full copy's time (lower is better), median over rounds.
Only the recordings half of ``cti backup`` is measured: pg_dump's time does not depend on
whether the backup is incremental.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from cti.backup.run import Synced, sync_recordings


def make_recordings(root: Path, files: int, kib: int) -> list[Path]:
    paths = []
    for i in range(files):
        path = root / f"{2026 - i % 3}" / f"{i % 12 + 1:02d}" / f"call-{i:06d}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(kib * 1024))
        paths.append(path)
    return paths


def timed(fn: Callable[[], Synced]) -> tuple[float, Synced]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--kib", type=int, default=256)
    parser.add_argument("--changed", type=float, default=0.05)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="cti-bench-backup-") as tmp:
        source = Path(tmp) / "recordings"
        paths = make_recordings(source, args.files, args.kib)
        ratios_unchanged: list[float] = []
        ratios_changed: list[float] = []
        fulls: list[float] = []
        for r in range(args.rounds):
            backup = Path(tmp) / f"backup-{r}"
            t_full, first = timed(partial(sync_recordings, source, backup, {}))
            t_same, same = timed(partial(sync_recordings, source, backup, first.entries))
            assert same.copied == 0 and same.unchanged == args.files
            for p in paths[: max(1, int(len(paths) * args.changed))]:
                p.write_bytes(os.urandom(args.kib * 1024))
            t_changed, _ = timed(partial(sync_recordings, source, backup, same.entries))
            fulls.append(t_full)
            ratios_unchanged.append(t_same / t_full)
            ratios_changed.append(t_changed / t_full)
            shutil.rmtree(backup)
        mib = args.files * args.kib / 1024
        print(f"{args.files} recordings, {mib:.0f} MiB; full copy median "
              f"{statistics.median(fulls):.3f}s")
        print(f"unchanged / full: {statistics.median(ratios_unchanged):.3f}x "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios_unchanged)})")
        print(f"{args.changed:.0%} changed / full: {statistics.median(ratios_changed):.3f}x "
              f"(rounds: {', '.join(f'{x:.3f}' for x in ratios_changed)})")


if __name__ == "__main__":
    main()
