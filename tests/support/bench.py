"""One Asterisk of the test bench, the SIPp bench aimed at it, and the reset between tests.

Seats get static contacts on free ports (the SIPp agents listen there); the trunk's far
end is a free port too, where a test starts the called-customers UAS when it needs one.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskError, AsteriskInstance, provision
from cti.stack.ports import free_port
from cti.stack.render import DEFAULT_SEATS, CelDatabase, Seat
from tests.support.sipp import SippBench, sipp_binary


@contextlib.contextmanager
def running_asterisk(keep_logs_in: Callable[[], Path], *,
                     extensions: Sequence[str] = DEFAULT_SEATS,
                     wrapup_seconds: int = 2,
                     max_wait: int = 300,
                     cel: CelDatabase | None = None) -> Iterator[AsteriskInstance]:
    """Started, then stopped and removed; with CTI_KEEP_BENCH set its logs are copied to
    ``keep_logs_in()`` first. Fails the test (not errors it) when the bench is missing.
    ``max_wait``: seconds a caller queues before the group's voicemail; ``cel``: the
    (migrated) database its channel event log goes to, as the product's does."""
    try:
        installation = provision()
        sipp_binary()
    except (AsteriskError, RuntimeError) as exc:
        pytest.fail(f"test bench unavailable: {exc}", pytrace=False)
    seats = [Seat(ext, contact_port=free_port(udp=True)) for ext in extensions]
    instance = AsteriskInstance.make(installation, seats=seats, wrapup_seconds=wrapup_seconds,
                                     max_wait=max_wait, cel_database=cel,
                                     trunk_contact=f"sip:127.0.0.1:{free_port(udp=True)}")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if os.environ.get("CTI_KEEP_BENCH"):
            shutil.copytree(instance.host_path("log"), keep_logs_in() / "log",
                            dirs_exist_ok=True)
        shutil.rmtree(instance.host_path(), ignore_errors=True)


def sipp_bench(instance: AsteriskInstance, workdir: Path) -> SippBench:
    """SIPp seats and customers for ``instance``: its seats' ports, its trunk's far end."""
    ports = {s.extension: s.contact_port for s in instance.params.seats
             if s.contact_port is not None}
    contact = instance.params.trunk_contact
    return SippBench(instance.params.sip_port, workdir, seat_ports=ports,
                     trunk_port=int(contact.rsplit(":", 1)[1]) if contact else None)


# "PJSIP/1001 (dynamic)..." or, with a member name, "1001 (PJSIP/1001) (dynamic)..."
_MEMBER = re.compile(r"^\s+(?:\S+ \()?(\w+/[^\s)]+)\)? .*\(dynamic\)", re.MULTILINE)
_QUEUE = re.compile(r"^(\S+) has \d+ calls", re.MULTILINE)


def reset_asterisk(instance: AsteriskInstance, timeout: float = 10.0) -> None:
    """Hang up every channel and remove every dynamic queue member (bounded)."""
    instance.cli("channel request hangup all")
    deadline = time.monotonic() + timeout
    while "0 active channels" not in instance.cli("core show channels count"):
        if time.monotonic() > deadline:
            raise TimeoutError("channels still up after reset")
        time.sleep(0.1)
    for block in instance.cli("queue show").split("\n\n"):
        queue = _QUEUE.search(block)
        if queue is None:
            continue
        for member in _MEMBER.findall(block):
            instance.cli(f"queue remove member {member} from {queue.group(1)}")


def drop_ami(asterisk: AsteriskInstance) -> int:
    """Cut the AMI connections to ``asterisk`` as a network fault would (``ss -K``: both
    ends see the socket die; Asterisk and its calls carry on). How many were cut."""
    port = asterisk.params.ami_port
    out = subprocess.run(["ss", "-K", "-tn", "state", "established", "dport", "=", str(port)],
                         capture_output=True, text=True, check=True, timeout=10).stdout
    return sum(1 for line in out.splitlines() if f":{port}" in line)
