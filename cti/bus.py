"""In-process fan-out of domain events.

Subscribers are plain callables that take a batch of events and must not block: the
history writer appends to its buffer, the WebSocket hub to per-client queues. Each
subscriber runs in its own guard, so one failing consumer never stops the others or the
tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from cti.domain.events import DomainEvent

log = logging.getLogger(__name__)

Subscriber = Callable[[Sequence[DomainEvent]], None]


class Bus:
    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Subscriber]] = []
        self.published = 0
        self.failures = 0

    def subscribe(self, name: str, subscriber: Subscriber) -> None:
        self._subscribers.append((name, subscriber))

    def publish(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        self.published += len(events)
        for name, subscriber in self._subscribers:
            try:
                subscriber(events)
            except Exception:
                self.failures += 1
                log.exception("subscriber %s failed on %d events", name, len(events))
