"""The read-only view of the live mirror that the REST API and the stream consume."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from cti.domain.model import Call, Seat, SkillGroup


class LiveView(Protocol):
    """What is happening now, merged across Asterisk nodes.

    Seat ids and skill-group names are unique across nodes (config guarantees it);
    call ids are node-prefixed Linkedids.
    """

    def seats(self) -> Mapping[str, Seat]: ...

    def skill_groups(self) -> Mapping[str, SkillGroup]: ...

    def active_calls(self) -> Mapping[str, Call]: ...
