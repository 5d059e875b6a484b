"""Customers on the far side of the trunk: what AMI reports for each kind of outbound call.

One Asterisk whose ``trunk`` endpoint has an AOR pointing at one ``called_customers`` SIPp
(tests/sipp/called_customers.xml). Calls are originated the way the outbound dialer does
it: ``PJSIP/<number>@trunk``, Async, a ChannelId of our own, Timeout 15 s, into a dialplan
context (``trunk-bench``: MixMonitor, 4 s of silence from Asterisk, hang-up). One number per
class of the UAS, all dialled at once:

    ...0 answers   ...3 busy (486)   ...4 fails (404)   ...5 rings until cancelled

The AMI conversation is read on a raw socket (every message as Asterisk wrote it) and kept
in the module's tmp directory (``ami-classes.txt``, ``ami-bulk.txt``; run with ``-s`` to
see each call's events printed). ``CTI_KEEP_BENCH=1`` keeps Asterisk's logs there too.

What Asterisk 22 reports, as asserted below: Newchannel (Uniqueid = Linkedid = ChannelId,
Context/Exten the trunk endpoint's ``from-trunk``/``s``, not the Originate's) right after
the ack; the OriginateResponse carries the ActionID and the ChannelId as Uniqueid. Reason 4
answered, 3 rang out (Hangup cause 19), but 0 for both busy (cause 17) and a 404 (cause 1):
only the Hangup cause tells those apart.
"""

from __future__ import annotations

import array
import asyncio
import math
import os
import shutil
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from cti.stack.asterisk import AsteriskError, AsteriskInstance, provision
from cti.stack.ports import free_port
from tests.support.sipp import (
    SippBench,
    SippProcess,
    called_class,
    invite_log,
    sipp_binary,
    wait_until_stats,
)

pytestmark = pytest.mark.integration

RING_TIMEOUT_MS = 15_000
RECORD_SECONDS = 4
CONTEXT = "trunk-bench"
NUMBERS = {
    "answer": "0612345670",
    "busy": "0612345673",
    "failure": "0612345674",
    "ring": "0612345675",
}


@dataclass
class TrunkBench:
    asterisk: AsteriskInstance
    customers: SippProcess
    workdir: Path


@pytest.fixture(scope="module")
def trunk_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrunkBench]:
    try:
        installation = provision()
        sipp_binary()
    except (AsteriskError, RuntimeError) as exc:
        pytest.fail(f"test bench unavailable: {exc}", pytrace=False)
    workdir = tmp_path_factory.mktemp("trunk")
    uas_port = free_port(udp=True)
    instance = AsteriskInstance.make(
        installation, trunk_contact=f"sip:127.0.0.1:{uas_port}"
    )
    bench = SippBench(instance.params.sip_port, workdir / "sipp")
    customers = bench.called_customers(uas_port, answer_after=1.5, max_call=30.0)
    instance.start()
    try:
        # A tiny context of our own, in the service's include file (this instance only).
        record_to = instance.path("spool", "monitor", "trunk-${EXTEN}.wav")
        with open(instance.host_path("etc", "cti", "extensions.conf"), "a") as conf:
            conf.write(
                f"\n[{CONTEXT}]\n"
                f"exten => _X.,1,MixMonitor({record_to})\n"
                f" same => n,Wait({RECORD_SECONDS})\n"
                " same => n,Hangup()\n"
            )
        instance.cli("dialplan reload")
        assert "trunk-bench" in instance.cli(f"dialplan show {CONTEXT}")
        yield TrunkBench(instance, customers, workdir)
    finally:
        bench.close()
        instance.stop()
        if os.environ.get("CTI_KEEP_BENCH"):
            shutil.copytree(instance.host_path("log"), workdir / "asterisk-log", dirs_exist_ok=True)
        shutil.rmtree(instance.host_path(), ignore_errors=True)


# ---- a raw AMI reader: every message, in arrival order, with its arrival time ----------

Message = dict[str, str]


@dataclass
class Ami:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    messages: list[tuple[float, Message]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)

    @classmethod
    async def login(cls, instance: AsteriskInstance) -> Ami:
        params = instance.params
        reader, writer = await asyncio.open_connection("127.0.0.1", params.ami_port)
        await asyncio.wait_for(reader.readline(), 5)  # banner
        ami = cls(reader, writer)
        ami.send({"Action": "Login", "ActionID": "login", "Username": params.ami_username,
                  "Secret": params.ami_secret, "Events": "on"})
        reply = await ami.next_message(5)
        assert reply.get("Response") == "Success", reply
        return ami

    def send(self, action: Message) -> None:
        self.writer.write("".join(f"{k}: {v}\r\n" for k, v in action.items()).encode() + b"\r\n")

    async def next_message(self, within: float) -> Message:
        block = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), within)
        text = block.decode(errors="replace").strip("\r\n")
        self.raw.append(text)
        message: Message = {}
        for line in text.split("\r\n"):
            key, _, value = line.partition(": ")
            message.setdefault(key, value)
        self.messages.append((time.monotonic(), message))
        return message

    async def read_until(self, done: Callable[[], bool], within: float) -> None:
        deadline = time.monotonic() + within
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("AMI: the calls did not all end in time")
            await self.next_message(remaining)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@dataclass
