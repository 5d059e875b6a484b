"""A PostgreSQL cluster the service or the tests own: initdb, start, stop, on loopback only.

The cluster listens on 127.0.0.1 only, trusts loopback connections (nothing else can reach
it) and keeps its unix socket inside the data directory, so several clusters never
collide. PostgreSQL refuses to run as root: when we are root, its programs run as the
``postgres`` OS user (created if missing) and the data directory is owned by that user.

Exceptions::

    PostgresError            base of everything raised here
    +-- PostgresNotFound     no PostgreSQL server binaries on this host
    +-- PostgresCommandError a PostgreSQL program failed (initdb, pg_ctl, psql)
    +-- PostgresStartError   the server did not come up (or died) within the timeout
"""

from __future__ import annotations

import logging
import os
import pwd
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

from cti.stack.ports import free_port
from cti.stack.render import CelDatabase

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_NOT_DURABLE = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


class PostgresError(Exception):
    """Base of the errors raised by the PostgreSQL stack helper."""


class PostgresNotFound(PostgresError):
    """No PostgreSQL server binaries (initdb, pg_ctl, postgres) were found."""


class PostgresCommandError(PostgresError):
    """A PostgreSQL program exited with an error."""


class PostgresStartError(PostgresError):
    """The server did not accept connections within the timeout, or it died."""


def find_bindir() -> Path:
    """The directory holding ``initdb``/``pg_ctl``/``postgres``.

    Order: ``$CTI_PG_BINDIR``, ``pg_config --bindir``, the newest
    ``/usr/lib/postgresql/*/bin`` (Debian), then ``initdb`` on PATH.
    """
    candidates: list[Path] = []
    if env := os.environ.get("CTI_PG_BINDIR"):
        candidates.append(Path(env))
    if pg_config := shutil.which("pg_config"):
        try:
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            candidates.append(Path(out))
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    if initdb := shutil.which("initdb"):
        candidates.append(Path(initdb).parent)
    for bindir in candidates:
        if all((bindir / prog).is_file() for prog in ("initdb", "pg_ctl", "postgres")):
            return bindir
    raise PostgresNotFound(
        "PostgreSQL server binaries not found (tried "
        + ", ".join(str(c) for c in candidates or [Path("<none>")])
        + "); install the postgresql package or set CTI_PG_BINDIR"
    )


def _ensure_os_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    log.info("creating OS user %s to run PostgreSQL", name)
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return pwd.getpwnam(name)


