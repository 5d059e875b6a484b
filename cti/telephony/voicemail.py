"""Voicemail messages as app_voicemail leaves them in the spool.

Layout (file storage, ``format = wav``)::

    <spool>/voicemail/<context>/<box>/INBOX/msg0000.txt   not yet heard
    <spool>/voicemail/<context>/<box>/INBOX/msg0000.wav
    <spool>/voicemail/<context>/<box>/Old/msg0000.{txt,wav} heard

app_voicemail records into the box's ``tmp/`` and renames the finished files into INBOX,
and renumbers ``msgNNNN`` whenever a message moves or goes. So messages are named here by
the ``msg_id`` line of their ``.txt`` (``<epoch>-<hex counter>``, written by Asterisk and
kept across renumbering and moves), prefixed by their box: ``sales:1764065320-00000003``.

Reading is pure file access (works while AMI is down); moving and deleting go through
app_voicemail's own AMI actions (:mod:`cti.ami.actions`), so its folder numbering and
message-waiting counts stay consistent.
"""

from __future__ import annotations

import logging
import os
import re
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

# Folders listed and what they mean: INBOX is new, Old is heard.
FOLDERS: dict[str, bool] = {"INBOX": False, "Old": True}
BOX_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}"  # never "." or ".."
MSG_ID_PATTERN = r"[0-9]{1,20}-[0-9A-Fa-f]{1,16}"
MESSAGE_ID_PATTERN = rf"^{BOX_PATTERN}:{MSG_ID_PATTERN}$"
_MESSAGE_ID = re.compile(MESSAGE_ID_PATTERN)
_BOX = re.compile(rf"^{BOX_PATTERN}$")
_MSG_FILE = re.compile(r"^msg[0-9]{4,}\.txt$")
# callerid="Customer Name" <0612345678>   |   callerid=0612345678   |   callerid=Unknown
_CALLERID = re.compile(r'^\s*(?:"(?P<qname>[^"]*)"|(?P<name>[^<]*?))\s*(?:<(?P<num>[^>]*)>)?\s*$')


class VoicemailError(Exception):
    """Base of voicemail errors.

    VoicemailError
     +-- MessageNotFound     no message with that id (any more)
    """


class MessageNotFound(VoicemailError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"voicemail message {message_id!r} not found")
        self.message_id = message_id


@dataclass(frozen=True, slots=True)
class MessageInfo:
    """What a message's ``.txt`` says (pure parse result)."""

    msg_id: str
    caller_name: str | None
    caller_number: str | None
    origtime: int
    duration: int  # whole seconds, as app_voicemail counted them
    orig_mailbox: str | None


@dataclass(frozen=True, slots=True)
class Message:
    """One message in the spool."""

    id: str  # "<box>:<msg_id>"
    context: str
    box: str
    folder: str
    msg_id: str
    caller_name: str | None
    caller_number: str | None
    received_at: int  # epoch seconds (origtime)
    duration: float  # seconds, from the WAV when it is readable
    audio: Path | None  # the WAV, None while it is not there
    size_bytes: int

    @property
    def heard(self) -> bool:
        return FOLDERS[self.folder]


def message_id(box: str, msg_id: str) -> str:
    return f"{box}:{msg_id}"


def split_message_id(value: str) -> tuple[str, str]:
    """``"sales:1764065320-00000003"`` -> ``("sales", "1764065320-00000003")``."""
    if not _MESSAGE_ID.match(value):
        raise ValueError(f"{value!r} is not a voicemail message id")
    box, msg_id = value.split(":", 1)
    return box, msg_id


def is_box_name(value: str) -> bool:
    return _BOX.match(value) is not None


def parse_callerid(value: str) -> tuple[str | None, str | None]:
    """app_voicemail's ``callerid=`` value -> (name, number); "Unknown" is neither."""
    m = _CALLERID.match(value)
    if m is None:
        return None, None
    name = (m.group("qname") if m.group("qname") is not None else m.group("name")) or ""
    number = (m.group("num") or "").strip()
    name = name.strip()
    if not number and name.replace("+", "", 1).isdigit():
        name, number = "", name  # a bare number
    if name.lower() == "unknown":
        name = ""
    return name or None, number or None


