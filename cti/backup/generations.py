"""Generations: their names and which ones retention removes (pure, no I/O).

A generation is named by the UTC time its run started, ``2026-11-25T020000Z`` (sortable,
no colons for file systems that refuse them); a second run in the same second gets
``.1``, ``.2``... appended.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import UTC, datetime

_FORMAT = "%Y-%m-%dT%H%M%SZ"
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{6}Z)(?:\.([1-9]\d{0,5}))?$")


def parse(name: str) -> tuple[datetime, int] | None:
    """When a generation's run started, and its same-second number; None: not a name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    try:
        at = datetime.strptime(match.group(1), _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
    return at, int(match.group(2) or 0)


def is_name(name: str) -> bool:
    return parse(name) is not None


def name_for(at: datetime, taken: Collection[str]) -> str:
    """The name of a generation started at ``at``: unlike any of ``taken``, and after
    every generation among them, so that it is the newest even when the clock stepped
    back (named then a moment after the newest) or an older one of the same second was
    pruned."""
    at = at.astimezone(UTC).replace(microsecond=0)
    newest = max((key for name in taken if (key := parse(name)) is not None), default=None)
    if newest is not None and (at, 0) <= newest:
        at, n = newest[0], newest[1] + 1
        return f"{at.strftime(_FORMAT)}.{n}"
    return at.strftime(_FORMAT)


def oldest_first(names: Iterable[str]) -> list[str]:
    """Generation names in the order they were made; other names left out."""
    parsed = [(key, name) for name in names if (key := parse(name)) is not None]
    return [name for _, name in sorted(parsed)]


def beyond_keep(names: Iterable[str], keep: int) -> list[str]:
    """The generations retention removes: all but the newest ``keep`` (at least one is
    always kept)."""
    ordered = oldest_first(names)
    return ordered[: max(0, len(ordered) - max(1, keep))]
