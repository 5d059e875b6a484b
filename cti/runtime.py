"""The composition root: the one place that builds and wires the service's parts.

    AMI connections -> LiveCore (consumer task, trackers) -> Bus -> HistoryWriter
                                                              \\-> (WebSocket hub, dialer...)
    FastAPI app <- LiveView (the LiveCore), sessionmaker, health reporters

Nothing is created at import time; ``build_app`` is the uvicorn factory, and the app's
lifespan starts the parts in dependency order and stops them in reverse.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence

from fastapi import FastAPI

from cti.api.app import create_app
from cti.api.recording_service import RecordingService
from cti.bus import Bus
from cti.config import Settings, TelephonySettings
from cti.db.engine import make_engine, make_sessionmaker
from cti.domain.events import DomainEvent
from cti.health import HealthReporter
from cti.history.writer import HistoryWriter
from cti.live import LiveCore
from cti.telephony.files import AsteriskFiles
from cti.tracker.tracker import TrackerConfig
from recordings.catalogue import Cataloguer
from recordings.schedule import SweepSchedule, sync_stereo_markers
from recordings.storage import RecordingDirs
from recordings.sweep import Sweeper

log = logging.getLogger(__name__)


def tracker_config(t: TelephonySettings) -> TrackerConfig:
    return TrackerConfig(
        trunk_endpoints=frozenset(t.trunk_endpoints),
        inbound_contexts=frozenset(t.inbound_contexts),
        wrapup_seconds=dict(t.group_wrapup_seconds),
        default_wrapup_seconds=t.wrapup_seconds,
    )


def subscribe_history(bus: Bus, writer: HistoryWriter) -> None:
    submit = writer.submit

    def to_history(events: Sequence[DomainEvent]) -> None:
        for event in events:
            submit(event)

    bus.subscribe("history", to_history)


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    engine = make_engine(settings.database)
    sessionmaker = make_sessionmaker(engine)
    bus = Bus()
    writer = HistoryWriter(engine, settings.history)
    subscribe_history(bus, writer)
    core = LiveCore(settings.ami, bus, tracker_config(settings.telephony))
    reporters: list[HealthReporter] = [*core.connections.values(), writer]

    # Recordings (issue 4): the dialplan records; here they are catalogued and swept.
    rec = settings.recordings
    dirs = RecordingDirs.from_files(AsteriskFiles(settings.asterisk))
    sweeper = Sweeper(sessionmaker, dirs, default_days=rec.default_retention_days,
                      batch_size=rec.sweep_batch_size, pause=rec.sweep_pause)
    recordings_service = RecordingService(sessionmaker, dirs, sweeper,
                                          rec.default_retention_days)
    cataloguer = Cataloguer(sessionmaker, dirs, rec.node or settings.ami.nodes[0].name,
                            interval=rec.catalogue_interval, grace=rec.catalogue_grace)
    schedule = SweepSchedule(sweeper, interval=rec.sweep_interval,
                             first_delay=rec.sweep_first_delay)
    if rec.enabled:
        bus.subscribe("recordings", cataloguer.on_events)
        reporters.append(cataloguer)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await writer.start()
        if rec.enabled:
            try:
                await sync_stereo_markers(sessionmaker, dirs)
            except Exception:  # the database may be down at start: the dialplan keeps mono
                log.exception("could not sync stereo recording markers")
            await cataloguer.start()
            schedule.start()
        await core.start()
        log.info(
            "CTI service up: %d Asterisk node(s), API on %s:%d",
            len(settings.ami.nodes),
            settings.api.host,
            settings.api.port,
        )
        try:
            yield
        finally:
            # The writer flushes (or spills) what it holds before the engine goes.
            with contextlib.suppress(Exception):
                await core.stop()
            await schedule.stop()
            await cataloguer.stop()
            await writer.stop()
            await engine.dispose()
            log.info("CTI service stopped")

    app = create_app(settings, live=core, sessionmaker=sessionmaker, health=reporters,
                     lifespan=lifespan,
                     recordings_service=recordings_service if rec.enabled else None)
    app.state.live = core
    app.state.bus = bus
    app.state.history = writer
    app.state.recordings_catalogue = cataloguer
    return app
