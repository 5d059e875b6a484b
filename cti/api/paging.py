"""One page of ended calls merged from history and from the history writer (pure).

History (PostgreSQL) pages itself; the ended calls the writer has not written yet
(:class:`cti.history.pending.PendingCalls`) are few and in memory. Both are ordered
newest first by (``started_at``, ``id``) and share no call (history is asked to leave
the writer's out). A page of the two merged never needs more of history than the page
plus one row per held call, whatever the offset:

- :func:`store_window` says which rows: from ``offset - held`` (at least 0). The held
  calls ahead of the page number at most ``held``, so the page starts at or after it.
- :func:`merge_page` places the first row fetched: it is preceded by exactly its store
  offset of rows and the held calls newer than it. Every later item's place follows by
  merging. Past the last row fetched the page is full, or history has no more rows and
  the remaining held calls come last.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from datetime import datetime
from itertools import islice

from cti.api.schemas import CallOut


def _newest_first(call: CallOut) -> tuple[datetime, str]:
    return call.started_at, call.id


def store_window(offset: int, limit: int, held: int) -> tuple[int, int]:
    """The (offset, limit) of history rows the page at ``offset``, ``limit`` needs when
    ``held`` calls merge in. With none held, the page itself."""
    if limit <= 0:  # only history's total is wanted
        return offset, 0
    start = max(0, offset - held)
    return start, offset + limit - start


def merge_page(
    rows: Sequence[CallOut],
    rows_offset: int,
    held: Sequence[CallOut],
    offset: int,
    limit: int,
) -> list[CallOut]:
    """The page at ``offset``, ``limit`` of history and ``held`` merged, newest first.

    ``rows`` are history's rows in the :func:`store_window` for ``len(held)`` held calls,
    fetched from ``rows_offset``; both sequences newest first, with no call in both.
    """
    if limit <= 0:
        return []
    start = 0  # the merged place of the first item merged below
    if rows_offset > 0:
        if not rows:  # history has at most rows_offset rows: everything ends before offset
            return []
        first = _newest_first(rows[0])
        ahead = sum(1 for call in held if _newest_first(call) > first)
        start = rows_offset + ahead
        held = [call for call in held if _newest_first(call) < first]
    assert start <= offset, (start, offset)  # store_window's promise
    merged = heapq.merge(rows, held, key=_newest_first, reverse=True)
    return list(islice(merged, offset - start, offset - start + limit))
