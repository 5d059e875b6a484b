"""Record the raw AMI byte stream from a real Asterisk, for contract-test fixtures.

Every byte Asterisk sends (banner, login response, events, action responses) is written
to the output file exactly as received; what we send is not recorded (so no secret ends
up in a fixture). Deliberately a raw asyncio socket, not panoramisk: the fixture must
show the wire, not one library's reading of it.

Two modes:

  # attach to a running Asterisk for N seconds (secret from $CTI_AMI_SECRET)
  record_ami_trace.py attach --port 5038 --username cti --output trace.ami --duration 30

  # start the bench (Asterisk from asterisk-conf/, SIPp seats and customers), play a
  # scenario and record it; "all" regenerates tests/fixtures/ami/
  record_ami_trace.py scenario answered_inbound --out-dir tests/fixtures/ami
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from cti.stack.asterisk import AsteriskInstance
    from tests.support.sipp import SippBench

log = logging.getLogger("record_ami_trace")


class AmiTraceRecorder:
    """One AMI session whose received bytes all go to ``output``."""

    def __init__(self, host: str, port: int, username: str, secret: str, output: Path) -> None:
        self.host, self.port = host, port
        self.username, self.secret = username, secret
        self.output = output
        self.received = bytearray()
        self._changed = asyncio.Condition()
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None

    async def start(self, within: float = 10.0) -> None:
        reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), within
        )
        self._reader_task = asyncio.create_task(self._read(reader), name="ami-trace-reader")
        await self.send(
            {
                "Action": "Login",
                "ActionID": "login-1",
                "Username": self.username,
                "Secret": self.secret,
                "Events": "on",
            }
        )
        await self.wait_for(b"ActionID: login-1", within)
        if b"Response: Success" not in self.received:
            raise RuntimeError(f"AMI login refused: {bytes(self.received)!r}")

    async def _read(self, reader: asyncio.StreamReader) -> None:
        with self.output.open("wb") as out:
            while chunk := await reader.read(65536):
                out.write(chunk)
                out.flush()
                async with self._changed:
                    self.received += chunk
                    self._changed.notify_all()

    async def send(self, action: Mapping[str, str]) -> None:
        if self._writer is None:
            raise RuntimeError("not connected")
        lines = []
        for key, value in action.items():
            if any(c in key + value for c in "\r\n\0"):
                raise ValueError(f"CR/LF/NUL in AMI header {key!r}")
            lines.append(f"{key}: {value}\r\n")
        self._writer.write(("".join(lines) + "\r\n").encode())
        await self._writer.drain()

    async def wait_for(self, needle: bytes, within: float, *, count: int = 1) -> None:
        """Until ``needle`` occurs ``count`` times in what was received (bounded)."""

        async def seen() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: self.received.count(needle) >= count)

        try:
            await asyncio.wait_for(seen(), within)
        except TimeoutError:
            raise TimeoutError(f"{needle!r} x{count} not received within {within}s") from None

    async def stop(self) -> None:
        """Log off (the Goodbye response is recorded too) and close."""
        if self._writer is not None:
            with contextlib.suppress(ConnectionError):
                await self.send({"Action": "Logoff", "ActionID": "logoff-1"})
                with contextlib.suppress(TimeoutError):
                    await self.wait_for(b"ActionID: logoff-1", 5)
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()
        if self._reader_task is not None:
            await asyncio.wait_for(self._reader_task, 5)


# ---- bench scenarios ----------------------------------------------------------------


Scenario = Callable[["AsteriskInstance", "SippBench", AmiTraceRecorder], Awaitable[None]]


async def _cli(asterisk: AsteriskInstance, command: str) -> None:
    out = await asterisk.acli(command)
    log.info("CLI %s -> %s", command, out.strip())


async def answered_inbound(
    asterisk: AsteriskInstance, sipp: SippBench, rec: AmiTraceRecorder
) -> None:
    agent = sipp.agent("1001", mode="answer", answer_after=1.0)
    await _cli(asterisk, "queue add member PJSIP/1001 to sales")
    await rec.wait_for(b"Event: QueueMemberAdded", 5)
    customer = sipp.customer("200", hold=4.0)  # ~1 s ringing, ~3 s talking
    result = await customer.wait_async(60)
    assert result.ok, result
    await rec.wait_for(b"Event: AgentComplete", 10)
    await asyncio.sleep(asterisk.params.wrapup_seconds + 1.5)  # let wrap-up pass
    assert agent.stop().ok


async def agent_no_answer_rollover(
    asterisk: AsteriskInstance, sipp: SippBench, rec: AmiTraceRecorder
) -> None:
    sipp.agent("1001", mode="no_answer")
    agent2 = sipp.agent("1002", mode="answer", answer_after=1.0, hangup_after=3.0)
    await _cli(asterisk, "queue add member PJSIP/1001 to sales")
    await _cli(asterisk, "queue add member PJSIP/1002 to sales")
    await rec.wait_for(b"Event: QueueMemberAdded", 5, count=2)
    customer = sipp.customer("200", hold=None)  # the agent hangs up
    result = await customer.wait_async(90)
    assert result.ok, result
    assert b"Event: AgentRingNoAnswer" in rec.received
    await rec.wait_for(b"Event: AgentComplete", 10)
    await asyncio.sleep(asterisk.params.wrapup_seconds + 1.5)
    assert agent2.stop().ok


async def abandoned(asterisk: AsteriskInstance, sipp: SippBench, rec: AmiTraceRecorder) -> None:
    sipp.agent("1001", mode="no_answer")
    await _cli(asterisk, "queue add member PJSIP/1001 to sales")
    await rec.wait_for(b"Event: QueueMemberAdded", 5)
    customer = sipp.customer("200", hold=6.0)  # gives up while 1001 rings
    result = await customer.wait_async(60)
    assert result.ok, result
    await rec.wait_for(b"Event: QueueCallerAbandon", 10)
    await rec.wait_for(b"Event: Hangup", 10, count=2)
    await asyncio.sleep(1.0)


async def pause_unpause(asterisk: AsteriskInstance, sipp: SippBench, rec: AmiTraceRecorder) -> None:
    sipp.agent("1001", mode="answer")
    steps = [
        ("queue add member PJSIP/1001 to sales", b"Event: QueueMemberAdded"),
        ("queue pause member PJSIP/1001 queue sales reason lunch", b"Event: QueueMemberPause"),
        ("queue unpause member PJSIP/1001 queue sales", b"Event: QueueMemberPause"),
        ("queue remove member PJSIP/1001 from sales", b"Event: QueueMemberRemoved"),
    ]
    seen: dict[bytes, int] = {}
    for command, event in steps:
        seen[event] = seen.get(event, 0) + 1
        await _cli(asterisk, command)
        await rec.wait_for(event, 5, count=seen[event])
    await asyncio.sleep(0.5)


async def resync_snapshot(
    asterisk: AsteriskInstance, sipp: SippBench, rec: AmiTraceRecorder
) -> None:
    sipp.agent("1001", mode="answer", answer_after=0.5)
    sipp.agent("1002", mode="no_answer")
    await _cli(asterisk, "queue add member PJSIP/1001 to sales")
    await _cli(asterisk, "queue add member PJSIP/1002 to support")
    await rec.wait_for(b"Event: QueueMemberAdded", 5, count=2)
    talking = sipp.customer("200", hold=None, caller_number="0611111111")
    await rec.wait_for(b"Event: AgentConnect", 15)
    queued = sipp.customer("300", hold=None, caller_number="0622222222")
    await rec.wait_for(b"Event: AgentCalled", 15, count=2)  # 1002 rings, caller queued
    for action, complete in (
        ("QueueStatus", b"Event: QueueStatusComplete"),
        ("CoreShowChannels", b"Event: CoreShowChannelsComplete"),
        ("DeviceStateList", b"Event: DeviceStateListComplete"),
    ):
        await rec.send({"Action": action, "ActionID": f"resync-{action}"})
        await rec.wait_for(complete, 10)
    await _cli(asterisk, "channel request hangup all")
    for customer in (talking, queued):
        result = await customer.wait_async(30)
        assert result.ok, result
    await asyncio.sleep(1.0)


SCENARIOS: dict[str, Scenario] = {
    "answered_inbound": answered_inbound,
    "agent_no_answer_rollover": agent_no_answer_rollover,
    "abandoned": abandoned,
    "pause_unpause": pause_unpause,
    "resync_snapshot": resync_snapshot,
}


async def record_scenario(name: str, out_dir: Path) -> Path:
    """A fresh Asterisk and SIPp bench per scenario, so each trace starts clean."""
    from cti.stack.asterisk import AsteriskInstance, provision
    from cti.stack.ports import free_port
    from cti.stack.render import DEFAULT_SEATS, Seat
    from tests.support.sipp import SippBench

    seats = [Seat(ext, contact_port=free_port(udp=True)) for ext in DEFAULT_SEATS]
    asterisk = AsteriskInstance.make(provision(), seats=seats, wrapup_seconds=2)
    output = out_dir / f"{name}.ami"
    asterisk.start()
    with tempfile.TemporaryDirectory(prefix="ami-trace-") as tmp:
        sipp = SippBench(
            asterisk.params.sip_port,
            Path(tmp),
            seat_ports={s.extension: s.contact_port for s in seats if s.contact_port},
        )
        params = asterisk.params
        rec = AmiTraceRecorder(
            "127.0.0.1", params.ami_port, params.ami_username, params.ami_secret, output
        )
        try:
            await rec.start()
            await SCENARIOS[name](asterisk, sipp, rec)
        finally:
            await rec.stop()
            sipp.close()
            asterisk.remove()
    log.info("recorded %s (%d bytes)", output, output.stat().st_size)
    return output


async def attach(args: argparse.Namespace) -> None:
    secret = os.environ.get("CTI_AMI_SECRET")
    if not secret:
        raise SystemExit("set CTI_AMI_SECRET")
    rec = AmiTraceRecorder(args.host, args.port, args.username, secret, Path(args.output))
    await rec.start()
    try:
        await asyncio.sleep(args.duration)
    finally:
        await rec.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    p_attach = sub.add_parser("attach", help="record a running Asterisk")
    p_attach.add_argument("--host", default="127.0.0.1")
    p_attach.add_argument("--port", type=int, default=5038)
    p_attach.add_argument("--username", default="cti")
    p_attach.add_argument("--output", required=True)
    p_attach.add_argument("--duration", type=float, default=30.0)
    p_scen = sub.add_parser("scenario", help="play a bench scenario and record it")
    p_scen.add_argument("name", choices=[*SCENARIOS, "all"])
    p_scen.add_argument("--out-dir", default=str(REPO / "tests" / "fixtures" / "ami"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if args.mode == "attach":
        asyncio.run(attach(args))
        return
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = list(SCENARIOS) if args.name == "all" else [args.name]
    for name in names:
        asyncio.run(record_scenario(name, out_dir))


if __name__ == "__main__":
    main()
