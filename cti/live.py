"""The live core: AMI connections -> one consumer task -> trackers -> bus.

The AMI protocol only enqueues what it reads (batches of events, snapshots, connection
losses); one owned task consumes the queue in order and is the only writer of the mirror.
After every (re)connect the node's mirror is marked unsynced: its events are held back
until the snapshot taken on that connection has rebuilt the mirror, then the held events
the snapshot does not already account for are replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.events import AmiEvent, EventBatch, Snapshot
from cti.bus import Bus
from cti.config import AmiSettings
from cti.domain.events import NodeConnectionChanged
from cti.domain.model import Call, Seat, SkillGroup
from cti.health import ComponentStatus
from cti.tracker.rebuild import rebuild
from cti.tracker.tracker import OutboundIntent, Tracker, TrackerConfig

log = logging.getLogger(__name__)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class _Lost:
    node: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class _Rebuild:
    snapshot: Snapshot
    done: asyncio.Future[None]


_Item = EventBatch | _Rebuild | _Lost


class LiveCore:
    """Owns the AMI connections and the trackers; implements ``LiveView``."""

    def __init__(
        self,
        settings: AmiSettings,
        bus: Bus,
        config: TrackerConfig | None = None,
        clock: Callable[[], float] = time.time,
        tick_interval: float = 0.5,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._tick_interval = tick_interval
        self._config = config or TrackerConfig()
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._held: dict[str, list[EventBatch]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.trackers = {n.name: Tracker(n.name, self._config) for n in settings.nodes}
        self.connections = {
            n.name: AmiConnection(n, settings, self._queue.put_nowait, self._on_ready,
                                  self._on_lost, clock)
            for n in settings.nodes
        }
        self.events_applied = 0
        # run after every (re)connect, once the mirror is rebuilt (e.g. re-apply config)
        self.ready_hooks: list[Callable[[AmiConnection], Awaitable[None]]] = []
        # Raw AMI events by name for parts that follow calls the tracker does not model
        # (the dialer's answer and hangup causes); called in order, on the consumer task.
        self._taps: dict[str, list[Callable[[str, AmiEvent, float], None]]] = {}

    # --- LiveView ------------------------------------------------------------------

    def seats(self) -> Mapping[str, Seat]:
        return _merged(t.mirror.seats for t in self.trackers.values())

    def skill_groups(self) -> Mapping[str, SkillGroup]:
        return _merged(t.mirror.skill_groups for t in self.trackers.values())

    def active_calls(self) -> Mapping[str, Call]:
        return _merged(t.mirror.calls for t in self.trackers.values())

    def connection(self, node: str) -> AmiConnection:
        return self.connections[node]

    def devices(self) -> dict[str, Mapping[str, str]]:
        """Per node, every device Asterisk reported (``PJSIP/1001`` -> state)."""
        return {name: t.mirror.devices for name, t in self.trackers.items()}

    def node_of(self, call_id: str) -> str:
        return call_id.split(":", 1)[0]

    def channels_of(self, call_id: str) -> dict[str, str]:
        """A live call's channels: uniqueid -> exact channel name."""
        tracker = self.trackers.get(self.node_of(call_id))
        if tracker is None:
            return {}
        mirror = tracker.mirror
        return {u: mirror.channel_names.get(u, "") for u, c in mirror.channel_calls.items()
                if c == call_id}

    def channel_live(self, node: str, uniqueid: str) -> bool | None:
        """Whether Asterisk ``node`` has the channel ``uniqueid`` now; None while its
        mirror is not synced (not connected yet, or lost until the resync)."""
        tracker = self.trackers.get(node)
        if tracker is None or not tracker.mirror.synced:
            return None
        return uniqueid in tracker.mirror.channel_calls

    def configure_groups(self, wrapup: Mapping[str, int], ring: Mapping[str, int],
                         strategies: Mapping[str, str] | None = None,
                         node: str | None = None) -> None:
        """Wrap-up and ring times per skill group, as the configuration now says; with
        ``strategies`` (every group's), node ``node``'s groups follow what was just
        applied to it."""
        self._config = dataclasses.replace(self._config, wrapup_seconds=dict(wrapup),
                                           ring_seconds=dict(ring))
        now = self._clock()
        for tracker in self.trackers.values():
            tracker.config = self._config
            if strategies is not None and tracker.node == node:
                self._bus.publish(tracker.configure_groups(strategies, now))

    def expect_outbound(self, call_id: str, intent: OutboundIntent) -> None:
        """Say, before originating it, who an outbound call is for (see OutboundIntent)."""
        tracker = self.trackers.get(self.node_of(call_id))
        if tracker is not None:
            tracker.intents[call_id] = intent

    def forget_outbound(self, call_id: str) -> None:
        """The Originate was refused: no events will end the intent."""
        tracker = self.trackers.get(self.node_of(call_id))
        if tracker is not None:
            tracker.intents.pop(call_id, None)

    def tap(self, event_name: str, listener: Callable[[str, AmiEvent, float], None]) -> None:
        """Call ``listener(node, event, received_at)`` for every ``event_name`` event,
        after the tracker applied it. Listeners must not block (they run on the consumer)."""
        self._taps.setdefault(event_name, []).append(listener)

    def forget_member(self, node: str, seat_id: str, group: str) -> None:
        """Asterisk ``node`` says the seat is not in ``group`` (see Tracker.forget_member)."""
        tracker = self.trackers.get(node)
        if tracker is not None:
            self._bus.publish(tracker.forget_member(seat_id, group, self._clock()))

    def end_wrap_up(self, seat_id: str) -> None:
        now = self._clock()
        for tracker in self.trackers.values():
            self._bus.publish(tracker.end_wrap_up(seat_id, now))

    def health(self) -> list[ComponentStatus]:
        return [c.health() for c in self.connections.values()]

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._consume(), name="live-consumer"),
            asyncio.create_task(self._tick(), name="live-tick"),
        ]
        for conn in self.connections.values():
            conn.start()

    async def stop(self) -> None:
        for conn in self.connections.values():
            await conn.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def drain(self) -> None:
        """Wait until everything enqueued so far has been applied (tests, benchmarks)."""
        await self._queue.join()

    # --- connection callbacks (run in the connection's supervisor task) -------------

    async def _on_ready(self, conn: AmiConnection) -> None:
        snap = await actions.snapshot(conn)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Rebuild(snap, done))
        await done  # the connection counts as ready once the mirror is rebuilt
        for hook in self.ready_hooks:
            try:
                await hook(conn)
            except Exception:
                log.exception("after-connect hook failed on %s", conn.name)

    def _on_lost(self, conn: AmiConnection, reason: str) -> None:
        self._queue.put_nowait(_Lost(conn.name, reason, self._clock()))

    # --- the one consumer ----------------------------------------------------------

    async def _consume(self) -> None:
        queue = self._queue
        while True:
            item = await queue.get()
            try:
                if isinstance(item, EventBatch):
                    self._apply_batch(item)
                elif isinstance(item, _Rebuild):
                    self._rebuild(item)
                else:
                    self._lost(item)
            except Exception:
                log.exception("live consumer failed on %s", type(item).__name__)
            finally:
                queue.task_done()

    def _apply_batch(self, batch: EventBatch) -> None:
        tracker = self.trackers[batch.node]
        if not tracker.mirror.synced:
            self._held.setdefault(batch.node, []).append(batch)
            return
        self._apply_events(tracker, batch, batch.events)

    def _apply_events(self, tracker: Tracker, batch: EventBatch,
                      events: list[AmiEvent]) -> None:
        apply = tracker.apply
        publish = self._bus.publish
        at = batch.received_at
        taps = self._taps
        for event in events:
            try:
                out = apply(event, at)
            except Exception:
                log.exception("tracker %s failed on %s", tracker.node, event.get("Event"))
                continue
            if out:
                publish(out)
            if taps:
                self._tap(tracker.node, event, at)
        self.events_applied += len(events)

    def _tap(self, node: str, event: AmiEvent, at: float) -> None:
        name = event.get("Event")
        for listener in self._taps.get(name, ()) if isinstance(name, str) else ():
            try:
                listener(node, event, at)
            except Exception:
                log.exception("event tap failed on %s", name)

    def _rebuild(self, item: _Rebuild) -> None:
        snap = item.snapshot
        tracker = self.trackers[snap.node]
        try:
            tracker.mirror, events = rebuild(snap, tracker.mirror, self._config)
            log.info(
                "mirror of %s rebuilt: %d seats, %d skill groups, %d active calls",
                snap.node,
                len(tracker.mirror.seats),
                len(tracker.mirror.skill_groups),
                len(tracker.mirror.calls),
            )
            self._bus.publish(
                [NodeConnectionChanged(snap.node, True, snap.taken_at), *events]
            )
            for batch in self._held.pop(snap.node, []):
                first = batch.first_seq
                # What the snapshot already shows is not applied twice; the rest is.
                self._apply_events(tracker, batch, [
                    e for i, e in enumerate(batch.events) if not snap.reflects(first + i, e)])
        finally:
            if not item.done.done():
                item.done.set_result(None)

    def _lost(self, item: _Lost) -> None:
        tracker = self.trackers[item.node]
        tracker.mirror.synced = False
        self._held[item.node] = []
        log.warning("AMI %s lost (%s): mirror frozen until resync", item.node, item.reason)
        self._bus.publish([NodeConnectionChanged(item.node, False, item.at, item.reason)])

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            now = self._clock()
            for tracker in self.trackers.values():
                if tracker.mirror.synced:
                    self._bus.publish(tracker.tick(now))


def _merged(maps: Iterable[Mapping[str, V]]) -> dict[str, V]:
    merged: dict[str, V] = {}
    for m in maps:
        merged.update(m)
    return merged

