"""The composition root: the one place that builds and wires the service's parts.

    AMI connections -> LiveCore (consumer task, trackers) -> Bus -> HistoryWriter
                                                              \\-> EventHub (WS /v1/events)
                                                              \\-> (dialer...)
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
from cti.api.routes.events import redact_tokens_in
from cti.bus import Bus
from cti.config import Settings, TelephonySettings
from cti.db.engine import make_engine, make_sessionmaker
from cti.domain.events import DomainEvent
from cti.health import HealthReporter
from cti.history.writer import HistoryWriter
from cti.live import LiveCore
from cti.stream.hub import EventHub
from cti.tracker.tracker import TrackerConfig

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
    hub = EventHub(core, ring_size=settings.stream.ring_size,
                   client_queue=settings.stream.client_queue)
    bus.subscribe("events", hub.publish)
    redact_tokens_in("uvicorn.error", "uvicorn.access")  # WS handshakes carry ?token=
    reporters: list[HealthReporter] = [*core.connections.values(), writer]

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await writer.start()
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
            await writer.stop()
            await engine.dispose()
            log.info("CTI service stopped")

    app = create_app(settings, live=core, sessionmaker=sessionmaker, health=reporters,
                     lifespan=lifespan, hub=hub)
    app.state.live = core
    app.state.bus = bus
    app.state.history = writer
    return app
