"""Calls that just ended, for the moment between the live mirror and history.

The tracker drops a call from the mirror when it ends; the history writer commits it a
batch later (about a second, longer under load). Without this, ``GET /v1/calls/{id}``
answered 404 for a call that had just ended (seen on the bench: 1.4 s after an agent
hung up a click-to-dial call). Fed from the bus, it keeps each ended call for
``keep_seconds``, long past a normal commit; the store stays the record of truth and is
asked first.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Sequence

from cti.domain.events import CallEnded, DomainEvent
from cti.domain.model import Call


class RecentCalls:
    def __init__(
        self,
        keep_seconds: float = 60.0,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.keep_seconds = keep_seconds
        self.limit = limit
        self._clock = clock
        self._ended: OrderedDict[str, tuple[Call, float]] = OrderedDict()

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        """A bus subscriber: notes every ``CallEnded``."""
        now = self._clock()
        for event in events:
            if isinstance(event, CallEnded):
                self._ended.pop(event.call.id, None)
                self._ended[event.call.id] = (event.call, now)
        self._prune(now)

    def get(self, call_id: str) -> Call | None:
        """The call as it ended, if it ended within ``keep_seconds``."""
        self._prune(self._clock())
        entry = self._ended.get(call_id)
        return entry[0] if entry is not None else None

    def _prune(self, now: float) -> None:
        ended = self._ended
        while ended and (
            len(ended) > self.limit or next(iter(ended.values()))[1] < now - self.keep_seconds
        ):
            ended.popitem(last=False)
