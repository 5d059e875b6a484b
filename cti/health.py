"""Health that means something: each component reports its own status; /readyz aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


class HealthReporter(Protocol):
    def health(self) -> ComponentStatus: ...
