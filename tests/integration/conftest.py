"""Fixtures for the real-telephony bench: Asterisk 22 and SIPp on loopback.

``asterisk_module``  one Asterisk per test module, seats 1001..1004 with static contacts
                     on free ports, queue wrap-up 2 s.
``asterisk``         that instance for one test; afterwards calls are hung up and dynamic
                     queue members removed, so tests do not leak state into each other.
``sipp``             a ``SippBench`` aimed at it: ``sipp.agent("1001", mode=...)``,
                     ``sipp.customer("200", hold=3)``; every process is stopped afterwards.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskInstance
from tests.support.bench import running_asterisk, sipp_bench
from tests.support.sipp import SippBench

BENCH_WRAPUP_SECONDS = 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.path) or "tests\\integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="module")
def asterisk_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AsteriskInstance]:
    with running_asterisk(lambda: tmp_path_factory.mktemp("asterisk"),
                          wrapup_seconds=BENCH_WRAPUP_SECONDS) as instance:
        yield instance


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
    bench = sipp_bench(asterisk, tmp_path / "sipp")
    try:
        yield bench
    finally:
        bench.close()