class Placed:
    klass: str
    number: str
    channel_id: str
    action_id: str
    sent_at: float = 0.0

    def events(self, ami: Ami) -> list[tuple[float, Message]]:
        """This call's messages: its channel's events, and those carrying its ActionID."""
        return [
            (t, m) for t, m in ami.messages
            if m.get("Uniqueid") == self.channel_id
            or m.get("ActionID") == self.action_id
            or m.get("Linkedid") == self.channel_id
        ]

    def first(self, ami: Ami, event: str) -> tuple[float, Message]:
        found = [(t, m) for t, m in self.events(ami) if m.get("Event") == event]
        assert found, f"{self.klass}: no {event} in {[m for _, m in self.events(ami)]}"
        return found[0]

    def names(self, ami: Ami) -> list[str]:
        return [m.get("Event") or f"Response:{m.get('Response')}" for _, m in self.events(ami)]

    def ended(self, ami: Ami) -> bool:
        seen = {m.get("Event") for _, m in self.events(ami)}
        return {"Hangup", "OriginateResponse"} <= seen


def recording_rms(path: Path) -> float:
    with wave.open(str(path)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        samples = array.array("h", w.readframes(w.getnframes()))
    return math.sqrt(sum(s * s for s in samples) / max(len(samples), 1))


async def dial_all(bench: TrunkBench, calls: list[Placed], timeout_ms: int, name: str) -> Ami:
    """Originate every call at once, the dialer's way; read AMI until each one has both
    its Hangup and its OriginateResponse. The AMI transcript goes to ``name``."""
    ami = await Ami.login(bench.asterisk)
    try:
        for call in calls:
            call.sent_at = time.monotonic()
            ami.send({
                "Action": "Originate",
                "ActionID": call.action_id,
                "Channel": f"PJSIP/{call.number}@trunk",
                "Context": CONTEXT,
                "Exten": call.number,
                "Priority": "1",
                "ChannelId": call.channel_id,
                "CallerID": '"Dialer" <0140000000>',
                "Timeout": str(timeout_ms),
                "Async": "true",
            })
        await ami.read_until(lambda: all(c.ended(ami) for c in calls), within=60)
    finally:
        await ami.close()
        (bench.workdir / name).write_text("\n\n".join(ami.raw))
    return ami


async def test_each_class_of_called_customer_as_ami_reports_it(trunk_bench: TrunkBench) -> None:
    asterisk = trunk_bench.asterisk
    for klass, number in NUMBERS.items():
        assert called_class(number) == klass
    done_before = trunk_bench.customers.stats()[0]
    stamp = int(time.time())
    calls = [
        Placed(klass, number, f"trunk-{klass}-{stamp}", f"orig-{klass}-{stamp}")
        for klass, number in NUMBERS.items()
    ]
    ami = await dial_all(trunk_bench, calls, RING_TIMEOUT_MS, "ami-classes.txt")

    by = {c.klass: c for c in calls}
    for call in calls:
        print(f"\n=== {call.klass} {call.number}: {call.names(ami)}")
        for t, m in call.events(ami):
            print(f"  +{t - call.sent_at:6.2f}s {m}")

    # Every call: the ack, then a Newchannel whose Uniqueid and Linkedid are our ChannelId.
    for call in calls:
        ack = next(m for _, m in call.events(ami) if "Response" in m)
        assert ack["Response"] == "Success" and ack["Message"] == "Originate successfully queued"
        _, new = call.first(ami, "Newchannel")
        assert new["Uniqueid"] == new["Linkedid"] == call.channel_id, new
        assert new["Channel"].startswith("PJSIP/trunk-"), new
        _, response = call.first(ami, "OriginateResponse")
        assert response["ActionID"] == call.action_id, response
        # the channel's name once answered, else the dial string
        dialled = new["Channel"] if call.klass == "answer" else f"PJSIP/{call.number}@trunk"
        assert response["Channel"] == dialled, response
        assert response["Uniqueid"] == call.channel_id, response

    # Answered: Up, Reason 4, the customer's audio recorded, hung up by Asterisk (normal).
    answered = by["answer"]
    states = [m["ChannelState"] for _, m in answered.events(ami) if m.get("Event") == "Newstate"]
    assert "6" in states, states
    _, response = answered.first(ami, "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Success", "4"), response
    assert response["Uniqueid"] == answered.channel_id, response
    up_at, _ = next((t, m) for t, m in answered.events(ami)
                    if m.get("Event") == "Newstate" and m["ChannelState"] == "6")
    assert 1.0 <= up_at - answered.sent_at <= 5.0
    _, hangup = answered.first(ami, "Hangup")
    assert hangup["Cause"] == "16", hangup
    recording = asterisk.recordings_dir / f"trunk-{answered.number}.wav"
    assert recording.exists(), list(asterisk.recordings_dir.iterdir())
    with wave.open(str(recording)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert RECORD_SECONDS - 1 <= seconds <= RECORD_SECONDS + 0.5, seconds
    assert recording_rms(recording) > 300  # g711a.pcap speech, not silence

    # Busy: 486 -> Hangup cause 17. OriginateResponse says Reason 0, not 5 (busy): on
    # Asterisk 22 only the Hangup tells busy from failure.
    busy = by["busy"]
    _, hangup = busy.first(ami, "Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"], hangup["TechCause"]) == (
        "17", "User busy", "486"), hangup
    _, response = busy.first(ami, "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Failure", "0"), response

    # Failure: 404 -> cause 1 (unallocated number), Reason 0.
    failure = by["failure"]
    _, hangup = failure.first(ami, "Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"], hangup["TechCause"]) == (
        "1", "Unallocated (unassigned) number", "404"), hangup
    _, response = failure.first(ami, "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Failure", "0"), response

    # Ring-out: Ringing (5), then after the 15 s Timeout Reason 3 and a CANCEL.
    ring = by["ring"]
    states = [m["ChannelState"] for _, m in ring.events(ami) if m.get("Event") == "Newstate"]
    assert "5" in states and "6" not in states, states
    at, response = ring.first(ami, "OriginateResponse")
    assert (response["Response"], response["Reason"]) == ("Failure", "3"), response
    assert at - ring.sent_at >= RING_TIMEOUT_MS / 1000, at - ring.sent_at
    _, hangup = ring.first(ami, "Hangup")
    assert (hangup["Cause"], hangup["Cause-txt"]) == ("19", "User alerting, no answer"), hangup

    # The customers' own record: every dialled number reached the trunk, once, in time.
    rows = [r for r in invite_log(trunk_bench.customers) if r.number in NUMBERS.values()]
    assert sorted(r.number for r in rows) == sorted(NUMBERS.values()), rows
    assert len({r.call_id for r in rows}) == len(rows)
    assert all(abs(r.time - time.time()) < 120 for r in rows), rows
    # and each call ran its branch to the end: BYE answered, 486/404 ACKed, CANCEL handled
    wait_until_stats(trunk_bench.customers, successful=done_before + len(NUMBERS), timeout=10)
    assert trunk_bench.customers.stats()[1] == 0


