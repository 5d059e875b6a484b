"""The AMI connection's supervisor backs off until a connection is really ready.

The socket steps are stubbed on the connection itself (login succeeds, the mirror's
snapshot is refused), so only the supervisor's own loop runs."""

from __future__ import annotations

import asyncio

from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed
from cti.config import AmiNode, AmiSettings


class CountingBackoff:
    def __init__(self) -> None:
        self.resets = 0
        self.delays = 0

    def reset(self) -> None:
        self.resets += 1

    def next_delay(self) -> float:
        self.delays += 1
        return 0.0


async def test_a_node_that_logs_in_but_refuses_the_snapshot_keeps_backing_off() -> None:
    node = AmiNode(name="node1")
    attempts = asyncio.Event()
    tried = 0

    async def refused_snapshot(_: AmiConnection) -> None:
        nonlocal tried
        tried += 1
        if tried == 3:
            attempts.set()
        raise AmiActionFailed("QueueStatus", "Permission denied")

    conn = AmiConnection(node, AmiSettings(nodes=[node]), lambda _: None, refused_snapshot,
                         lambda *_: None)
    backoff = CountingBackoff()

    async def nothing() -> None:
        return None

    conn._backoff = backoff  # type: ignore[assignment]
    conn._connect = nothing  # type: ignore[method-assign]
    conn._login = nothing  # type: ignore[method-assign]
    conn.start()
    try:
        await asyncio.wait_for(attempts.wait(), 5)
    finally:
        await conn.stop()
    assert backoff.resets == 0  # the delay grows from one failed snapshot to the next
    assert backoff.delays >= 2 and not conn.ready
