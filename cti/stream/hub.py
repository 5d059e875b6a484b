"""The hub: numbers deltas into a ring, and fans them out to bounded client queues.

:meth:`EventHub.publish` is a bus subscriber: it runs synchronously in the live consumer
task right after the tracker changed the mirror, and must never wait. It encodes each
domain event into deltas (reading the mirror at that moment), numbers them and appends
them to the ring. That is all the consumer pays for when the clients are served by a
:class:`cti.stream.worker.StreamWorker`: rendering to JSON (once per delta, once more when
agents see a reduced form) and every per-client step happen on the worker's own thread
and event loop, woken once per batch.

Clients are grouped by the event loop that serves their WebSocket, one :class:`Fanout`
per loop. The fan-out of the publisher's own loop (the API's, when no worker runs) is
fed inline at the end of :meth:`EventHub.publish`; a worker's is woken with one
``call_soon_threadsafe`` and then takes every frame published since its last pass. Each
frame's text is queued to every subscriber allowed to see it; a subscriber whose queue is
full is cut off on the spot (told to resync) and the fan-out moves on, so a slow client
costs the others nothing.

Snapshot and sequence number are always taken together on the publisher's loop, in a
plain function with no ``await`` (:meth:`EventHub.subscribe`): nothing can be published
between reading the mirror and reading ``seq``. A client joins its fan-out at that
number: the frames after it that the fan-out had already passed are replayed from the
ring, those it has not reached yet come with the next pass, so no delta is lost or
duplicated across the seam.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from cti.domain.events import DomainEvent
from cti.domain.view import LiveView
from cti.stream.audience import Viewer
from cti.stream.deltas import Delta, DeltaEncoder, render

log = logging.getLogger(__name__)


class Frame:
    """One numbered delta: who may see it, and its wire forms, rendered on first use.

    Rendering happens on the thread that first needs the text (the worker's, when one
    serves the clients). Two threads rendering the same frame produce the same string, so
    the unlocked cache is safe; delta data is never changed once encoded.
    """

    __slots__ = ("_agent_text", "_delta", "_text", "audience", "seq")

    def __init__(self, seq: int, delta: Delta) -> None:
        self.seq = seq
        self.audience = delta.audience
        self._delta = delta
        self._text: str | None = None
        self._agent_text: str | None = None

    @property
    def text(self) -> str:
        text = self._text
        if text is None:
            d = self._delta
            text = self._text = render(d.type, self.seq, d.at, d.data)
        return text

    @property
    def agent_text(self) -> str:
        """What agents get: the same object as ``text`` unless agents see less."""
        text = self._agent_text
        if text is None:
            d = self._delta
            text = self._agent_text = (
                self.text if d.agent_data is None
                else render(d.type, self.seq, d.at, d.agent_data)
            )
        return text

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
    """One client's bounded queue of rendered messages (used on its fan-out's loop)."""

    def __init__(self, viewer: Viewer, limit: int) -> None:
        self.viewer = viewer
        self._limit = limit
        self._frames: deque[str] = deque()
        self._wake = asyncio.Event()
        self._cut = asyncio.Event()
        self.cut_reason: str | None = None
        self.resync_text: str | None = None
        self.fanout: Fanout | None = None

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


class Fanout:
    """The subscribers served on one event loop, and the last frame handed to them.

    Every method but :meth:`notify` runs on that loop (or, for the inline fan-out of the
    publisher's loop, on the publisher's thread).
    """

    def __init__(self, hub: EventHub, loop: asyncio.AbstractEventLoop | None) -> None:
        self._hub = hub
        self.loop = loop  # None: fed inline by the publisher
        self.cursor = hub.seq
        self._scheduled = False
        self._all: set[Subscription] = set()  # supervisors and admins
        self._agents: set[Subscription] = set()
        self._by_seat: dict[str, set[Subscription]] = {}
        self._joining: dict[Subscription, int] = {}  # joined ahead of the cursor
        self._chunk = max(1, min(256, hub.client_queue // 4))
        self.cut_offs = 0

    @property
    def subscribers(self) -> int:
        return len(self._all) + len(self._agents) + len(self._joining)

    @property
    def backlog(self) -> int:
        """Frames not handed out yet, plus messages queued and not yet sent."""
        subs = [*self._all, *self._agents]
        return self._hub.seq - self.cursor + sum(sub.pending for sub in subs)

    def notify(self) -> None:
        """From the publisher: new frames are in the ring."""
        if self.loop is None:
            self.drain()
        elif not self._scheduled:
            self._scheduled = True
            self.loop.call_soon_threadsafe(self.drain)

    def drain(self) -> None:
        """Hand the frames after the cursor to the subscribers allowed to see them.

        On a worker's loop at most ``chunk`` frames per pass, then the pass yields (the
        clients' senders run) and continues: a burst is never handed out in one piece
        larger than a quarter of a client queue, so a client that keeps up is never cut
        off by the size of a batch.
        """
        self._scheduled = False
        frames, oldest = self._hub.frames_after(self.cursor)
        if self.loop is not None and len(frames) > self._chunk:
            frames = frames[:self._chunk]
            self._scheduled = True
            self.loop.call_soon(self.drain)
        if oldest is not None and oldest > self.cursor + 1:
            # The ring moved on past frames this loop never handed out (it fell more than
            # a ring behind): nobody here can be trusted to have a gap-free view.
            log.warning("event stream fan-out fell %d frames behind: every client resyncs",
                        self._hub.seq - self.cursor)
            for sub in [*self._all, *self._agents, *self._joining]:
                self._cut_off(sub, "slow_consumer")
        if frames:
            self.cursor = frames[-1].seq
        slow: set[Subscription] = set()
        for frame in frames:
            self._fan_out(frame, slow)
            if slow:
                for sub in slow:
                    self._cut_off(sub, "slow_consumer")
                slow.clear()
        for sub, after in list(self._joining.items()):
            if after <= self.cursor:
                del self._joining[sub]
                self._join(sub, after)

    def _fan_out(self, frame: Frame, slow: set[Subscription]) -> None:
        if self._all:
            text = frame.text
            for sub in self._all:
                if not sub.put(text):
                    slow.add(sub)
        if frame.audience.everyone:
            targets: Sequence[set[Subscription]] = (self._agents,)
        else:
            found = (self._by_seat.get(s) for s in frame.audience.seats)
            targets = [t for t in found if t]
        for group in targets:
            if not group:
                continue
            agent_text = frame.agent_text
            for sub in group:
                if not sub.put(agent_text):
                    slow.add(sub)

    def add(self, sub: Subscription, after: int) -> None:
        """A client whose queue holds the stream up to ``after`` joins."""
        sub.fanout = self
        if after > self.cursor:
            self._joining[sub] = after  # the next pass reaches it
        else:
            self._join(sub, after)

    def _join(self, sub: Subscription, after: int) -> None:
        if after < self.cursor:
            missed = self._hub.replay(sub.viewer, after, upto=self.cursor)
            if missed is None:
                self._cut_off(sub, "slow_consumer")
                return
            sub.put_initial(missed)
        viewer = sub.viewer
        if viewer.sees_all:
            self._all.add(sub)
            return
        self._agents.add(sub)
        if viewer.seat_id is not None:
            self._by_seat.setdefault(viewer.seat_id, set()).add(sub)

    def remove(self, sub: Subscription) -> None:
        self._joining.pop(sub, None)
        self._all.discard(sub)
        self._agents.discard(sub)
        seat_id = sub.viewer.seat_id
        if seat_id is not None:
            group = self._by_seat.get(seat_id)
            if group is not None:
                group.discard(sub)
                if not group:
                    del self._by_seat[seat_id]

    def _cut_off(self, sub: Subscription, reason: str) -> None:
        self.remove(sub)
        self.cut_offs += 1
        sub.cut_off(reason, self._hub.resync_message(reason, self.cursor))
        log.warning(
            "event stream client (%s) cut off: %s, told to resync",
            "all" if sub.viewer.sees_all else f"seat {sub.viewer.seat_id}",
            reason,
        )


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
        self.client_queue = client_queue
        # Seeded from the clock (microseconds) so that numbers keep growing across restarts
        # and a client resuming from the previous process's numbers is told to resync.
        self.seq = int(clock() * 1_000_000)
        self._ring: deque[Frame] = deque(maxlen=ring_size)
        self._lock = threading.Lock()  # the ring and seq, between publisher and workers
        self._inline = Fanout(self, None)
        self._fanouts: list[Fanout] = [self._inline]
        self._by_loop: dict[asyncio.AbstractEventLoop, Fanout] = {}
        self._home: asyncio.AbstractEventLoop | None = None
        self.deltas = 0

    @property
    def subscribers(self) -> int:
        return sum(f.subscribers for f in self._fanouts)

    @property
    def cut_offs(self) -> int:
        return sum(f.cut_offs for f in self._fanouts)

    @property
    def backlog(self) -> int:
        """Frames and messages not yet handed to the clients' WebSockets."""
        return sum(f.backlog for f in self._fanouts)

    # --- the bus side ------------------------------------------------------------------

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Bus subscriber: number and keep the deltas of ``events``, wake the fan-outs."""
        encode = self.encoder.encode
        added = 0
        for event in events:
            deltas = encode(event)
            if not deltas:
                continue
            with self._lock:
                for delta in deltas:
                    self.seq += 1
                    self._ring.append(Frame(self.seq, delta))
            added += len(deltas)
        if added:
            self.deltas += added
            for fanout in self._fanouts:
                fanout.notify()

    def frames_after(self, seq: int) -> tuple[list[Frame], int | None]:
        """The frames numbered above ``seq`` still held, and the oldest number held."""
        with self._lock:
            if not self._ring:
                return [], None
            oldest = self._ring[0].seq
            if seq >= self.seq:
                return [], oldest
            start = max(0, seq + 1 - oldest)
            return list(itertools.islice(self._ring, start, None)), oldest

    def replay(self, viewer: Viewer, since: int, *, upto: int | None = None) -> list[str] | None:
        """The deltas after ``since`` (up to ``upto``) that ``viewer`` may see; None if
        they are no longer all held or too many to queue."""
        frames, oldest = self.frames_after(since)
        if frames and oldest is not None and since + 1 < oldest:
            return None
        out: list[str] = []
        for frame in frames:
            if upto is not None and frame.seq > upto:
                break
            if viewer.can_see(frame.audience):
                out.append(frame.for_viewer(viewer))
                if len(out) > self.client_queue:
                    return None
        return out

    def resync_message(self, reason: str, seq: int | None = None) -> str:
        return render("resync", self.seq if seq is None else seq, self._clock(),
                      {"reason": reason})

    # --- the client side ---------------------------------------------------------------

    def serve_from(self, loop: asyncio.AbstractEventLoop,
                   home: asyncio.AbstractEventLoop) -> Fanout:
        """Clients on ``loop`` (a worker's) are fed from there; ``home`` is the loop that
        publishes (snapshots are taken on it). Call before ``loop`` serves anyone."""
        fanout = Fanout(self, loop)
        self._home = home
        self._by_loop[loop] = fanout
        self._fanouts = [*self._fanouts, fanout]
        return fanout

    def stop_serving(self, loop: asyncio.AbstractEventLoop) -> None:
        fanout = self._by_loop.pop(loop, None)
        if fanout is not None:
            self._fanouts = [f for f in self._fanouts if f is not fanout]

    def subscribe(self, viewer: Viewer, since: int | None = None) -> Subscription:
        """Register a client of the publisher's own loop; its queue starts with a
        snapshot, or the replay after ``since``. No ``await``: see the module docstring."""
        first, at = self.opening(viewer, since)
        sub = Subscription(viewer, self.client_queue)
        sub.put_initial(first)
        self._inline.add(sub, at)
        return sub

    async def open(self, viewer: Viewer, since: int | None = None) -> Subscription:
        """Register a client of the running loop (the publisher's, or a worker's)."""
        fanout = self._by_loop.get(asyncio.get_running_loop())
        if fanout is None or self._home is None:
            return self.subscribe(viewer, since)
        done: concurrent.futures.Future[tuple[list[str], int]] = concurrent.futures.Future()

        def take() -> None:  # on the publisher's loop: snapshot and number together
            try:
                done.set_result(self.opening(viewer, since))
            except BaseException as exc:
                done.set_exception(exc)

        self._home.call_soon_threadsafe(take)
        first, at = await asyncio.wrap_future(done)
        sub = Subscription(viewer, self.client_queue)
        sub.put_initial(first)
        fanout.add(sub, at)
        return sub

    def opening(self, viewer: Viewer, since: int | None) -> tuple[list[str], int]:
        """What a new client is sent first, and the number it brings it up to. On the
        publisher's thread (a snapshot reads the mirror)."""
        first = self._resumed(viewer, since) if since is not None else None
        if first is None:
            snapshot = self.encoder.snapshot(viewer)
            first = [render("snapshot", self.seq, self._clock(), snapshot)]
            if since is not None:
                plan = resume_plan(since, self.seq, self._oldest())
                # A replay longer than a client queue is as good as lost: also "too old".
                reason = Resume.TOO_OLD if plan is Resume.RESUME else plan
                first.insert(0, self.resync_message(reason.value))
        return first, self.seq

    def _oldest(self) -> int | None:
        with self._lock:
            return self._ring[0].seq if self._ring else None

    def _resumed(self, viewer: Viewer, since: int) -> list[str] | None:
        """``resumed`` and the deltas after ``since`` that ``viewer`` may see, or None if
        the client must resync (too old, unknown, or too many deltas to queue)."""
        if resume_plan(since, self.seq, self._oldest()) is not Resume.RESUME:
            return None
        replay = self.replay(viewer, since)
        if replay is None:
            return None
        return [render("resumed", since, self._clock(), {"replayed": len(replay)}), *replay]

    def unsubscribe(self, sub: Subscription) -> None:
        fanout = sub.fanout or self._inline
        fanout.remove(sub)

