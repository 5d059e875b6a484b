"""What the dialer_sim benches share: their common arguments (every one of them) and the
Markdown page a side bench writes (RESTARTS.md, TARGETS.md, REFERENCE.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

#: The seed every bench runs by default, so their customers are the same (common random
#: numbers) and one page's figures can be read against another's.
SEED = 20261125


def run_arguments(parser: argparse.ArgumentParser, days: int, out: Path,
                  workers: bool = False) -> None:
    """--days, --seed and --out (and --workers: 1 or 2 processes) with these defaults."""
    parser.add_argument("--days", type=int, default=days)
    parser.add_argument("--seed", type=int, default=SEED)
    if workers:
        parser.add_argument("--workers", type=int, default=2, choices=(1, 2))
    parser.add_argument("--out", type=Path, default=out)


#: The legend's sentence on the ± every page prints beside its occupancies.
INTERVAL = "± is the half-width of a 95% Student-t interval over days."


def section(title: str, columns: Sequence[str], rows: Sequence[str]) -> list[str]:
    """A page's `## title` and its table: the header of `columns`, then the `rows`."""
    return [
        "", f"## {title}", "",
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
        *rows,
    ]


def command_line(module: str, argv: Sequence[str] | None) -> str:
    """How this run was started, to rerun it: ``argv``, or the process's own."""
    given = sys.argv[1:] if argv is None else argv
    return " ".join([".venv/bin/python -m", module, *given])


def write_report(out: Path, title: str, command: str, run: str, doc: str, legend: str,
                 tables: Sequence[str]) -> None:
    """The page: its command, when and how it ran (`run`), what it measures (the body of
    the bench's docstring `doc`, between its usage line and "Writes ..."), `legend` and
    the `tables`."""
    measures = doc.split("\n\n", 2)[2].split("\n\nWrites")[0].splitlines()
    lines = [
        f"# {title}",
        "",
        f"Command: `{command}`  ",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {run}",
        "",
        *measures,
        "",
        legend,
        *tables,
    ]
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
