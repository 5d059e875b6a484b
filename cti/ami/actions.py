"""One small function per AMI action. Identifiers are whitelisted before they are sent.

Each function takes the node's connection and returns typed data or raises an ``AmiError``
subclass; callers never see panoramisk messages.
"""

from __future__ import annotations

import re

from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiUnsafeValue
from cti.ami.events import Snapshot

_QUEUE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INTERFACE = re.compile(r"^PJSIP/[A-Za-z0-9_.-]{1,64}$")
_REASON = re.compile(r"^[\w .,:-]{0,64}$")


def queue_name(value: str) -> str:
    if not _QUEUE.match(value):
        raise AmiUnsafeValue("Queue", f"{value!r} is not a skill-group name")
    return value


def interface(value: str) -> str:
    if not _INTERFACE.match(value):
        raise AmiUnsafeValue("Interface", f"{value!r} is not a PJSIP interface")
    return value


def pause_reason(value: str) -> str:
    if not _REASON.match(value):
        raise AmiUnsafeValue("Reason", f"{value!r} is not an allowed pause reason")
    return value


async def snapshot(conn: AmiConnection) -> Snapshot:
    """Asterisk's own view of queues, channels and devices, for rebuilding the mirror."""
    queues = await conn.send({"Action": "QueueStatus"}, multi=True, require_ready=False)
    channels = await conn.send({"Action": "CoreShowChannels"}, multi=True, require_ready=False)
    devices = await conn.send({"Action": "DeviceStateList"}, multi=True, require_ready=False)
    return Snapshot(
        node=conn.name,
        seq=devices.seq,
        taken_at=conn.clock(),
        queue_status=queues.events,
        channels=channels.events,
        device_states=devices.events,
    )


async def queue_add(
    conn: AmiConnection, queue: str, member: str, *, penalty: int = 0, paused: bool = False
) -> None:
    # QueueAdd's ack is read as a list reply by panoramisk 1.4 (defect 3): multi=False.
    await conn.send(
        {
            "Action": "QueueAdd",
            "Queue": queue_name(queue),
            "Interface": interface(member),
            "Penalty": max(0, int(penalty)),
            "Paused": "true" if paused else "false",
        }
    )


async def queue_remove(conn: AmiConnection, queue: str, member: str) -> None:
    await conn.send(
        {"Action": "QueueRemove", "Queue": queue_name(queue), "Interface": interface(member)}
    )


async def queue_pause(
    conn: AmiConnection, member: str, paused: bool, reason: str = "", queue: str | None = None
) -> None:
    action: dict[str, str] = {
        "Action": "QueuePause",
        "Interface": interface(member),
        "Paused": "true" if paused else "false",
    }
    if reason:
        action["Reason"] = pause_reason(reason)
    if queue is not None:
        action["Queue"] = queue_name(queue)
    await conn.send(action)
