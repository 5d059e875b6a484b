"""The Markdown page a dialer_sim side bench writes (RESTARTS.md, TARGETS.md)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path


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
