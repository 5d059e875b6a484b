"""The ended calls and timeline entries the history writer holds, not written yet (pure).

The tracker drops a call from the live mirror the moment it ends; the writer commits the
call's last record a batch later (about a second, longer under load). In between, the
call was in neither place: ``GET /v1/calls/{id}`` answered 404 (for 1.4 s on the bench)
and ``GET /v1/calls`` left it out. The writer knows exactly which calls those are, since
their ``CallEnded`` sits in its buffer, in the batch being written or in a spill segment:
it notes each one here when it takes it and settles it once its record is committed (or
refused for good), so the API can answer for them from here.

The same goes for a call's timeline: history lacks the entries the writer has not
committed, the call's last ones (``ended``) and any taken before its end that still sit in
the buffer. The writer notes every timeline entry it takes here, numbered by its place
among all the events it takes, and settles them by number: it writes in the order it
took, so once a job is committed (or refused) every event numbered below the job's end
is settled. The API adds a call's entries from here to history's.

Segments spilled by an earlier run are not read back for this: their calls answer from
history once the writer has replayed them.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Any

from cti.domain.events import CallTimelineEntry
from cti.domain.model import Call
from cti.history.records import call_event_row, to_record


class PendingCalls:
    """Ended calls whose end is not in history yet, by id, oldest first.

    Each call counts its ``CallEnded`` records still to be written: a call ended twice
    (the tracker, then a resync) stays until both are settled. Also every call's timeline
    entries not written yet, ended or not (an entry is taken before its call's end).

    Bounded by ``limit`` calls and ``entry_limit`` entries, oldest forgotten first (a
    forgotten entry is missing from its timeline until written): in a long outage the
    writer spills to disk without bound, and while the database is down the API cannot
    answer from history anyway.
    """

    __slots__ = ("_by_call", "_calls", "_entries", "entry_limit", "limit")

    def __init__(self, limit: int = 10_000, entry_limit: int = 100_000) -> None:
        if limit < 1 or entry_limit < 1:
            raise ValueError("limit and entry_limit must be at least 1")
        self.limit = limit
        self.entry_limit = entry_limit
        self._calls: OrderedDict[str, tuple[Call, int]] = OrderedDict()
        # Unwritten entries by number, oldest first, and the same entries by call: the
        # oldest entry held is also the oldest its call has, so both drop from the left.
        self._entries: deque[tuple[int, CallTimelineEntry]] = deque()
        self._by_call: dict[str, deque[CallTimelineEntry]] = {}

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

    # -- timeline entries ------------------------------------------------------------

    def add_entry(self, number: int, entry: CallTimelineEntry) -> None:
        """The writer took ``entry`` as its event ``number`` (growing). O(1): event path."""
        self._entries.append((number, entry))
        held = self._by_call.get(entry.call_id)
        if held is None:
            self._by_call[entry.call_id] = held = deque()
        held.append(entry)
        if len(self._entries) > self.entry_limit:
            self._drop_oldest_entry()

    def settle_entries(self, below: int) -> None:
        """The writer's events numbered below ``below`` are in history, or never will be.

        O(1) per entry settled; numbers already settled are ignored.
        """
        entries = self._entries
        while entries and entries[0][0] < below:
            self._drop_oldest_entry()

    def timeline(self, call_id: str) -> list[dict[str, Any]]:
        """The ``call_events`` rows of ``call_id`` not written yet, in the order history
        will write them: converted exactly as the writer converts them."""
        rows: list[dict[str, Any]] = []
        for entry in self._by_call.get(call_id, ()):
            record = to_record(entry)
            assert record is not None  # history keeps every timeline entry
            rows.append(call_event_row(record))
        return rows

    @property
    def entries(self) -> int:
        """How many timeline entries are held."""
        return len(self._entries)

    def _drop_oldest_entry(self) -> None:
        _, entry = self._entries.popleft()
        held = self._by_call[entry.call_id]
        held.popleft()
        if not held:
            del self._by_call[entry.call_id]
