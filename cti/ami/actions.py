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
