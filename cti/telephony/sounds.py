"""Prompts Asterisk plays, by name: what Playback is given, which exist, storing uploads.

Names are what the API and the database hold, checked against
:data:`cti.telephony.inbound.SOUND_PATTERN` (no dots, so no ``..`` and no extension).
Asterisk's own sounds go by their name (``tt-allbusy``: Asterisk looks in its sounds
directory, in the channel's language). Prompts uploaded to the service are named
``cti/<path>`` and live under ``AsteriskFilesSettings.sounds_dir``, a directory Asterisk
and the service share (the bench renders it inside Asterisk's chroot, docker-compose
mounts it in both containers); Playback is given its absolute path, without extension.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path, PurePosixPath

from cti.telephony.files import AsteriskFiles, write_atomic
from cti.telephony.inbound import SOUND_PATTERN
from cti.telephony.prompt_wav import EXTENSIONS, Prompt

UPLOADED = "cti/"
#: What Asterisk can play a prompt from (the formats our modules.conf loads and more).
SOUND_EXTENSIONS = (".wav", ".wav16", ".gsm", ".ulaw", ".alaw", ".sln", ".sln16", ".g722")
_SOUND = re.compile(SOUND_PATTERN)


def is_sound_name(name: str) -> bool:
    return _SOUND.match(name) is not None


def playback_target(name: str, sounds_dir: str) -> str:
    """What Playback and Background are given for ``name``: uploaded prompts by their
    absolute path (as Asterisk sees ``sounds_dir``), Asterisk's own by name."""
    if name.startswith(UPLOADED):
        return f"{sounds_dir.rstrip('/')}/{name.removeprefix(UPLOADED)}"
    return name


class SoundLibrary:
    """The prompts on the Asterisk node's disk, as the service reaches them."""

    def __init__(self, files: AsteriskFiles, system_sounds_dir: str) -> None:
        self._files = files
        self._system = PurePosixPath(system_sounds_dir)

    def exists(self, name: str) -> bool:
        """True when Asterisk would find ``name`` in a format it plays: a prompt that is
        missing is skipped silently (or hangs up the call) at play time."""
        if not is_sound_name(name):
            return False
        base = self._base(name)
        host = self._files.resolve(base.parent) / base.name
        return any(host.with_name(host.name + ext).is_file() for ext in SOUND_EXTENSIONS)

    def store(self, name: str, prompt: Prompt) -> Path:
        """Write ``prompt`` as the uploaded prompt ``name``; returns the file written.

        Atomic (a temporary file renamed over), so a call playing it meanwhile hears the
        old recording or the new one, never half. The other rate's file goes afterwards:
        with both present Asterisk would pick one by codec, not the newest.
        """
        if not name.startswith(UPLOADED) or not is_sound_name(name):
            raise ValueError(f"{name!r} is not the name of an uploaded prompt")
        base = self._base(name)
        host = self._files.resolve(base.parent) / base.name
        target = host.with_name(f"{host.name}.{prompt.extension}")
        write_atomic(target, prompt.wav)
        for extension in EXTENSIONS.values():
            if extension != prompt.extension:
                with contextlib.suppress(FileNotFoundError):
                    host.with_name(f"{host.name}.{extension}").unlink()
        return target

    def _base(self, name: str) -> PurePosixPath:
        if name.startswith(UPLOADED):
            return self._files.sounds_dir / name.removeprefix(UPLOADED)
        return self._system / name
