"""The ended calls the history writer holds and has not written yet (pure).

The tracker drops a call from the live mirror the moment it ends; the writer commits the
call's last record a batch later (about a second, longer under load). In between, the
call was in neither place: ``GET /v1/calls/{id}`` answered 404 (for 1.4 s on the bench)
and ``GET /v1/calls`` left it out. The writer knows exactly which calls those are, since
their ``CallEnded`` sits in its buffer, in the batch being written or in a spill segment:
it notes each one here when it takes it and settles it once its record is committed (or
refused for good), so the API can answer for them from here.

Segments spilled by an earlier run are not read back for this: their calls answer from
history once the writer has replayed them.
"""

from __future__ import annotations

from collections import OrderedDict

from cti.domain.model import Call


class PendingCalls:
    """Ended calls whose end is not in history yet, by id, oldest first.

    Each call counts its ``CallEnded`` records still to be written: a call ended twice
    (the tracker, then a resync) stays until both are settled. Bounded by ``limit``,
    oldest forgotten first: in a long outage the writer spills to disk without bound,
    and while the database is down the API cannot answer from history anyway.
    """

    __slots__ = ("_calls", "limit")

    def __init__(self, limit: int = 10_000) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._calls: OrderedDict[str, tuple[Call, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, call: Call) -> None:
        """The writer took ``call``'s ``CallEnded``. O(1): it runs on the event path."""
        held = self._calls.pop(call.id, None)
        self._calls[call.id] = (call, 1 if held is None else held[1] + 1)
        if len(self._calls) > self.limit:
            self._calls.popitem(last=False)

    def settle(self, call_id: str) -> None:
        """One ``CallEnded`` of ``call_id`` is in history now, or never will be."""
        held = self._calls.get(call_id)
        if held is None:  # forgotten over the limit, or spilled by an earlier run
            return
        call, unwritten = held
        if unwritten > 1:
            self._calls[call_id] = (call, unwritten - 1)
        else:
            del self._calls[call_id]

    def get(self, call_id: str) -> Call | None:
        """The call as it ended, while history does not have its end yet."""
        held = self._calls.get(call_id)
        return held[0] if held is not None else None

    def calls(self) -> list[Call]:
        """Every such call now, oldest ended first (a copy: the writer goes on)."""
        return [call for call, _ in self._calls.values()]
