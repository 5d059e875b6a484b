"""A resync loses nothing that happens while its three lists are being asked.

QueueStatus, CoreShowChannels and DeviceStateList are asked one after the other; events
keep arriving meanwhile. Each list accounts only for its own kind of fact, up to where it
completed. Driven through the real protocol, connection and live core, with AMI bytes
written the way Asterisk 22 writes them (no socket: the transport is a list).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from cti.ami.events import AmiEvent, EventBatch, Snapshot
from cti.ami.protocol import CtiProtocol
from cti.bus import Bus
from cti.config import AmiSettings
from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent
from cti.live import LiveCore

EOL = "\r\n"


def message(**headers: str) -> bytes:
    return ("".join(f"{k}: {v}{EOL}" for k, v in headers.items()) + EOL).encode()


class Transport:
    def __init__(self) -> None:
        self.writes: list[str] = []
        self.written = asyncio.Event()

    def write(self, data: bytes) -> None:
        self.writes.append(data.decode())
        self.written.set()

    def close(self) -> None:
        pass


def newchannel(uniqueid: str) -> bytes:
    return message(Event="Newchannel", Channel=f"PJSIP/trunk-{uniqueid}", Uniqueid=uniqueid,
                   Linkedid=uniqueid, Context="from-trunk", CallerIDNum="0612345678",
                   Exten="200", Timestamp="101")


def joined(uniqueid: str) -> bytes:
    return message(Event="QueueCallerJoin", Queue="sales", Uniqueid=uniqueid,
                   Linkedid=uniqueid, Position="1", Count="1", Timestamp="101")


def hangup(uniqueid: str, at: str = "130") -> bytes:
    return message(Event="Hangup", Channel=f"PJSIP/trunk-{uniqueid}", Uniqueid=uniqueid,
                   Linkedid=uniqueid, Cause="16", Timestamp=at)


def channel_item(uniqueid: str, action_id: str) -> bytes:
    return message(Event="CoreShowChannel", ActionID=action_id,
                   Channel=f"PJSIP/trunk-{uniqueid}", Uniqueid=uniqueid, Linkedid=uniqueid,
                   Context="from-trunk", Exten="200", CallerIDNum="0612345678",
                   ChannelState="6", ChannelStateDesc="Up", Application="Queue",
                   ApplicationData="sales", Duration="00:00:05", BridgeId="")


async def resync(during: dict[str, bytes],
                 channels: Callable[[str], bytes] = lambda _: b"") -> list[DomainEvent]:
    """Connect, answer the three lists, and deliver ``during[list]`` just after that list
    completed (before the next one is asked); return what the bus saw."""
    bus = Bus()
    seen: list[DomainEvent] = []
    bus.subscribe("test", seen.extend)
    core = LiveCore(AmiSettings(), bus)
    conn = core.connections["node1"]
    transport = Transport()

    def deliver(first: int, events: list[AmiEvent]) -> None:
        core._queue.put_nowait(EventBatch("node1", first, events, 100.0))

    protocol = CtiProtocol(deliver, lambda exc: None)
    protocol.connection_made(transport)  # type: ignore[arg-type]
    conn._protocol = protocol
    conn.logged_in = True
    consumer = asyncio.create_task(core._consume())
    ready = asyncio.create_task(core._on_ready(conn))

    async def asked() -> tuple[str, str]:
        await transport.written.wait()
        written = transport.writes.pop(0)
        if not transport.writes:
            transport.written.clear()
        found = re.search(r"ActionID: (\S+)", written), re.search(r"Action: (\S+)", written)
        assert found[0] and found[1]
        return found[0].group(1), found[1].group(1)

    lists = {
        "QueueStatus": lambda aid: message(Event="QueueParams", Queue="sales",
                                           Strategy="rrmemory", Calls="0", ActionID=aid),
        "CoreShowChannels": channels,
        "DeviceStateList": lambda _: b"",
    }
    try:
        for expected, items in lists.items():
            aid, name = await asked()
            assert name == expected
            protocol.data_received(
                message(Response="Success", ActionID=aid, EventList="start", Message="x")
                + items(aid)
                + message(Event=f"{name}Complete", ActionID=aid, EventList="Complete"))
            if name in during:
                protocol.data_received(during[name])
        await ready
        await core._queue.join()
        return seen
    finally:
        consumer.cancel()


def about(seen: list[DomainEvent], call_id: str) -> list[str]:
    out = []
    for e in seen:
        if isinstance(e, CallTimelineEntry) and e.call_id == call_id:
            out.append(e.kind)
        elif isinstance(e, CallEnded) and e.call.id == call_id:
            out.append("CallEnded")
    return out


async def test_a_call_that_starts_between_the_lists_is_followed() -> None:
    # after CoreShowChannels answered, before DeviceStateList did
    seen = await resync({"CoreShowChannels": newchannel("1700.1") + joined("1700.1")
                         + hangup("1700.1")})
    assert about(seen, "node1:1700.1") == ["started", "queued", "ended", "CallEnded"]


async def test_a_caller_who_joins_after_queuestatus_is_queued_once() -> None:
    # The channel existed before CoreShowChannels (it lists it); its join came after
    # QueueStatus answered, so only the join is missing from the snapshot.
    seen = await resync({"QueueStatus": newchannel("1700.2") + joined("1700.2")},
                        channels=lambda aid: channel_item("1700.2", aid))
    assert about(seen, "node1:1700.2") == ["queued"]


async def test_a_hangup_between_the_lists_ends_the_call() -> None:
    seen = await resync({"CoreShowChannels": hangup("1700.3")},
                        channels=lambda aid: channel_item("1700.3", aid))
    assert about(seen, "node1:1700.3")[-1] == "CallEnded"


def test_each_list_reflects_its_own_kind_of_event_up_to_where_it_completed() -> None:
    snap = Snapshot("node1", 10, 0.0, [], [], [], channels_seq=20, devices_seq=30)
    join, new, device = ({"Event": "QueueCallerJoin"}, {"Event": "Newchannel"},
                         {"Event": "DeviceStateChange"})
    assert [snap.reflects(n, join) for n in (9, 10, 25)] == [True, False, False]
    assert [snap.reflects(n, new) for n in (9, 19, 20)] == [True, True, False]
    assert [snap.reflects(n, device) for n in (29, 30)] == [True, False]
    # without the later lists' points, every kind counts to the first one
    assert Snapshot("node1", 10, 0.0, [], [], []).reflects(15, device) is False
