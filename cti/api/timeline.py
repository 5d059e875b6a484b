"""A call's timeline: history's entries completed with those not written yet (pure).

The history writer commits a call's timeline a batch after it happens, so for about a
second history alone lacks a just-ended call's end (``ended``), often its whole timeline.
The writer's :meth:`cti.history.pending.PendingCalls.timeline` has exactly the entries
it has not committed. The service reads those first, then history (an await): entries
the writer commits in between are in both, and :func:`merge_timeline` counts them once.
"""

from __future__ import annotations

from collections.abc import Sequence

from cti.api.schemas import TimelineEntryOut


def merge_timeline(
    stored: Sequence[TimelineEntryOut], unwritten: Sequence[TimelineEntryOut]
) -> list[TimelineEntryOut]:
    """The timeline as history will have it once ``unwritten`` is committed.

    ``stored``: history's, by time then arrival (``call_events`` ``at``, ``id``).
    ``unwritten``: the writer's, read before ``stored``, in the order it writes them.

    The writer commits in that order, so what history got meanwhile is a leading run of
    ``unwritten``: each of those matches a stored entry not matched yet, and from the
    first that does not, none was committed. (Only an entry identical in every field,
    time to the microsecond included, to an older one could be taken for it, and only
    until it is committed.) Arrival decides ties in ``call_events`` and entries still
    unwritten arrive after every stored one, so a stable sort by time of the stored
    entries followed by the rest is the order history will show.
    """
    left = list(stored)
    committed = 0
    for entry in unwritten:
        try:
            left.remove(entry)  # by value: a row read back equals the one held
        except ValueError:
            break
        committed += 1
    return sorted([*stored, *unwritten[committed:]], key=lambda e: e.at)
