"""One small function per AMI action (identifiers whitelisted before they are sent).

Each function takes the node's connection and returns typed data or raises an ``AmiError``
subclass; callers never see panoramisk messages.
"""

from __future__ import annotations

from cti.ami.connection import AmiConnection
from cti.ami.events import Snapshot


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


# Modules whose configuration the service generates (cti/telephony) and reloads.
RELOADABLE_MODULES = frozenset(
    {"pbx_config.so", "res_musiconhold.so", "app_voicemail.so", "app_queue.so"}
)


async def reload_module(conn: AmiConnection, module: str) -> None:
    """Reload one module's configuration (AMI ``Reload``, write class ``config``).

    Only the modules whose files the service writes: a reload never restarts Asterisk
    and never drops calls in progress.
    """
    if module not in RELOADABLE_MODULES:
        raise ValueError(f"module {module!r} is not one the service reloads")
    await conn.send({"Action": "Reload", "Module": module})


async def queue_reload(conn: AmiConnection, *, parameters: bool = True,
                       rules: bool = True) -> None:
    """Re-read queues.conf (and queuerules.conf) without touching dynamic members or
    callers waiting: ``Members: no`` keeps the seats logged in through the REST API."""
    await conn.send({
        "Action": "QueueReload",
        "Members": "no",
        "Parameters": "yes" if parameters else "no",
        "Rules": "yes" if rules else "no",
    })


async def queue_add(conn: AmiConnection, *, queue: str, interface: str, member_name: str,
                    penalty: int, paused: bool = False, reason: str = "") -> None:
    """Log a seat in to a queue (a dynamic member; ``persistentmembers`` keeps it)."""
    action: dict[str, str | int] = {
        "Action": "QueueAdd", "Queue": queue, "Interface": interface, "Penalty": penalty,
        "MemberName": member_name, "StateInterface": interface,
        "Paused": "true" if paused else "false",
    }
    if paused and reason:
        action["Reason"] = reason
    await conn.send(action)


async def queue_remove(conn: AmiConnection, *, queue: str, interface: str) -> None:
    await conn.send({"Action": "QueueRemove", "Queue": queue, "Interface": interface})


async def queue_pause(conn: AmiConnection, *, interface: str, paused: bool, reason: str = "",
                      queue: str | None = None) -> None:
    """Pause or unpause a seat in one queue, or in all of them (``queue=None``)."""
    action: dict[str, str] = {"Action": "QueuePause", "Interface": interface,
                              "Paused": "true" if paused else "false"}
    if queue is not None:
        action["Queue"] = queue
    if reason:
        action["Reason"] = reason
    await conn.send(action)


async def queue_penalty(conn: AmiConnection, *, queue: str, interface: str, penalty: int) -> None:
    await conn.send({"Action": "QueuePenalty", "Queue": queue, "Interface": interface,
                     "Penalty": penalty})


async def blind_transfer(conn: AmiConnection, *, channel: str, exten: str, context: str) -> None:
    """Send the party bridged with ``channel`` to ``exten@context``; ``channel`` leaves."""
    await conn.send({"Action": "BlindTransfer", "Channel": channel, "Exten": exten,
                     "Context": context})


async def attended_transfer(conn: AmiConnection, *, channel: str, exten: str,
                            context: str) -> None:
    """Start a consultation call from ``channel`` to ``exten@context`` (features atxfer);
    the transfer completes when ``channel`` hangs up, or is cancelled with
    :func:`cancel_attended_transfer`."""
    await conn.send({"Action": "Atxfer", "Channel": channel, "Exten": exten,
                     "Context": context})


async def cancel_attended_transfer(conn: AmiConnection, *, channel: str) -> None:
    await conn.send({"Action": "CancelAtxfer", "Channel": channel})


async def hangup(conn: AmiConnection, *, channel: str) -> None:
    """Hang up one channel by its exact name (never a pattern: no user input reaches a
    ``/regex/`` here, because callers pass names from the live mirror)."""
    if channel.startswith("/"):
        raise ValueError("hangup takes an exact channel name")
    await conn.send({"Action": "Hangup", "Channel": channel})
