"""Names: the files Asterisk leaves, where the store keeps them, what a download is called.

The dialplan (asterisk-conf/extensions_recording.conf) names a recording after its call's
Linkedid: ``<linkedid>.wav``, or ``<linkedid>.stereo.wav`` when MixMonitor interleaved the
two directions. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

# Asterisk's own ids (1764065234.42), or the ids the service gives the calls it places
# (Originate's ChannelId: cti-c2d-<hex> for click-to-dial, cti-dial-<n>-<hex> for campaigns).
_READY = re.compile(
    r"^(?P<linkedid>[0-9]{1,20}\.[0-9]{1,20}|cti-[a-z0-9]{1,8}(?:-[0-9a-f]{1,40}){1,2})"
    r"(?P<stereo>\.stereo)?\.wav$"
)
_UNSAFE = re.compile(r"[^A-Za-z0-9_.+-]+")


@dataclass(frozen=True, slots=True)
class ReadyName:
    linkedid: str
    stereo: bool


def parse_ready_name(name: str) -> ReadyName | None:
    """The call a finished file belongs to, or None for a file that is not ours."""
    match = _READY.match(name)
    if match is None:
        return None
    return ReadyName(match.group("linkedid"), match.group("stereo") is not None)


def store_path(started_at: datetime, linkedid: str) -> PurePosixPath:
    """Relative path in the store: one directory per UTC day keeps directories small and
    lets an operator see at a glance what a day holds."""
    day = started_at.astimezone(UTC)
    return PurePosixPath(f"{day:%Y/%m/%d}/{linkedid}.wav")


def download_name(
    recording_id: int, started_at: datetime, group: str | None, seat: str | None,
    customer_number: str | None,
) -> str:
    """``20261125-101130_sales_1001_0612345678_42.wav``: sortable, says what it is, and
    only characters every file system and Content-Disposition accept."""
    parts = [f"{started_at.astimezone(UTC):%Y%m%d-%H%M%S}"]
    parts += [p for p in (group, seat, customer_number) if p]
    parts.append(str(recording_id))
    return _UNSAFE.sub("-", "_".join(parts)) + ".wav"


def store_path_of(relative: str) -> PurePosixPath:
    return PurePosixPath(relative)