def parse_message_txt(text: str) -> MessageInfo | None:
    """Parse a message's ``.txt`` (an ini-like ``[message]`` section); None when it lacks
    what identifies a message (``msg_id``, ``origtime``)."""
    fields: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith((";", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        fields.setdefault(key.strip(), value.strip())
    msg_id = fields.get("msg_id", "")
    if not re.fullmatch(MSG_ID_PATTERN, msg_id):
        return None
    try:
        origtime = int(fields.get("origtime", ""))
    except ValueError:
        return None
    try:
        duration = max(0, int(fields.get("duration", "0") or 0))
    except ValueError:
        duration = 0
    name, number = parse_callerid(fields.get("callerid", ""))
    return MessageInfo(
        msg_id=msg_id,
        caller_name=name,
        caller_number=number,
        origtime=origtime,
        duration=duration,
        orig_mailbox=fields.get("origmailbox") or None,
    )


def wav_duration(path: Path) -> float | None:
    """Length of a PCM WAV in seconds, None when it is missing or not a readable WAV."""
    try:
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate else None
    except (OSError, EOFError, wave.Error):
        return None


_StatKey = tuple[int, int, int, int, int]


def _stat_key(txt: os.DirEntry[str], wav: os.DirEntry[str] | None) -> _StatKey | None:
    try:
        t = txt.stat()
        w = wav.stat() if wav is not None else None
    except FileNotFoundError:
        return None
    return (t.st_ino, t.st_mtime_ns, t.st_size,
            w.st_mtime_ns if w is not None else -1, w.st_size if w is not None else -1)


def boxes_holding_messages(context_dir: Path) -> list[str]:
    """The boxes of a voicemail context (``<spool>/voicemail/<context>``) that hold at
    least one message, in any folder the service lists."""
    held = []
    try:
        with os.scandir(context_dir) as boxes:
            names = sorted(e.name for e in boxes if e.is_dir() and is_box_name(e.name))
    except FileNotFoundError:
        return []
    for box in names:
        for folder in FOLDERS:
            try:
                with os.scandir(context_dir / box / folder) as it:
                    if any(_MSG_FILE.match(e.name) for e in it):
                        held.append(box)
                        break
            except (FileNotFoundError, NotADirectoryError):
                continue
    return held


class VoicemailSpool:
    """The messages of one voicemail context, read from ``<spool>/voicemail/<context>``.

    Parsed messages are cached per file, keyed by the ``.txt`` and ``.wav`` inode, size and
    modification time, so a listing re-reads only what changed since the last one (a
    renumbered message is a new path and is read again). Each box's cache is replaced by
    what its last scan saw, so deleted messages do not linger.
    """

    def __init__(self, context_dir: Path, context: str) -> None:
        self.dir = context_dir
        self.context = context
        self._cache: dict[str, dict[str, tuple[_StatKey, Message]]] = {}

    def boxes(self) -> list[str]:
        try:
            with os.scandir(self.dir) as entries:
                return sorted(e.name for e in entries if e.is_dir() and is_box_name(e.name))
        except FileNotFoundError:
            return []

    def messages(self, boxes: Iterable[str] | None = None) -> list[Message]:
        """Messages of ``boxes`` (default all), newest first."""
        names = self.boxes() if boxes is None else [b for b in boxes if is_box_name(b)]
        found = [m for box in names for m in self._box_messages(box)]
        found.sort(key=lambda m: (m.received_at, m.msg_id), reverse=True)
        return found

    def get(self, message_id: str) -> Message:
        try:
            box, msg_id = split_message_id(message_id)
        except ValueError:
            raise MessageNotFound(message_id) from None
        for message in self._box_messages(box):
            if message.msg_id == msg_id:
                return message
        raise MessageNotFound(message_id)

    def _box_messages(self, box: str) -> list[Message]:
        previous = self._cache.get(box, {})
        seen: dict[str, tuple[_StatKey, Message]] = {}
        for folder in FOLDERS:
            folder_dir = self.dir / box / folder
            try:
                with os.scandir(folder_dir) as it:
                    entries = {e.name: e for e in it}
            except (FileNotFoundError, NotADirectoryError):
                continue
            for name in sorted(entries):
                if not _MSG_FILE.match(name):
                    continue
                key = _stat_key(entries[name], entries.get(name[:-4] + ".wav"))
                if key is None:
                    continue  # went away while we listed
                path = entries[name].path
                hit = previous.get(path)
                if hit is not None and hit[0] == key:
                    seen[path] = hit
                    continue
                message = self._read(box, folder, Path(path))
                if message is not None:
                    seen[path] = (key, message)
        self._cache[box] = seen
        return [message for _, message in seen.values()]

    def _read(self, box: str, folder: str, txt: Path) -> Message | None:
        try:
            info = parse_message_txt(txt.read_text(errors="replace"))
        except FileNotFoundError:  # moved or deleted while we listed: not an error
            return None
        if info is None:
            log.warning("voicemail %s: %s has no msg_id/origtime; skipped", box, txt)
            return None
        wav = txt.with_suffix(".wav")
        measured = wav_duration(wav)
        try:
            size = wav.stat().st_size
        except FileNotFoundError:
            size = 0
        return Message(
            id=message_id(box, info.msg_id),
            context=self.context,
            box=box,
            folder=folder,
            msg_id=info.msg_id,
            caller_name=info.caller_name,
            caller_number=info.caller_number,
            received_at=info.origtime,
            duration=round(measured, 2) if measured is not None else float(info.duration),
            audio=wav if measured is not None else None,
            size_bytes=size,
        )
