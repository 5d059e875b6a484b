"""Fixtures for the real-telephony bench: Asterisk 22 and SIPp on loopback.

``asterisk_module``  one Asterisk per test module, seats 1001..1004 with static contacts
                     on free ports, queue wrap-up 2 s.
``asterisk``         that instance for one test; afterwards calls are hung up and dynamic
                     queue members removed, so tests do not leak state into each other.
``sipp``             a ``SippBench`` aimed at it: ``sipp.agent("1001", mode=...)``,
                     ``sipp.customer("200", hold=3)``; every process is stopped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskInstance
from tests.support.bench import reset_asterisk, running_asterisk, sipp_bench
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
