"""N WebSocket subscribers of ``/v1/events`` in one process (run by ``bench.event_stream``).

    python -m bench.event_stream.clients URL N PROBES VIEWERS

URL may ask for ``coalesce=true``: messages are then split on newlines.

VIEWERS is ``supervisors`` (every subscriber sees every delta) or ``agents`` (subscriber i
is the agent of seat 1000 + i % 200, the bench stream's seats: it sees its own seat, the
calls it takes and skill-group summaries).

Every subscriber reads every message (a subscriber that stopped would be cut off); the
first ``PROBES`` also decode each delta and record ``receipt time - delta.at``, i.e. the
time from the AMI event's ``Timestamp`` (stamped by the paced source when it wrote the
event) to its delta arriving here. Prints ``ready`` once every subscriber has its
snapshot, then on a line on stdin prints the results as one JSON line and exits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

MEASURED = {"seat", "call", "call_timeline", "skill_group"}


async def _subscriber(ws: ClientConnection, probe: bool, out: dict[str, Any]) -> None:
    latencies: list[float] = out["latencies"]
    async for frame in ws:
        now = time.time()
        assert isinstance(frame, str)
        for raw in frame.split("\n"):
            out["messages"] += 1
            if not probe:
                if raw.startswith('{"type":"resync"'):
                    out["resyncs"] += 1
                continue
            message = json.loads(raw)
            kind = message["type"]
            if kind == "resync":
                out["resyncs"] += 1
            elif kind in MEASURED:
                at = datetime.fromisoformat(message["at"]).timestamp()
                latencies.append((now - at) * 1000.0)


def token(viewers: str, i: int) -> str:
    return "bench" if viewers == "supervisors" else f"agent-{1000 + i % 200}"


async def main(url: str, n: int, probes: int, viewers: str) -> None:
    out: dict[str, Any] = {"latencies": [], "messages": 0, "resyncs": 0}
    sockets: list[ClientConnection] = []
    for start in range(0, n, 50):  # open in waves: the server also serves the snapshots
        batch = await asyncio.gather(*(
            connect(url, additional_headers={"Authorization": f"Bearer {token(viewers, i)}"},
                    compression=None, open_timeout=60, max_size=None)
            for i in range(start, min(n, start + 50))))
        sockets.extend(batch)
    for ws in sockets:
        first = json.loads(await ws.recv())
        assert first["type"] == "snapshot", first["type"]
    tasks = [asyncio.create_task(_subscriber(ws, i < probes, out))
             for i, ws in enumerate(sockets)]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for ws in sockets:
        await ws.close()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]))
