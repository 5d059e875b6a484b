"""Health that means something: each component reports its own status; /readyz aggregates."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    name: str
    ok: bool
    detail: dict[str, Any] = field(default_factory=dict)


class HealthReporter(Protocol):
    def health(self) -> ComponentStatus: ...


def statuses(reporters: Iterable[HealthReporter]) -> list[ComponentStatus]:
    """Every component's own report; a reporter that raises counts as down, under its
    class's name, with the error's type."""
    found: list[ComponentStatus] = []
    for reporter in reporters:
        try:
            found.append(reporter.health())
        except Exception as exc:
            name = type(reporter).__name__
            log.exception("health reporter %s failed", name)
            found.append(ComponentStatus(name, False, {"error": type(exc).__name__}))
    return found
