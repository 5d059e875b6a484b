"""One small function per AMI action (identifiers whitelisted before they are sent).

Each function takes the node's connection and returns typed data or raises an ``AmiError``
subclass; callers never see panoramisk messages.
"""

from __future__ import annotations

import re

from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiUnsafeValue
from cti.ami.events import AmiEvent, Snapshot


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


# Voicemail folders the service moves messages between (app_voicemail's own names).
VOICEMAIL_FOLDERS = frozenset({"INBOX", "Old"})
_VM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")
_VM_MSG_ID = re.compile(r"^[0-9]{1,20}-[0-9A-Fa-f]{1,16}$")


def _voicemail_target(context: str, mailbox: str, folder: str, msg_id: str) -> dict[str, str]:
    for header, value, pattern in (("Context", context, _VM_NAME), ("Mailbox", mailbox, _VM_NAME),
                                   ("ID", msg_id, _VM_MSG_ID)):
        if not pattern.match(value):
            raise AmiUnsafeValue(header, f"{value!r} is not a voicemail {header.lower()}")
    if folder not in VOICEMAIL_FOLDERS:
        raise AmiUnsafeValue("Folder", f"{folder!r} is not one of {sorted(VOICEMAIL_FOLDERS)}")
    return {"Context": context, "Mailbox": mailbox, "Folder": folder, "ID": msg_id}


async def voicemail_move(conn: AmiConnection, *, context: str, mailbox: str, folder: str,
                         msg_id: str, to_folder: str) -> None:
    """Move one message (by its ``msg_id``) between folders of a box (AMI
    ``VoicemailMove``, write class ``user``): app_voicemail renumbers the folders and
    updates its message-waiting counts itself, under its own folder locks."""
    if to_folder not in VOICEMAIL_FOLDERS:
        raise AmiUnsafeValue("ToFolder", f"{to_folder!r} is not a voicemail folder")
    reply = await conn.send({"Action": "VoicemailMove",
                             **_voicemail_target(context, mailbox, folder, msg_id),
                             "ToFolder": to_folder})
    _check_voicemail_reply("VoicemailMove", reply.headers)


async def voicemail_remove(conn: AmiConnection, *, context: str, mailbox: str, folder: str,
                           msg_id: str) -> None:
    """Delete one message (AMI ``VoicemailRemove``, write class ``user``)."""
    reply = await conn.send({"Action": "VoicemailRemove",
                             **_voicemail_target(context, mailbox, folder, msg_id)})
    _check_voicemail_reply("VoicemailRemove", reply.headers)


def _check_voicemail_reply(action: str, headers: AmiEvent) -> None:
    # app_voicemail answers a failed move or remove (no such message, box or folder) with
    # "Response: Success" and "Message: Message move failed" (Asterisk 22.10, checked).
    message = str(headers.get("Message", ""))
    if "failed" in message.lower():
        raise AmiActionFailed(action, message)
