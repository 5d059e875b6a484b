"""pg_dump, pg_restore and psql, run against the service's database URL.

The SQLAlchemy URL (``postgresql+asyncpg://user:pass@host:port/db``) becomes libpq
arguments; the password travels in ``PGPASSWORD``, never on a command line others can read
in ``ps``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cti.backup.errors import BackupError, Cancelled, ToolFailed, ToolNotFound

log = logging.getLogger(__name__)

TOOL_TIMEOUT = 3600.0  # seconds; a dump of years of history may take a while
_POLL = 0.2  # seconds between looks at a cancel request


@dataclass(frozen=True, slots=True)
class Target:
    """Where libpq programs connect: from the service's database URL."""

    host: str
    port: int
    user: str
    database: str
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> Target:
        try:
            parsed = make_url(url)
        except ArgumentError as exc:
            raise BackupError(f"not a database URL: {exc}") from exc
        if not parsed.drivername.startswith("postgresql") or not parsed.database:
            raise BackupError("the database URL must name a PostgreSQL database")
        return cls(
            host=parsed.host or "127.0.0.1",
            port=parsed.port or 5432,
            user=parsed.username or "postgres",
            database=parsed.database,
            password=parsed.password,
        )

    def args(self) -> list[str]:
        return ["-h", self.host, "-p", str(self.port), "-U", self.user]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env


def find_tool(name: str) -> str:
    """``$CTI_PG_BINDIR``, then the newest Debian ``/usr/lib/postgresql/*/bin``, then PATH.

    Debian's /usr/bin wrappers pick a version by cluster; the versioned directory is what
    matches the server we test with.
    """
    candidates: list[Path] = []
    if env := os.environ.get("CTI_PG_BINDIR"):
        candidates.append(Path(env))
    candidates.extend(
        sorted(
            Path("/usr/lib/postgresql").glob("*/bin"),
            key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
            reverse=True,
        )
    )
    for bindir in candidates:
        if (bindir / name).is_file():
            return str(bindir / name)
    found = shutil.which(name)
    if found is None:
        raise ToolNotFound(f"{name} not found: install postgresql-client or set CTI_PG_BINDIR")
    return found


def run(tool: str, argv: Sequence[str], target: Target,
        cancel: threading.Event | None = None) -> str:
    """Run a PostgreSQL program to its end; ``cancel`` set meanwhile kills it."""
    program = find_tool(tool)
    log.info("running %s %s", tool, " ".join(argv))
    deadline = time.monotonic() + TOOL_TIMEOUT
    try:
        proc = subprocess.Popen([program, *argv], env=target.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except OSError as exc:
        raise ToolNotFound(f"{tool} could not run: {exc}") from exc
    with proc:
        while True:
            try:
                stdout, stderr = proc.communicate(timeout=_POLL)
                break
            except subprocess.TimeoutExpired:
                stopped = cancel is not None and cancel.is_set()
                if stopped or time.monotonic() > deadline:
                    proc.kill()
                    proc.communicate()
                    if stopped:
                        raise Cancelled(f"{tool} stopped: the backup was cancelled") from None
                    raise ToolFailed(tool, -1, f"no result after {TOOL_TIMEOUT}s") from None
    if proc.returncode != 0:
        raise ToolFailed(tool, proc.returncode, stderr)
    return stdout


def dump(target: Target, out: Path, cancel: threading.Event | None = None) -> None:
    """One consistent snapshot (pg_dump runs in a single repeatable-read transaction).
    pg_dump truncates an existing ``out``, keeping its mode."""
    run("pg_dump", [*target.args(), "--format=custom", "--no-password",
                    f"--file={out}", target.database], target, cancel)


def table_count(target: Target) -> int:
    out = run("psql", [*target.args(), "--no-password", "-At", "-d", target.database, "-c",
                       "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"], target)
    return int(out.strip() or 0)


def restore(target: Target, dump_file: Path, *, clean: bool) -> None:
    """All or nothing (one transaction); objects owned by whoever restores."""
    argv = [*target.args(), "--no-password", "--single-transaction", "--no-owner",
            "--no-privileges", "-d", target.database]
    if clean:
        argv += ["--clean", "--if-exists"]
    run("pg_restore", [*argv, str(dump_file)], target)
