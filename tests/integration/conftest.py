"""Fixtures for the real-telephony bench: Asterisk 22 and SIPp on loopback.

``asterisk_module``  one Asterisk per test module, seats 1001..1004 with static contacts
                     on free ports, queue wrap-up 2 s.
``asterisk``         that instance for one test; afterwards calls are hung up and dynamic
                     queue members removed, so tests do not leak state into each other.
``sipp``             a ``SippBench`` aimed at it: ``sipp.agent("1001", mode=...)``,
                     ``sipp.customer("200", hold=3)``; every process is stopped afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskError, AsteriskInstance, provision
from cti.stack.ports import free_port
from cti.stack.render import DEFAULT_SEATS, Seat
from tests.support.sipp import SippBench, sipp_binary

BENCH_WRAPUP_SECONDS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path) or "tests\\integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def asterisk_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskInstance]:
    try:
        installation = provision()
        sipp_binary()
    except (AsteriskError, RuntimeError) as exc:
        pytest.fail(f"test bench unavailable: {exc}", pytrace=False)
    seats = [Seat(ext, contact_port=free_port(udp=True)) for ext in DEFAULT_SEATS]
    # The trunk's far end (customers the service dials out to) is a SIPp UAS a test
    # starts on this port when it needs one: SippBench.trunk_port.
    trunk = f"sip:127.0.0.1:{free_port(udp=True)}"
    instance = AsteriskInstance.make(installation, seats=seats, wrapup_seconds=BENCH_WRAPUP_SECONDS,
                                     trunk_contact=trunk)
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
        if os.environ.get("CTI_KEEP_BENCH"):
            keep = tmp_path_factory.mktemp("asterisk")
            shutil.copytree(instance.host_path("log"), keep / "log", dirs_exist_ok=True)
        shutil.rmtree(instance.host_path(), ignore_errors=True)


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


@pytest.fixture
def asterisk(asterisk_module: AsteriskInstance) -> Iterator[AsteriskInstance]:
    if not asterisk_module.running:
        asterisk_module.start()
    yield asterisk_module
    if asterisk_module.running:
        reset_asterisk(asterisk_module)


@pytest.fixture
def sipp(asterisk: AsteriskInstance, tmp_path: Path) -> Iterator[SippBench]:
    ports = {
        seat.extension: seat.contact_port
        for seat in asterisk.params.seats
        if seat.contact_port is not None
    }
    contact = asterisk.params.trunk_contact
    bench = SippBench(asterisk.params.sip_port, tmp_path / "sipp", seat_ports=ports,
                      trunk_port=int(contact.rsplit(":", 1)[1]) if contact else None)
    try:
        yield bench
    finally:
        bench.close()
