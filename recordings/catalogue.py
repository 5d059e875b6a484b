"""Ready files -> catalogue rows -> the store.

The dialplan leaves each finished recording in ``ready/`` (a rename, so it is whole). A
task polls that directory (a directory listing a second is cheap, and needs no inotify);
for each file it needs the call's facts (seat, customer number, skill group), which come
from the ``CallEnded`` events on the bus or, after a restart, from the ``calls`` history.
A file whose call is still unknown waits up to ``grace`` seconds, then is catalogued with
what the file alone says, so that no recording is ever left out of the catalogue.

Length: ``duration_seconds`` is measured from the audio, as the catalogue promises. Asterisk's
MixMonitor writes only while media flows, so when a phone stops sending RTP (silence
suppression; SIPp phones that played their pcap) the audio is shorter than the call. The
audio is not padded and the duration not adjusted: the row also keeps ``call_seconds``,
the recorded part of the call by its events (AMI MixMonitorStart to the last hang-up),
and the API shows the difference as ``audio_gap_seconds``. A recording catalogued from
history alone (after a restart) has no ``call_seconds``.

Each catalogued recording is published on the bus (``RecordingCatalogued``), for the
live event stream.

Per file, crash-safe: inspect (fix the stereo header, hash once), insert the row, then
rename the file into the store. A crash between the last two leaves a row and a ready file:
the next pass finds the row (same call, same SHA-256) and finishes the rename. Files are
served only from the store, so a row whose file is not there yet answers 404, never half.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.domain.events import CallEnded, DomainEvent, RecordingCatalogued
from cti.health import ComponentStatus
from cti.tasks import Background
from recordings import naming
from recordings import repository as repo
from recordings.errors import InvalidWav
from recordings.storage import Inspected, RecordingDirs, inspect

log = logging.getLogger(__name__)

RECENT_CALLS = 10_000
GAP_WARNING_SECONDS = 2.0

Publish = Callable[[Sequence[DomainEvent]], None]


def facts_from_call(event: CallEnded) -> repo.CallFacts:
    c = event.call
    recorded = None
    if c.recording_started_at is not None and c.ended_at is not None:
        recorded = round(max(0.0, c.ended_at - c.recording_started_at), 3)
    return repo.CallFacts(
        call_id=c.id, direction=c.direction.value, seat_id=c.seat_id,
        customer_number=c.customer_number or None, skill_group=c.skill_group,
        # the retention policy key the dialplan records under (extensions_recording.conf)
        campaign=f"campaign-{c.campaign_id}" if c.campaign_id is not None else None,
        started_at=datetime.fromtimestamp(c.started_at, tz=UTC), call_seconds=recorded,
    )


class Cataloguer:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        dirs: RecordingDirs,
        node: str,
        *,
        interval: float = 1.0,
        grace: float = 30.0,
        clock: Callable[[], float] = time.time,
        publish: Publish | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._publish = publish
        self._dirs = dirs
        self._node = node
        self._interval = interval
        self._grace = grace
        self._clock = clock
        self._recent: OrderedDict[str, repo.CallFacts] = OrderedDict()
        self._wake = asyncio.Event()
        self._task = Background("recordings-catalogue", self._loop)
        self._skipped: set[str] = set()  # names already reported as not ours / invalid
        self.catalogued = 0
        self.failures = 0
        self.last_error: str | None = None

    # -- bus -------------------------------------------------------------------------
    def on_events(self, events: Sequence[DomainEvent]) -> None:
        """Bus subscriber: remember ended calls' facts and wake the loop. Never blocks."""
        woke = False
        for event in events:
            if isinstance(event, CallEnded):
                self._recent[event.call.id] = facts_from_call(event)
                self._recent.move_to_end(event.call.id)
                woke = True
        while len(self._recent) > RECENT_CALLS:
            self._recent.popitem(last=False)
        if woke:
            self._wake.set()

    # -- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self._dirs.ensure)
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()

    def health(self) -> ComponentStatus:
        running = self._task.running
        return ComponentStatus("recordings", running, {
            "catalogued": self.catalogued, "failures": self.failures,
            "last_error": self.last_error,
        })

    async def _loop(self) -> None:
        while True:
            try:
                await self.catalogue_ready()
                self.last_error = None
            except Exception as exc:  # the database may be down: retry on the next pass
                self.failures += 1
                self.last_error = type(exc).__name__
                log.warning("recordings catalogue pass failed: %s", exc)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # A CallEnded wakes us early: the file usually lands moments later.
                await asyncio.wait_for(self._wake.wait(), self._interval)

    # -- one pass ------------------------------------------------------------------------
    async def catalogue_ready(self) -> int:
        """Catalogue every ready file whose call is known (or waited long enough)."""
        done = 0
        for path in await asyncio.to_thread(self._dirs.ready_files):
            name = naming.parse_ready_name(path.name)
            if name is None:
                self._skip_once(path.name, "is not a recording name")
                continue
            if await self._catalogue(path, name):
                done += 1
        self.catalogued += done
        return done

    def _skip_once(self, name: str, why: str) -> None:
        if name not in self._skipped:
            self._skipped.add(name)
            log.warning("ready/%s %s: left where it is", name, why)

    async def _catalogue(self, path: Path, name: naming.ReadyName) -> bool:
        call_id = f"{self._node}:{name.linkedid}"
        facts = self._recent.get(call_id)
        if facts is None:
            async with self._sessionmaker() as s:
                facts = await repo.call_facts(s, call_id)
        try:
            mtime = (await asyncio.to_thread(os.stat, path)).st_mtime
        except FileNotFoundError:
            return False
        if facts is None and self._clock() - mtime < self._grace:
            return False  # the call's end may not have reached us yet
        try:
            found = await asyncio.to_thread(inspect, path, interleaved=name.stereo)
        except InvalidWav as exc:
            self._skip_once(path.name, f"is not a usable WAV ({exc})")
            return False
        if facts is None:
            log.warning("cataloguing %s without call facts (call %s unknown)", path.name, call_id)
            facts = repo.CallFacts(call_id, None, None, None, None, None, None)
        new = self._new_row(call_id, facts, found, mtime, name)
        async with self._sessionmaker() as s, s.begin():
            row = await repo.insert_recording(s, new)
        if row.sha256 != found.sha256:
            self._skip_once(path.name, f"is a second recording of call {call_id}")
            return False
        await asyncio.to_thread(self._dirs.move_to_store, path, naming.store_path_of(row.path))
        log.info("recording %d catalogued: call %s, %.1f s, %d bytes", row.id, call_id,
                 row.duration_seconds, row.size_bytes)
        gap = row.audio_gap_seconds
        if gap is not None and gap >= GAP_WARNING_SECONDS:
            log.warning("recording %d: %.1f s of audio for %.1f s of call (a phone sent no "
                        "media for a while)", row.id, row.duration_seconds, row.call_seconds)
        if self._publish is not None:
            self._publish([catalogued(row, self._clock())])
        return True

    def _new_row(self, call_id: str, facts: repo.CallFacts, found: Inspected, mtime: float,
                 name: naming.ReadyName) -> repo.NewRecording:
        duration = found.info.duration
        # The file was last written when the call ended: the best start when no call facts.
        started = facts.started_at or (
            datetime.fromtimestamp(mtime, tz=UTC) - timedelta(seconds=duration))
        return repo.NewRecording(
            call_id=call_id, node=self._node, facts=facts, started_at=started,
            duration_seconds=round(duration, 3), size_bytes=found.size,
            sha256=found.sha256, channels=found.info.channels,
            path=str(naming.store_path(started, name.linkedid)), call_seconds=facts.call_seconds,
        )


def catalogued(row: repo.Recording, at: float) -> RecordingCatalogued:
    return RecordingCatalogued(
        recording_id=row.id, call_id=row.call_id, direction=row.direction,
        seat_id=row.seat_id, customer_number=row.customer_number,
        skill_group=row.skill_group, campaign=row.campaign,
        started_at=row.started_at.timestamp(), duration_seconds=row.duration_seconds,
        call_seconds=row.call_seconds, channels=row.channels, size_bytes=row.size_bytes,
        at=at,
    )
