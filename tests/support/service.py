"""The CTI service as a real process (``python -m cti serve``), and polling helpers.

Tests talk to it only over HTTP, as a wallboard or an agent desktop would.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
from prometheus_client.parser import text_string_to_metric_families

from cti.stack.asterisk import AsteriskInstance
from cti.stack.ports import free_port
from cti.stack.postgres import PostgresCluster

T = TypeVar("T")

# A supervisor token per database, made by an earlier service's ``cti token create``:
# each command is a Python process start (most of a second), paid by every test's service
# otherwise. It is checked once the service is up and made again if it no longer works
# (a test emptied the tokens table).
_TOKENS: dict[str, str] = {}


def until(check: Callable[[], T | None], timeout: float, what: str, every: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


class CtiService:
    def __init__(self, asterisk: AsteriskInstance, db_url: str, workdir: Path,
                 wrapup_seconds: int) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        p = asterisk.params
        self.env = {
            **os.environ,
            "CTI_ENVIRONMENT": "test",
            "CTI_LOG_LEVEL": "INFO",
            "CTI_DATABASE__URL": db_url,
            "CTI_API__PORT": str(self.port),
            "CTI_API__ACCESS_LOG": "false",  # the tests poll every 20 ms
            "CTI_AMI__NODES": json.dumps([{
                "name": "node1", "host": "127.0.0.1", "port": p.ami_port,
                "username": p.ami_username, "secret": p.ami_secret,
            }]),
            "CTI_AMI__PING_INTERVAL": "1",
            "CTI_AMI__PING_TIMEOUT": "1",
            "CTI_AMI__RECONNECT_MAX": "2",
            "CTI_HISTORY__FLUSH_INTERVAL": "0.2",
            "CTI_HISTORY__RETRY_MAX": "1",
            "CTI_HISTORY__SPILL_DIR": str(workdir / "spill"),
            "CTI_TELEPHONY__WRAPUP_SECONDS": str(wrapup_seconds),
            **asterisk.files_env(),
        }
        self._proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "service.log"
        self._db_url = db_url
        self.token = _TOKENS.get(db_url) or self._new_token()
        self.http = self._client()

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=5.0,
                            headers={"Authorization": f"Bearer {self.token}"})

    def _new_token(self) -> str:
        token = self.cli("token", "create", "--user", "wallboard", "--role",
                         "supervisor").strip().splitlines()[-1]
        _TOKENS[self._db_url] = token
        return token

    def _check_token(self) -> None:
        """Make a new token if the one kept from an earlier service is refused (an outage
        answers 503, and the kept one stays)."""
        if self.http.get("/v1/seats").status_code == 401:
            self.token = self._new_token()
            self.http.headers["Authorization"] = f"Bearer {self.token}"

    def cli(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cti", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise AssertionError(f"cti {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen([sys.executable, "-m", "cti", "serve"], env=self.env,
                                      stdout=log, stderr=subprocess.STDOUT)
        log.close()
        until(self._healthy, 30, "the service to answer /healthz")
        if self.http.is_closed:  # started again after a stop
            self.http = self._client()
        self._check_token()

    def _healthy(self) -> bool:
        if self._proc is not None and self._proc.poll() is not None:
            raise AssertionError(f"service exited: {self.log_tail()}")
        try:
            return httpx.get(f"{self.base_url}/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(15)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
            self._proc = None
        self.http.close()

    def crash(self) -> None:
        """Kill the process (SIGKILL): nothing of it runs to its end, as in a crash or an
        OOM kill. ``start`` brings up a new one on the same port and database."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait(5)
            self._proc = None

    def wait_exit(self, timeout: float) -> int:
        """The process's exit status once it ends by itself (e.g. a deposed leader)."""
        assert self._proc is not None, "the service was not started"
        code = self._proc.wait(timeout)
        self._proc = None
        return code

    def log_tail(self, n: int = 60) -> str:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])

    def get(self, path: str, **params: Any) -> Any:
        r = self.http.get(path, params=params)
        r.raise_for_status()
        return r.json()

    def metric(self, name: str, **labels: str) -> float | None:
        """One sample of the service's Prometheus page, read by Prometheus's own parser
        (None: the page has no such sample)."""
        r = self.http.get("/metrics")
        r.raise_for_status()
        want = sorted(labels.items())
        for family in text_string_to_metric_families(r.text):
            for sample in family.samples:
                if sample.name == name and sorted(sample.labels.items()) == want:
                    return float(sample.value)
        return None

    def ready(self) -> tuple[int, Any]:
        r = httpx.get(f"{self.base_url}/readyz", timeout=5)
        return r.status_code, r.json()

    def wait_ready(self, timeout: float = 30) -> None:
        until(lambda: self.ready()[0] == 200, timeout, "the service to be ready")

    def history_written(self) -> bool:
        """The history writer holds nothing: all it was given is in PostgreSQL.

        The API answers for an ended call (listed, and its detail with its whole timeline)
        from the writer the moment it leaves the live mirror; the seat log comes from
        PostgreSQL alone.
        """
        _, readiness = self.ready()
        writer = next(c for c in readiness["components"] if c["name"] == "history")
        return bool(writer["detail"]["pending"] == 0)


@contextlib.contextmanager
def serving(
    asterisk: AsteriskInstance,
    pg_cluster: PostgresCluster,
    db_url: str,
    workdir: Path,
    *,
    truncate: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    wrapup_seconds: int = 2,
    groups_wrap_up: bool = False,
) -> Iterator[CtiService]:
    """The service as a process over a clean slate of ``truncate``d tables, ready; stopped
    afterwards (its log printed for the test report, PostgreSQL started again if a test
    stopped it). ``groups_wrap_up``: the stored skill groups wrap up for
    ``wrapup_seconds`` too (else as stored: the seed's 10 s, if an earlier module seeded
    them; the service applies what is stored)."""
    if not pg_cluster.is_running():
        pg_cluster.start()
    if truncate:
        pg_cluster.psql(f"TRUNCATE {', '.join(truncate)} CASCADE", database="cti")
    if groups_wrap_up:
        pg_cluster.psql(f"UPDATE skill_groups SET wrapup_seconds = {int(wrapup_seconds)}",
                        database="cti")
    svc = CtiService(asterisk, db_url, workdir / "service", wrapup_seconds)
    svc.env.update(env or {})
    svc.start()
    try:
        svc.wait_ready()
        yield svc
    finally:
        svc.stop()
        if not pg_cluster.is_running():
            pg_cluster.start()
        print(svc.log_tail(150))
