"""The hub: numbers deltas, keeps a ring for resuming, fans out to bounded client queues.

The hub is a bus subscriber, so :meth:`EventHub.publish` runs synchronously in the live
consumer task right after the tracker changed the mirror; it must never wait. Each delta
is rendered to JSON once (twice when agents see a reduced form) and the same string is
queued to every subscriber allowed to see it. A subscriber whose queue is full is cut
off on the spot: its queue is dropped, it is told to resync, and the publisher moves on,
so a slow client costs the others nothing.

Snapshot and sequence number are taken together in :meth:`EventHub.subscribe`, a plain
function with no ``await``: nothing can be published between reading the mirror, reading
``seq`` and registering the queue, so no delta is lost or duplicated across the seam.
"""

from __future__ import annotations

import asyncio
import enum
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cti.domain.events import DomainEvent
from cti.domain.view import LiveView
from cti.stream.audience import Audience, Viewer
from cti.stream.deltas import DeltaEncoder, render

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Frame:
    """One delta as sent: its number, who may see it, and its rendered forms."""

    seq: int
    audience: Audience
    text: str
    agent_text: str  # the same object as ``text`` unless agents see less

    def for_viewer(self, viewer: Viewer) -> str:
        return self.text if viewer.sees_all else self.agent_text


class Resume(enum.Enum):
    RESUME = "resume"
    TOO_OLD = "too_old"
    UNKNOWN_SEQUENCE = "unknown_sequence"


def resume_plan(since: int, current: int, oldest: int | None) -> Resume:
    """Can a client that saw every delta up to ``since`` resume from the ring?

    ``current`` is the last number issued, ``oldest`` the first one still held (None if
    the ring is empty).
    """
    if since > current:
        return Resume.UNKNOWN_SEQUENCE
    if since == current:
        return Resume.RESUME
    if oldest is None or since + 1 < oldest:
        return Resume.TOO_OLD
    return Resume.RESUME


class Subscription:
    """One client's bounded queue of rendered messages."""

    def __init__(self, viewer: Viewer, limit: int) -> None:
        self.viewer = viewer
        self._limit = limit
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._cut = asyncio.Event()
        self.cut_reason: str | None = None
        self.resync_text: str | None = None

    def put(self, text: str) -> bool:
        """Queue a message; False if the queue is full (the caller cuts the client off)."""
        if len(self._frames) >= self._limit:
            return False
        self._frames.append(text)
        self._wake.set()
        return True

    def put_initial(self, texts: Sequence[str]) -> None:
        """Snapshot or replay: queued whatever the limit, since it is sent first."""
        self._frames.extend(texts)
        self._wake.set()

    def cut_off(self, reason: str, resync_text: str) -> None:
        self._frames.clear()
        self.cut_reason = reason
        self.resync_text = resync_text
        self._cut.set()
        self._wake.set()

    @property
    def is_cut_off(self) -> bool:
        return self.cut_reason is not None

    @property
    def pending(self) -> int:
        return len(self._frames)

    async def take(self) -> list[str]:
        """Wait for messages and return all of them (empty once cut off)."""
        while not self._frames and not self.is_cut_off:
            self._wake.clear()
            await self._wake.wait()
        frames = list(self._frames)
        self._frames.clear()
        return frames

    async def wait_cut_off(self) -> None:
        await self._cut.wait()