class PostgresCluster:
    """One PostgreSQL cluster in ``data_dir``, listening on ``host:port``.

    ``durable=False`` turns fsync off: fine for throwaway test clusters, never for data
    you keep. ``port=None`` picks a free port once; it stays the same across restarts so
    that :attr:`url` keeps working after :meth:`stop` and :meth:`start`.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        database: str = "cti",
        user: str = "cti",
        superuser: str = "postgres",
        bindir: str | os.PathLike[str] | None = None,
        os_user: str | None = None,
        durable: bool = True,
        settings: Mapping[str, str] | None = None,
    ) -> None:
        for ident in (database, user, superuser):
            if not _IDENTIFIER.match(ident):
                raise ValueError(f"not a plain lower-case SQL identifier: {ident!r}")
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self._port_given = port is not None
        self.port = port if port is not None else free_port(host)
        self.database = database
        self.user = user
        self.superuser = superuser
        self._bindir = Path(bindir) if bindir is not None else None
        if os_user is None and os.geteuid() == 0:
            os_user = "postgres"
        self.os_user = os_user
        self._settings = dict(_NOT_DURABLE if not durable else {})
        self._settings.update(settings or {})
        self._started_once = False

    # -- addresses -------------------------------------------------------------------

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the service database, as the service role."""
        return self.url_for(self.database)

    def url_for(self, database: str, *, user: str | None = None) -> str:
        return f"postgresql+asyncpg://{user or self.user}@{self.host}:{self.port}/{database}"

    def cel_database(self) -> CelDatabase:
        """Where an Asterisk writes its channel event log: this cluster's service
        database, as the service role (trusted on loopback)."""
        return CelDatabase(host=self.host, port=self.port, dbname=self.database,
                           user=self.user)

    @property
    def superuser_url(self) -> str:
        return self.url_for(self.database, user=self.superuser)

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            self._bindir = find_bindir()
        return self._bindir

    # -- lifecycle -------------------------------------------------------------------

    @property
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def init(self) -> None:
        """Create the cluster (initdb) unless it exists: trust on loopback only."""
        if self.initialized:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.os_user is not None:
            account = _ensure_os_user(self.os_user)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        self.data_dir.chmod(0o700)
        if self.os_user is not None:
            check = self._run(["test", "-w", str(self.data_dir)], as_owner=True, check=False)
            if check.returncode != 0:
                raise PostgresCommandError(
                    f"OS user {self.os_user} cannot reach {self.data_dir}: "
                    "a parent directory is not traversable by it (use e.g. /tmp/<dir>)"
                )
        log.info("initdb %s", self.data_dir)
        self._run(
            [
                str(self.bindir / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.superuser,
                "--auth",
                "trust",
                "--encoding",
                "UTF8",
                "--no-locale",
            ],
            as_owner=True,
        )
        hba = (
            "# written by cti.stack.postgres: loopback only, trusted\n"
            "local   all  all                trust\n"
            "host    all  all  127.0.0.1/32  trust\n"
            "host    all  all  ::1/128       trust\n"
        )
        (self.data_dir / "pg_hba.conf").write_text(hba)

    def start(self, timeout: float = 30.0) -> None:
        """Start the server (initdb first if needed), wait for it, create role and db."""
        self.init()
        if self.is_running():
            log.info("PostgreSQL in %s already running", self.data_dir)
        else:
            attempts = 1 if (self._port_given or self._started_once) else 3
            for attempt in range(1, attempts + 1):
                try:
                    self._start_server(timeout)
                    break
                except PostgresStartError:
                    # A free port can be taken between picking it and binding it.
                    if attempt == attempts or self.is_running():
                        raise
                    self.port = free_port(self.host)
                    log.warning("PostgreSQL did not start; retrying on port %d", self.port)
        self._started_once = True
        self._bootstrap()

    def stop(self, timeout: float = 30.0) -> None:
        """Fast shutdown: disconnect clients, checkpoint, exit."""
        if not self.is_running():
            return
        log.info("stopping PostgreSQL on %s:%d", self.host, self.port)
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "--pgdata",
                str(self.data_dir),
                "--mode",
                "fast",
                "--wait",
                "--timeout",
                str(max(1, int(timeout))),
                "stop",
            ],
            as_owner=True,
            timeout=timeout + 5,
        )

    def is_running(self) -> bool:
        if not self.initialized:
            return False
        res = self._run(
            [str(self.bindir / "pg_ctl"), "--pgdata", str(self.data_dir), "status"],
            as_owner=True,
            check=False,
        )
        return res.returncode == 0

    def accepts_connections(self) -> bool:
        res = self._run(
            [
                str(self.bindir / "pg_isready"),
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--username",
                self.superuser,
                "--dbname",
                "postgres",
                "--timeout",
                "2",
            ],
            check=False,
        )
        return res.returncode == 0

    def destroy(self) -> None:
        """Stop the server and delete the data directory (throwaway clusters)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> PostgresCluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- SQL as the superuser --------------------------------------------------------

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser; returns unaligned, tuples-only output."""
        res = self._run(
            [
                str(self.bindir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set",
                "ON_ERROR_STOP=1",
                "--host",
                self.host,
                "--port",
                str(self.port),
                "--username",
                self.superuser,
                "--dbname",
                database,
                "--command",
                sql,
            ]
        )
        return res.stdout.strip()

    def create_database(self, name: str, *, owner: str | None = None) -> None:
        """Create a database (owned by the service role) unless it exists."""
        owner = owner or self.user
        for ident in (name, owner):
            if not _IDENTIFIER.match(ident):
                raise ValueError(f"not a plain lower-case SQL identifier: {ident!r}")
        if self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'") != "1":
            self.psql(f'CREATE DATABASE "{name}" OWNER "{owner}"')

    def drop_database(self, name: str) -> None:
        if not _IDENTIFIER.match(name):
            raise ValueError(f"not a plain lower-case SQL identifier: {name!r}")
        self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # -- internals -------------------------------------------------------------------

    def _start_server(self, timeout: float) -> None:
        options = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.data_dir),
            **self._settings,
        }
        opts = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in options.items())
        log.info("starting PostgreSQL on %s:%d (data %s)", self.host, self.port, self.data_dir)
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "--pgdata",
                str(self.data_dir),
                "--log",
                str(self.log_file),
                "--options",
                opts,
                "--no-wait",
                "start",
            ],
            as_owner=True,
        )
        started = time.monotonic()
        deadline = started + timeout
        delay = 0.05
        while True:
            if self.accepts_connections():
                log.info("PostgreSQL accepts connections on %s:%d", self.host, self.port)
                return
            # postmaster.pid appears a moment after pg_ctl returns: allow a grace second.
            if time.monotonic() - started > 1.0 and not self.is_running():
                raise PostgresStartError(f"PostgreSQL exited during start-up:\n{self._log_tail()}")
            if time.monotonic() >= deadline:
                raise PostgresStartError(
                    f"PostgreSQL did not accept connections within {timeout:.0f}s:\n"
                    f"{self._log_tail()}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def _bootstrap(self) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_roles WHERE rolname = '{self.user}'")
        if exists != "1":
            self.psql(f'CREATE ROLE "{self.user}" LOGIN')
        self.create_database(self.database)

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError as exc:
            return f"(no server log: {exc})"
        return "\n".join(text.splitlines()[-lines:])

    def _run(
        self,
        args: Sequence[str],
        *,
        as_owner: bool = False,
        check: bool = True,
        timeout: float = 60.0,
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        user: int | None = None
        group: int | None = None
        extra_groups: list[int] | None = None
        if as_owner and self.os_user is not None and os.geteuid() == 0:
            account = _ensure_os_user(self.os_user)
            user, group, extra_groups = account.pw_uid, account.pw_gid, []
            env["HOME"] = str(self.data_dir)
        try:
            res = subprocess.run(
                list(args),
                capture_output=True,
                text=True,
                env=env,
                cwd="/",
                user=user,
                group=group,
                extra_groups=extra_groups,
                timeout=timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresCommandError(f"{Path(args[0]).name} failed: {exc}") from exc
        if check and res.returncode != 0:
            raise PostgresCommandError(
                f"{Path(args[0]).name} exited with {res.returncode}: "
                f"{(res.stderr or res.stdout).strip()}"
            )
        return res
