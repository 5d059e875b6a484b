"""One small function per AMI action (identifiers whitelisted before they are sent).

Each function takes the node's connection and returns typed data or raises an ``AmiError``
subclass; callers never see panoramisk messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiUnsafeValue
from cti.ami.events import AmiEvent, Snapshot


async def snapshot(conn: AmiConnection) -> Snapshot:
    """Asterisk's own view of queues, channels and devices, for rebuilding the mirror,
    with the point in the event stream where each list was complete."""
    queues = await conn.send({"Action": "QueueStatus"}, multi=True, require_ready=False)
    channels = await conn.send({"Action": "CoreShowChannels"}, multi=True, require_ready=False)
    devices = await conn.send({"Action": "DeviceStateList"}, multi=True, require_ready=False)
    return Snapshot(
        node=conn.name,
        seq=queues.seq,
        channels_seq=channels.seq,
        devices_seq=devices.seq,
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


# --- channels and calls (supervision) ---------------------------------------------------

# An exact channel name: technology/resource-sequence, as Asterisk names channels.
EXACT_CHANNEL = re.compile(r"^[A-Za-z]{2,16}/[A-Za-z0-9_.@-]{1,80}-[0-9a-f]{8}$")
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_VARIABLE_NAME = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
_DIALPLAN_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INTERFACE = re.compile(r"^PJSIP/[A-Za-z0-9_.-]{1,64}$")
# A variable value ends up as a dialplan application argument: no separators or quoting.
_VARIABLE_VALUE = re.compile(r"^[A-Za-z0-9_./:@+-]{0,200}$")
_CALLER_ID_NAME = re.compile(r"^[A-Za-z0-9 _.-]{0,64}$")
_E164 = re.compile(r"^\+[1-9][0-9]{5,14}$")
_ENDPOINT = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One live channel as ``CoreShowChannels`` reports it."""

    name: str
    uniqueid: str
    linkedid: str
    state: int  # 6 = up
    application: str


async def channels(conn: AmiConnection) -> list[ChannelInfo]:
    """Every live channel of the node (AMI ``CoreShowChannels``, write class reporting)."""
    reply = await conn.send({"Action": "CoreShowChannels"}, multi=True)
    out: list[ChannelInfo] = []
    for event in reply.events:
        if event.get("Event") != "CoreShowChannel":
            continue

        def field(name: str, e: AmiEvent = event) -> str:
            value = e.get(name, "")
            return value if isinstance(value, str) else value[-1]

        try:
            state = int(field("ChannelState"))
        except ValueError:
            state = -1
        out.append(ChannelInfo(field("Channel"), field("Uniqueid"), field("Linkedid"), state,
                               field("Application")))
    return out


def _require(pattern: re.Pattern[str], what: str, value: str) -> str:
    if not pattern.fullmatch(value):
        raise AmiUnsafeValue(what, f"{value!r} is not an acceptable value")
    return value


async def originate_to_dialplan(
    conn: AmiConnection,
    *,
    interface: str,
    context: str,
    exten: str,
    channel_id: str,
    variables: Mapping[str, str],
    caller_id_name: str,
    caller_id_number: str,
    timeout_ms: int = 30_000,
    through: str | None = None,
) -> None:
    """Ring ``interface`` (a PJSIP endpoint) and, once answered, run ``context,exten,1``.

    Asynchronous: returns when Asterisk queued the call. ``channel_id`` becomes the new
    channel's Uniqueid (and so its Linkedid): the caller finds the leg in the events by it.
    ``through``: ring the phone from that dialplan context, as ``Local/<endpoint>@through/n``
    (a way to run a pre-dial handler on the phone's leg, which Originate itself cannot).
    """
    _require(_INTERFACE, "Channel", interface)
    channel = interface
    if through is not None:
        _require(_DIALPLAN_NAME, "through", through)
        channel = f"Local/{interface.partition('/')[2]}@{through}/n"
    _require(_DIALPLAN_NAME, "Context", context)
    _require(_DIALPLAN_NAME, "Exten", exten)
    _require(_CHANNEL_ID, "ChannelId", channel_id)
    _require(_CALLER_ID_NAME, "CallerID", caller_id_name)
    _require(_DIALPLAN_NAME, "CallerID", caller_id_number)
    assigned = [
        f"{_require(_VARIABLE_NAME, 'Variable', k)}={_require(_VARIABLE_VALUE, 'Variable', v)}"
        for k, v in variables.items()
    ]
    await conn.send({
        "Action": "Originate",
        "Channel": channel,
        "Context": context,
        "Exten": exten,
        "Priority": "1",
        "ChannelId": channel_id,
        "CallerID": f'"{caller_id_name}" <{caller_id_number}>',
        "Timeout": str(timeout_ms),
        "Variable": assigned,
        "Async": "true",
    })


async def originate_through_trunk(
    conn: AmiConnection,
    *,
    trunk: str,
    number: str,
    context: str,
    channel_id: str,
    variables: Mapping[str, str],
    caller_id_number: str,
    timeout_ms: int,
) -> None:
    """Call ``number`` (E.164) through the PJSIP endpoint ``trunk``; once the customer
    answers, run ``context,s,1`` on their channel. Asynchronous, like
    :func:`originate_to_dialplan`; ``timeout_ms`` is how long it may ring."""
    _require(_E164, "number", number)
    _require(_ENDPOINT, "trunk", trunk)
    _require(_DIALPLAN_NAME, "Context", context)
    _require(_CHANNEL_ID, "ChannelId", channel_id)
    if caller_id_number:
        _require(_E164, "CallerID", caller_id_number if caller_id_number.startswith("+")
                 else "+" + caller_id_number)
    assigned = [
        f"{_require(_VARIABLE_NAME, 'Variable', k)}={_require(_VARIABLE_VALUE, 'Variable', v)}"
        for k, v in variables.items()
    ]
    await conn.send({
        "Action": "Originate",
        "Channel": f"PJSIP/{number}@{trunk}",
        "Context": context,
        "Exten": "s",
        "Priority": "1",
        "ChannelId": channel_id,
        "CallerID": f"<{caller_id_number}>",
        "Timeout": str(timeout_ms),
        "Variable": assigned,
        "Async": "true",
    })


async def play_dtmf(conn: AmiConnection, channel: str, digit: str, *,
                    receive: bool = True) -> None:
    """Play one DTMF digit on an exact channel (name or uniqueid). ``receive``: as if the
    channel's phone had sent it, so the application running on the channel reacts."""
    _require(_CHANNEL_ID if "/" not in channel else EXACT_CHANNEL, "Channel", channel)
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise AmiUnsafeValue("Digit", f"{digit!r} is not a DTMF digit")
    await conn.send({
        "Action": "PlayDTMF",
        "Channel": channel,
        "Digit": digit,
        "Duration": "100",
        "Receive": "true" if receive else "false",
    })


async def hangup(conn: AmiConnection, channel: str) -> None:
    """Hang up one exact channel (name or uniqueid), never a ``/regex/``."""
    _require(_CHANNEL_ID if "/" not in channel else EXACT_CHANNEL, "Channel", channel)
    await conn.send({"Action": "Hangup", "Channel": channel})
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