async def test_many_concurrent_customers_each_get_their_class(trunk_bench: TrunkBench) -> None:
    """Thirty calls at once through the one UAS, every last digit three times."""
    expected_cause = {"answer": "16", "busy": "17", "failure": "1", "ring": "19"}
    expected_reason = {"answer": "4", "busy": "0", "failure": "0", "ring": "3"}
    done_before = trunk_bench.customers.stats()[0]
    stamp = int(time.time())
    numbers = [f"07000{stamp % 1000:03d}{i:02d}" for i in range(30)]
    calls = [
        Placed(called_class(n), n, f"bulk-{n}-{stamp}", f"bulk-orig-{n}-{stamp}")
        for n in numbers
    ]
    ami = await dial_all(trunk_bench, calls, 6_000, "ami-bulk.txt")

    for call in calls:
        _, hangup = call.first(ami, "Hangup")
        _, response = call.first(ami, "OriginateResponse")
        assert hangup["Cause"] == expected_cause[call.klass], (call, hangup)
        assert response["Reason"] == expected_reason[call.klass], (call, response)
        assert response["Uniqueid"] == hangup["Uniqueid"] == call.channel_id
    rows = [r for r in invite_log(trunk_bench.customers) if r.number in numbers]
    assert sorted(r.number for r in rows) == sorted(numbers)
    wait_until_stats(trunk_bench.customers, successful=done_before + len(calls), timeout=10)
    assert trunk_bench.customers.stats()[1] == 0