class EventHub:
    """Sequence numbering, resume ring and fan-out of the live event stream."""

    def __init__(
        self,
        view: LiveView,
        *,
        ring_size: int = 10_000,
        client_queue: int = 1_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.encoder = DeltaEncoder(view)
        self._clock = clock
        self._client_queue = client_queue
        # Seeded from the clock (microseconds) so that numbers keep growing across restarts
        # and a client resuming from the previous process's numbers is told to resync.
        self.seq = int(clock() * 1_000_000)
        self._ring: deque[Frame] = deque(maxlen=ring_size)
        self._all: set[Subscription] = set()  # supervisors and admins
        self._agents: set[Subscription] = set()
        self._by_seat: dict[str, set[Subscription]] = {}
        self.deltas = 0
        self.cut_offs = 0

    @property
    def subscribers(self) -> int:
        return len(self._all) + len(self._agents)

    @property
    def backlog(self) -> int:
        """Messages queued for subscribers and not yet taken by their senders."""
        return sum(sub.pending for sub in self._all) + sum(sub.pending for sub in self._agents)

    # --- the bus side ------------------------------------------------------------------

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Bus subscriber: number, render, keep and fan out the deltas of ``events``."""
        encode = self.encoder.encode
        for event in events:
            for delta in encode(event):
                self.seq += 1
                text = render(delta.type, self.seq, delta.at, delta.data)
                agent_text = (
                    text
                    if delta.agent_data is None
                    else render(delta.type, self.seq, delta.at, delta.agent_data)
                )
                frame = Frame(self.seq, delta.audience, text, agent_text)
                self._ring.append(frame)
                self.deltas += 1
                self._fan_out(frame)

    def _fan_out(self, frame: Frame) -> None:
        slow: list[Subscription] = []
        text = frame.text
        for sub in self._all:
            if not sub.put(text):
                slow.append(sub)
        agent_text = frame.agent_text
        if frame.audience.everyone:
            targets: Sequence[set[Subscription]] = (self._agents,)
        else:
            found = (self._by_seat.get(s) for s in frame.audience.seats)
            targets = [t for t in found if t]
        for group in targets:
            for sub in group:
                if not sub.put(agent_text):
                    slow.append(sub)
        for sub in slow:
            self._cut_off(sub, "slow_consumer")

    def _cut_off(self, sub: Subscription, reason: str) -> None:
        self.unsubscribe(sub)
        self.cut_offs += 1
        sub.cut_off(reason, self._resync(reason))
        log.warning(
            "event stream client (%s) cut off: %s, told to resync",
            "all" if sub.viewer.sees_all else f"seat {sub.viewer.seat_id}",
            reason,
        )

    def _resync(self, reason: str) -> str:
        return render("resync", self.seq, self._clock(), {"reason": reason})

    # --- the client side ---------------------------------------------------------------

    def subscribe(self, viewer: Viewer, since: int | None = None) -> Subscription:
        """Register a client; its queue starts with a snapshot, or the replay after ``since``.

        No ``await`` in here: see the module docstring.
        """
        sub = Subscription(viewer, self._client_queue)
        first = self._resumed(viewer, since) if since is not None else None
        if first is None:
            snapshot = self.encoder.snapshot(viewer)
            first = [render("snapshot", self.seq, self._clock(), snapshot)]
            if since is not None:
                plan = resume_plan(since, self.seq, self._ring[0].seq if self._ring else None)
                # A replay longer than a client queue is as good as lost: also "too old".
                reason = Resume.TOO_OLD if plan is Resume.RESUME else plan
                first.insert(0, self._resync(reason.value))
        sub.put_initial(first)
        self._add(sub)
        return sub

    def _resumed(self, viewer: Viewer, since: int) -> list[str] | None:
        """``resumed`` and the deltas after ``since`` that ``viewer`` may see, or None if
        the client must resync (too old, unknown, or too many deltas to queue)."""
        oldest = self._ring[0].seq if self._ring else None
        if resume_plan(since, self.seq, oldest) is not Resume.RESUME:
            return None
        replay = self._replay(viewer, since)
        if replay is None:
            return None
        return [render("resumed", since, self._clock(), {"replayed": len(replay)}), *replay]

    def _replay(self, viewer: Viewer, since: int) -> list[str] | None:
        """The deltas after ``since`` that ``viewer`` may see; None if too many to queue."""
        if not self._ring or since >= self.seq:
            return []
        start = since + 1 - self._ring[0].seq
        out: list[str] = []
        for frame in itertools.islice(self._ring, start, None):
            if viewer.can_see(frame.audience):
                out.append(frame.for_viewer(viewer))
                if len(out) > self._client_queue:
                    return None
        return out

    def _add(self, sub: Subscription) -> None:
        viewer = sub.viewer
        if viewer.sees_all:
            self._all.add(sub)
            return
        self._agents.add(sub)
        if viewer.seat_id is not None:
            self._by_seat.setdefault(viewer.seat_id, set()).add(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        self._all.discard(sub)
        self._agents.discard(sub)
        seat_id = sub.viewer.seat_id
        if seat_id is not None:
            group = self._by_seat.get(seat_id)
            if group is not None:
                group.discard(sub)
                if not group:
                    del self._by_seat[seat_id]
