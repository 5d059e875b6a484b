"""One Asterisk 22 instance the tests (or a developer) own: render, start, CLI, stop.

Asterisk comes from PATH when that is version 22, else from the cached Debian unstable
root that ``scripts/provision-asterisk.sh`` builds; it then runs as
``chroot ROOT asterisk -f -C <conf>``. The instance directory lives inside that root, so
there are two views of every path: as Asterisk sees it (``PurePosixPath``) and as this
host sees it (``host_path``).

Exceptions::

    AsteriskError             base of everything raised here
    +-- AsteriskNotFound      no Asterisk 22 on PATH nor in the cached root
    +-- AsteriskStartError    it did not boot (or died) within the timeout
    +-- AsteriskCommandError  a CLI command failed or timed out
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from types import TracebackType

from cti.stack.ports import free_port, free_port_range, port_taken
from cti.stack.render import (
    AsteriskParams,
    Seat,
    default_seats,
    generated_defaults,
    render,
    write_config,
)

log = logging.getLogger(__name__)

ASTERISK_MAJOR = 22
DEFAULT_ROOT = Path("/var/cache/cti/asterisk-root")
PROVISION_SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "provision-asterisk.sh"
_CHROOT_BINARY = PurePosixPath("/usr/sbin/asterisk")
_INSTANCES_IN_ROOT = PurePosixPath("/var/tmp/cti-asterisk")


class AsteriskError(Exception):
    """Base of the errors raised by the Asterisk stack helper."""


class AsteriskNotFound(AsteriskError):
    """Neither PATH nor the cached root holds Asterisk 22."""


class AsteriskStartError(AsteriskError):
    """Asterisk did not become ready within the timeout, or exited."""


class AsteriskCommandError(AsteriskError):
    """An ``asterisk -rx`` command failed or timed out."""


def _is_major(version_output: str) -> bool:
    return re.match(rf"Asterisk {ASTERISK_MAJOR}\.", version_output.strip()) is not None


@dataclass(frozen=True, slots=True)
class Installation:
    """Where Asterisk lives: a binary on this host, or a binary inside a chroot."""

    binary: PurePosixPath
    root: Path | None = None

    def command(self, *args: str) -> list[str]:
        if self.root is None:
            return [str(self.binary), *args]
        return ["chroot", str(self.root), str(self.binary), *args]

    def host_path(self, path: PurePosixPath) -> Path:
        """``path`` as Asterisk sees it -> the same file as seen from this host."""
        if self.root is None:
            return Path(path)
        return self.root / path.relative_to("/")

    def version(self) -> str:
        done = subprocess.run(
            self.command("-V"), capture_output=True, text=True, timeout=30, check=False
        )
        return done.stdout.strip()


def asterisk_root() -> Path:
    return Path(os.environ.get("CTI_ASTERISK_ROOT", str(DEFAULT_ROOT)))


def find_installation(root: Path | None = None) -> Installation:
    """Asterisk 22 from PATH, else from ``root`` (default ``$CTI_ASTERISK_ROOT``)."""
    on_path = shutil.which("asterisk")
    if on_path is not None and root is None:
        found = Installation(PurePosixPath(on_path))
        if _is_major(found.version()):
            return found
    root = root or asterisk_root()
    if (root / _CHROOT_BINARY.relative_to("/")).exists():
        found = Installation(_CHROOT_BINARY, root)
        if _is_major(found.version()):
            return found
    raise AsteriskNotFound(
        f"no Asterisk {ASTERISK_MAJOR} on PATH nor in {root}; run scripts/provision-asterisk.sh"
    )


def provision(timeout: float = 900.0) -> Installation:
    """Run ``scripts/provision-asterisk.sh`` (idempotent) and return what it provided."""
    done = subprocess.run(
        ["bash", str(PROVISION_SCRIPT)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise AsteriskNotFound(
            f"{PROVISION_SCRIPT} failed (exit {done.returncode}):\n{done.stderr[-4000:]}"
        )
    where = Path(done.stdout.strip().splitlines()[-1])
    if where.is_dir():
        return find_installation(where)
    return find_installation()


def _port_accepts(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


class AsteriskInstance:
    """One Asterisk process with its own configuration, spool, logs and astdb.

    Use as a context manager, or call ``start()``/``stop()``. ``params`` fixes ports and
    secrets; ``make()`` picks free ones and a fresh instance directory.
    """

    def __init__(self, installation: Installation, params: AsteriskParams) -> None:
        self.installation = installation
        self.params = params
        self._process: subprocess.Popen[bytes] | None = None

    @classmethod
    def make(
        cls,
        installation: Installation,
        *,
        seats: Sequence[Seat] | None = None,
        wrapup_seconds: int = 2,
        max_wait: int = 300,
        rtp_ports: int = 200,
        ami_username: str = "cti",
        **overrides: object,
    ) -> AsteriskInstance:
        """An instance with free ports, a random AMI secret and a new instance directory."""
        if installation.root is None:
            base = Path(tempfile.mkdtemp(prefix="cti-asterisk-"))
            instance_dir = PurePosixPath(base)
        else:
            parent = installation.host_path(_INSTANCES_IN_ROOT)
            parent.mkdir(parents=True, exist_ok=True)
            base = Path(tempfile.mkdtemp(prefix="i-", dir=parent))
            instance_dir = _INSTANCES_IN_ROOT / base.name
        rtp_start, rtp_end = free_port_range(rtp_ports)
        params = AsteriskParams(
            instance_dir=instance_dir,
            sip_port=free_port(udp=True),
            ami_port=free_port(),
            rtp_start=rtp_start,
            rtp_end=rtp_end,
            ami_secret=secrets.token_urlsafe(18),
            ami_username=ami_username,
            seats=tuple(seats) if seats is not None else default_seats(),
            wrapup_seconds=wrapup_seconds,
            max_wait=max_wait,
        )
        if overrides:
            params = replace(params, **overrides)  # type: ignore[arg-type]
        return cls(installation, params)

    # ---- paths -------------------------------------------------------------------
    def path(self, *parts: str) -> PurePosixPath:
        """A path inside the instance directory, as Asterisk sees it."""
        return self.params.instance_dir.joinpath(*parts)

    def host_path(self, *parts: str) -> Path:
        """A path inside the instance directory, as this host sees it."""
        return self.installation.host_path(self.path(*parts))

    @property
    def config_file(self) -> PurePosixPath:
        return self.path("etc", "asterisk.conf")

    @property
    def log_dir(self) -> Path:
        return self.host_path("log")

    @property
    def queue_log(self) -> Path:
        return self.host_path("log", "queue_log")

    @property
    def messages_log(self) -> Path:
        return self.host_path("log", "messages.log")

    @property
    def console_log(self) -> Path:
        """Asterisk's own stdout/stderr."""
        return self.host_path("log", "console.log")

    @property
    def recordings_dir(self) -> Path:
        """Where MixMonitor writes relative file names (``<spool>/monitor``)."""
        return self.host_path("spool", "monitor")

    def files_env(self) -> dict[str, str]:
        """``CTI_ASTERISK__*`` settings for a service sharing this instance's files."""
        root = self.installation.root
        return {
            "CTI_ASTERISK__ROOT": str(root) if root is not None else "",
            "CTI_ASTERISK__ETC_DIR": str(self.path("etc")),
            "CTI_ASTERISK__SPOOL_DIR": str(self.path("spool")),
            "CTI_ASTERISK__MOH_DIR": str(self.path("moh")),
            "CTI_ASTERISK__SOUNDS_DIR": str(self.path("sounds")),
            # the default groups the service seeds: as this instance was rendered
            "CTI_TELEPHONY__MAX_WAIT_SECONDS": str(max(self.params.max_wait, 1)),
            "CTI_TELEPHONY__WRAPUP_SECONDS": str(self.params.wrapup_seconds),
            "CTI_TELEPHONY__VOICEMAIL_PIN": self.params.voicemail_pin,
        }

    def voicemail_dir(self, context: str = "groups") -> Path:
        return self.host_path("spool", "voicemail", context)

    def queue_log_rows(self) -> list[list[str]]:
        """queue_log as rows ``[epoch, uniqueid, queue, agent, verb, data...]``."""
        if not self.queue_log.exists():
            return []
        return [line.split("|") for line in self.queue_log.read_text().splitlines() if line]

    # ---- lifecycle ----------------------------------------------------------------
    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """Asterisk's process id while it runs (``chroot`` execs Asterisk: same pid)."""
        return self._process.pid if self.running and self._process is not None else None

    def write_config(self) -> None:
        for sub in ("etc/cti", "spool/monitor", "spool/voicemail", "run", "log", "db", "moh",
                    "sounds"):
            self.host_path(*sub.split("/")).mkdir(parents=True, exist_ok=True)
        write_config(render(self.params), self.host_path("etc"),
                     seed=generated_defaults(self.params))

    def start(self, timeout: float = 60.0) -> None:
        """Render the configuration, start Asterisk, wait until it is fully booted and its
        AMI port accepts connections."""
        if self.running:
            raise AsteriskStartError("already running")
        # Asterisk starts, and says it is fully booted, without a transport it could not
        # bind ("Address already in use" in its log only): phones would then reach
        # whatever holds the port, another Asterisk for one.
        p = self.params
        for port, udp, what in ((p.sip_port, True, "SIP"), (p.ami_port, False, "AMI")):
            if port_taken(port, p.bind_address, udp=udp):
                raise AsteriskStartError(
                    f"the {what} port {p.bind_address}:{port}/{'udp' if udp else 'tcp'} is "
                    "already in use (another Asterisk?)")
        self.write_config()
        command = self.installation.command("-f", "-n", "-C", str(self.config_file))
        log.info("starting Asterisk: %s", " ".join(command))
        with open(self.console_log, "ab") as output:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        try:
            self._wait_ready(deadline)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float) -> None:
        delay = 0.05
        while True:
            if self._process is not None and self._process.poll() is not None:
                raise AsteriskStartError(
                    f"Asterisk exited with {self._process.returncode}; see {self.console_log}"
                    f"\n{self._tail(self.console_log)}"
                )
            if _port_accepts(self.params.ami_port):
                remaining = deadline - time.monotonic()
                try:
                    self.cli("core waitfullybooted", timeout=max(remaining, 1.0))
                    return
                except AsteriskCommandError:
                    pass
            if time.monotonic() > deadline:
                raise AsteriskStartError(
                    f"Asterisk not ready in time; see {self.console_log}\n"
                    f"{self._tail(self.console_log)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    @staticmethod
    def _tail(path: Path, lines: int = 30) -> str:
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 15.0) -> None:
        """``core stop now``, then SIGTERM, then SIGKILL, each with a bounded wait."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            try:
                self.cli("core stop now", timeout=timeout / 3)
            except AsteriskCommandError as exc:
                log.warning("core stop now failed: %s", exc)
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    process.wait(timeout=timeout / 3)
                    break
                except subprocess.TimeoutExpired:
                    log.warning("Asterisk did not exit; sending %s", sig.name)
                    process.send_signal(sig)
            process.wait(timeout=timeout / 3)
        self._process = None

    def restart(self, timeout: float = 60.0) -> None:
        """Stop and start again with the same ports, directories and astdb."""
        self.stop()
        self.start(timeout=timeout)

    def remove(self) -> None:
        """Stop, then delete the instance directory."""
        self.stop()
        shutil.rmtree(self.host_path(), ignore_errors=True)

    def __enter__(self) -> AsteriskInstance:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # ---- CLI ----------------------------------------------------------------------
    def cli(self, command: str, timeout: float = 15.0) -> str:
        """Run one CLI command through the instance's control socket; its output."""
        argv = self.installation.command("-C", str(self.config_file), "-rx", command)
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise AsteriskCommandError(f"{command!r} timed out after {timeout}s") from exc
        if done.returncode != 0 or "Unable to connect to remote asterisk" in done.stdout:
            raise AsteriskCommandError(
                f"{command!r} failed (exit {done.returncode}): {done.stdout}{done.stderr}"
            )
        return done.stdout

    async def acli(self, command: str, within: float = 15.0) -> str:
        """``cli`` without blocking the event loop (``within``: its timeout, seconds)."""
        return await asyncio.to_thread(self.cli, command, within)
