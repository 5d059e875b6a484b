"""The mirror: what one service instance believes Asterisk is doing now, across nodes."""

from __future__ import annotations

from dataclasses import dataclass, field

from cti.domain.events import CallTimelineEntry
from cti.domain.model import Call, Seat, SkillGroup


@dataclass(slots=True)
class NodeMirror:
    """Live state of one Asterisk node. Replaced wholesale on every resync."""

    name: str
    seats: dict[str, Seat] = field(default_factory=dict)
    skill_groups: dict[str, SkillGroup] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)  # active calls by call id
    channel_calls: dict[str, str] = field(default_factory=dict)  # uniqueid -> call id
    channel_names: dict[str, str] = field(default_factory=dict)  # uniqueid -> PJSIP/1001-0000002a
    devices: dict[str, str] = field(default_factory=dict)  # PJSIP/1001 -> device state
    # app_queue abandons not yet confirmed by the caller's hangup, by call id: part of the
    # mirror so that a resync settles those whose caller is gone instead of keeping them
    abandons: dict[str, CallTimelineEntry] = field(default_factory=dict)
    synced: bool = False  # False until rebuilt from Asterisk after a (re)connect
