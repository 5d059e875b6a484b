"""The writer's in-memory queue, as pure logic: no I/O, no clock, no asyncio."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Generic, TypeVar

T = TypeVar("T")


class PendingBuffer(Generic[T]):
    """FIFO of items waiting to be written, soft-bounded by ``limit``.

    ``append`` is O(1) and never refuses: the owner calls :meth:`overflow` to move the
    oldest items elsewhere (to disk) once the buffer holds more than ``limit``. Overflow
    drains down to ``limit // 2`` so that a sustained outage writes few, large segments.
    """

    __slots__ = ("_items", "limit", "low_water")

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self._items: deque[T] = deque()
        self.limit = limit
        self.low_water = limit // 2

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    def append(self, item: T) -> int:
        """Add the newest item; returns the new length."""
        self._items.append(item)
        return len(self._items)

    def take(self, n: int) -> list[T]:
        """Remove and return up to ``n`` of the oldest items, oldest first."""
        items = self._items
        count = min(n, len(items))
        return [items.popleft() for _ in range(count)]

    def push_front(self, items: Iterable[T]) -> None:
        """Give back items taken with :meth:`take` (a failed write), keeping their order."""
        self._items.extendleft(reversed(list(items)))

    def over_limit(self) -> bool:
        return len(self._items) > self.limit

    def overflow(self) -> list[T]:
        """When over the limit: remove and return the oldest items down to ``low_water``."""
        if len(self._items) <= self.limit:
            return []
        return self.take(len(self._items) - self.low_water)

    def drain(self) -> list[T]:
        """Remove and return everything, oldest first."""
        items = list(self._items)
        self._items.clear()
        return items
