"""The composition root: the one place that builds and wires the service's parts.

    AMI connections -> LiveCore (consumer task, trackers) -> Bus -> HistoryWriter
                                                              \\-> EventHub (WS /v1/events)
                                                              \\-> (dialer...)
    FastAPI app <- LiveView (the LiveCore), sessionmaker, health reporters

Nothing is created at import time; ``build_app`` is the uvicorn factory. The app's
lifespan takes part in the database's leader election (cti/cluster/): the replica that
holds the lock starts the parts in dependency order (at once if no other replica leads,
else when it takes over) and stops them in reverse; a standby serves only health.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import AsyncIterator, Callable, Collection, Coroutine, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami.connection import AmiConnection
from cti.api.app import create_app
from cti.api.inbound_service import InboundService
from cti.api.media import MohResync, build_media, media_node
from cti.api.recording_service import RecordingService
from cti.api.routes.events import redact_tokens_in
from cti.api.standby import StandbyGate
from cti.backup.schedule import BackupSchedule
from cti.bus import Bus
from cti.cluster.leadership import Leadership
from cti.cluster.lock import LeaderLock
from cti.config import Settings, TelephonySettings
from cti.db import repositories
from cti.db.engine import make_engine, make_sessionmaker
from cti.domain.events import DomainEvent, about_supervision_leg
from cti.health import HealthReporter
from cti.history.late_ends import LateEnds
from cti.history.writer import HistoryWriter
from cti.live import LiveCore
from cti.metrics import Metrics
from cti.metrics.campaigns import CampaignCollector
from cti.metrics.probes import Probe
from cti.outbound.click_to_dial import ClickRequest, ClickToDial
from cti.outbound.dialer import Dialer
from cti.outbound.groups import ensure_campaign_group
from cti.stream.hub import EventHub
from cti.stream.worker import StreamWorker
from cti.supervision.service import SupervisionService
from cti.telephony.agents import AgentControl, NoAnswerPauser
from cti.telephony.configurator import InboundConfigurator
from cti.telephony.defaults import default_config
from cti.telephony.files import AsteriskFiles
from cti.telephony.inbound import InboundConfig
from cti.telephony.transfers import Transfers
from cti.tracker.tracker import TrackerConfig
from recordings.catalogue import Cataloguer
from recordings.schedule import SweepSchedule, sync_stereo_markers
from recordings.storage import RecordingDirs
from recordings.sweep import Sweeper

log = logging.getLogger(__name__)

#: The exit status of a replica another one deposed (cti serve exits with it): sysexits'
#: EX_TEMPFAIL, "try again later" (uvicorn uses 3 for a failed start).
EXIT_DEPOSED = 75


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
            if not about_supervision_leg(event):
                submit(event)

    bus.subscribe("history", to_history)


class Background:
    """Tasks started off the event path (AMI actions decided by bus subscribers)."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def build_inbound(settings: Settings, sessionmaker: async_sessionmaker[AsyncSession],
                  core: LiveCore, bus: Bus, background: Background) -> InboundService:
    """Skill groups, IVR, agent control: PostgreSQL -> generated files -> Asterisk."""
    t = settings.telephony
    node = settings.ami.nodes[0].name
    files = AsteriskFiles(settings.asterisk)
    agents = AgentControl(core, sessionmaker, node)
    pauser = NoAnswerPauser(agents, background.spawn)
    bus.subscribe("no-answer-pause", pauser.on_events)

    def applied(config: InboundConfig) -> None:
        core.configure_groups(
            wrapup={g.name: g.wrapup_seconds for g in config.groups.values()},
            ring={g.name: g.ring_seconds for g in config.groups.values()},
            strategies={g.name: g.strategy for g in config.groups.values()}, node=node,
        )
        pauser.configure(config)

    configurator = InboundConfigurator(
        sessionmaker, files, lambda: core.connections,
        fallback_group=t.fallback_group, voicemail_pin=t.voicemail_pin, on_applied=applied,
        seed=default_config(wrapup_seconds=t.wrapup_seconds,
                            max_wait_seconds=t.max_wait_seconds),
        node=node,
    )

    async def on_connect(conn: AmiConnection) -> None:
        # PostgreSQL is the source of truth for configuration: whatever Asterisk read
        # while we were away, make it what the database says; and learn its seats.
        try:
            await configurator.sync()
        except Exception:  # Asterisk keeps its last good files; say so, carry on
            log.exception("could not apply the inbound configuration to %s", conn.name)
        await register_seats(sessionmaker, conn.name, core.devices().get(conn.name, {}),
                             trunks=t.trunk_endpoints)

    core.ready_hooks.append(on_connect)
    transfers = Transfers(core)
    transfers.attach(bus)
    return InboundService(
        sessionmaker, configurator, agents, transfers, core, files,
        fallback_group=t.fallback_group, default_node=node,
        system_sounds_dir=settings.asterisk.system_sounds_dir,
        trunk_endpoints=t.trunk_endpoints,
    )


async def register_seats(sessionmaker: async_sessionmaker[AsyncSession], node: str,
                         devices: Mapping[str, str], *, trunks: Collection[str]) -> None:
    """Seats Asterisk has (PJSIP endpoints named by digits, but not the carrier
    ``trunks``, which may be named by digits too) become configurable seats."""
    async with sessionmaker() as session, session.begin():
        known = {s.id for s in await repositories.list_seats(session)}
        for device in devices:
            tech, _, name = device.partition("/")
            if tech == "PJSIP" and name.isdigit() and name not in known | set(trunks):
                await repositories.upsert_seat(session, name, node=node, interface=device)
                log.info("seat %s registered from Asterisk %s", name, node)


def part_probes(core: LiveCore, bus: Bus, writer: HistoryWriter, hub: EventHub,
                cataloguer: Cataloguer | None) -> list[Probe]:
    """The figures ``GET /metrics`` reads from the service's parts at scrape time."""
    conns = core.connections
    probes = [
        Probe("cti_ami_connects", "AMI logins that completed (a reconnect adds one).",
              lambda: {(n,): c.connects for n, c in conns.items()}, "counter", ("node",)),
        Probe("cti_ami_events_applied", "AMI events the tracker applied.",
              lambda: core.events_applied, "counter"),
        Probe("cti_bus_events_published", "Domain events published to the bus.",
              lambda: bus.published, "counter"),
        Probe("cti_bus_subscriber_failures", "Times a bus subscriber raised.",
              lambda: bus.failures, "counter"),
        Probe("cti_history_pending", "History events not yet in PostgreSQL (memory, in "
              "flight, on disk).", lambda: writer.pending),
        Probe("cti_history_spilled", "History events waiting on disk for PostgreSQL.",
              lambda: writer.spilled),
        Probe("cti_history_written", "History events written to PostgreSQL.",
              lambda: writer.written, "counter"),
        Probe("cti_history_rejected", "History events PostgreSQL refused, set aside.",
              lambda: writer.rejected, "counter"),
        Probe("cti_stream_clients", "WebSocket /v1/events clients connected.",
              lambda: hub.subscribers),
        Probe("cti_stream_cut_offs", "Slow WebSocket clients told to resync.",
              lambda: hub.cut_offs, "counter"),
    ]
    if cataloguer is not None:
        probes += [
            Probe("cti_recordings_catalogued", "Recordings catalogued.",
                  lambda: cataloguer.catalogued, "counter"),
            Probe("cti_recordings_catalogue_failures", "Catalogue passes that failed.",
                  lambda: cataloguer.failures, "counter"),
        ]
    return probes


def build_app(settings: Settings | None = None, *,
              stop: Callable[[], None] | None = None) -> FastAPI:
    """The service. ``stop`` ends serving (the server's graceful shutdown); without it,
    the process sends itself SIGTERM."""
    settings = settings or Settings()
    engine = make_engine(settings.database)
    sessionmaker = make_sessionmaker(engine)
    bus = Bus()
    writer = HistoryWriter(engine, settings.history)
    subscribe_history(bus, writer)
    core = LiveCore(settings.ami, bus, tracker_config(settings.telephony))
    late_ends = LateEnds(
        sessionmaker, trunks=settings.telephony.trunk_endpoints,
        live_ids=lambda: core.active_calls().keys(),
        pending_ids=lambda: [c.id for c in writer.pending_calls.calls()])
    bus.subscribe("late-ends", late_ends.on_events)
    core.ready_hooks.append(late_ends.on_ready)
    hub = EventHub(core, ring_size=settings.stream.ring_size,
                   client_queue=settings.stream.client_queue)
    bus.subscribe("events", hub.publish)
    stream = settings.stream
    worker = (StreamWorker(hub, settings, port=stream.port, host=stream.host)
              if stream.port is not None else None)
    redact_tokens_in("uvicorn.error", "uvicorn.access")  # WS handshakes carry ?token=
    reporters: list[HealthReporter] = [*core.connections.values(), writer]
    if worker is not None:
        reporters.append(worker)
    background = Background()
    inbound = build_inbound(settings, sessionmaker, core, bus, background)
    supervision = SupervisionService(
        core, sessionmaker, trunk_endpoints=settings.telephony.trunk_endpoints)
    supervision.attach(bus)
    click = ClickToDial(core, sessionmaker, settings.dialer, settings.ami.nodes[0].name,
                        background.spawn)
    core.tap("DialBegin", click.on_dial_begin)
    core.tap("DialEnd", click.on_dial_end)
    bus.subscribe("click-to-dial", click.on_events)
    async def callback(seat: str, number: str, campaign_id: int) -> object:
        return await click.dial(ClickRequest(seat_id=seat, number=number,
                                             campaign_id=campaign_id, auto_answer=True))

    async def seat_group(campaign_id: int, seats: Sequence[str]) -> str:
        return await ensure_campaign_group(inbound, inbound.agents, core.seats(), campaign_id,
                                           seats)

    dialer = Dialer(core, sessionmaker, settings.dialer, settings.ami.nodes[0].name,
                    background.spawn, callback=callback, seat_group=seat_group,
                    sounds_dir=settings.asterisk.sounds_dir,
                    settle_clicks=click.settle_left_open)
    dialer.attach(bus.subscribe)
    media = build_media(settings, sessionmaker, core.connections)
    moh_resync = MohResync(media.moh, media_node(settings))
    bus.subscribe("moh-resync", moh_resync.on_events)

    # Recordings (issue 4): the dialplan records; here they are catalogued and swept.
    rec = settings.recordings
    dirs = RecordingDirs.from_files(AsteriskFiles(settings.asterisk))
    sweeper = Sweeper(sessionmaker, dirs, default_days=rec.default_retention_days,
                      batch_size=rec.sweep_batch_size, pause=rec.sweep_pause,
                      publish=bus.publish)
    recordings_service = RecordingService(sessionmaker, dirs, sweeper,
                                          rec.default_retention_days)
    cataloguer = Cataloguer(sessionmaker, dirs, rec.node or settings.ami.nodes[0].name,
                            interval=rec.catalogue_interval, grace=rec.catalogue_grace,
                            publish=bus.publish)
    schedule = SweepSchedule(sweeper, interval=rec.sweep_interval,
                             first_delay=rec.sweep_first_delay)
    backups = BackupSchedule.from_settings(settings)  # none without CTI_BACKUP__TARGET
    if rec.enabled:
        bus.subscribe("recordings", cataloguer.on_events)
        reporters.append(cataloguer)
    metrics = Metrics(core, reporters)
    bus.subscribe("metrics", metrics.events.on_events)
    metrics.add(*part_probes(core, bus, writer, hub, cataloguer if rec.enabled else None))
    metrics.add(*backups.probes())
    metrics.registry.register(CampaignCollector(dialer.statuses))

    parts_up = False

    async def start_parts() -> None:
        """Drive Asterisk: called once this replica holds the leader lock."""
        nonlocal parts_up
        parts_up = True  # first: a stop half-way through stops what did start
        await writer.start()
        late_ends.start()
        await supervision.start()  # before the core: it must see the first resync
        moh_resync.start()
        if rec.enabled:
            try:
                await sync_stereo_markers(sessionmaker, dirs)
            except Exception:  # the database may be down at start: the dialplan keeps mono
                log.exception("could not sync stereo recording markers")
            await cataloguer.start()
            schedule.start()
        try:
            await inbound.configurator.preload()
        except Exception:  # the database may be down at start: sync() applies it later
            log.exception("could not read the skill groups' timings before connecting")
        await core.start()
        await dialer.start()
        if worker is not None:  # its clients are fed off this loop
            await worker.start(app.state.authenticator)
        await app.state.imports.recover()  # lead imports a stop interrupted
        backups.start()
        log.info("CTI service driving %d Asterisk node(s)", len(settings.ami.nodes))

    async def stop_parts() -> None:
        nonlocal parts_up
        if not parts_up:
            return
        parts_up = False  # once: a deposed replica stops them before the server stops
        # The writer flushes (or spills) what it holds before the engine goes.
        await dialer.close()
        if worker is not None:
            await worker.stop()
        with contextlib.suppress(Exception):
            await core.stop()
        await background.cancel()
        await app.state.imports.close()
        await supervision.close()
        await moh_resync.stop()
        await backups.stop()
        await schedule.stop()
        await cataloguer.stop()
        await late_ends.stop()
        await writer.stop()

    async def step_down() -> None:
        # Another replica leads: stop driving Asterisk at once (the server may take a
        # while to drain its requests), stop serving, and exit non-zero so that a
        # supervisor (systemd, Docker) starts this one again, as a standby.
        app.state.exit_code = EXIT_DEPOSED
        try:
            await stop_parts()
        finally:
            if stop is not None:
                stop()
            else:
                signal.raise_signal(signal.SIGTERM)

    cluster = settings.cluster
    replica = cluster.replica or f"{socket.gethostname()}:{settings.api.port}"
    leadership = Leadership(
        LeaderLock(settings.database.url, replica, timeout=cluster.timeout,
                   # a leader that stops confirming for this long loses the lock
                   idle_limit=max(5.0, 3 * cluster.check_interval + cluster.timeout)),
        interval=cluster.check_interval, lead=start_parts, deposed=step_down)
    reporters.append(leadership)
    metrics.add(Probe("cti_history_settled_from_log", "Calls whose end no service saw, "
                      "settled from Asterisk's channel event log.",
                      lambda: late_ends.settled, "counter"),
                Probe("cti_history_closed_without_log", "Calls whose end no service saw "
                      "and the channel event log did not know, closed as last heard.",
                      lambda: late_ends.closed_blind, "counter"))
    metrics.add(Probe("cti_replica_leads", "1 while this replica holds the database's "
                      "leader lock and drives Asterisk; 0 on a standby.",
                      lambda: float(leadership.leads)))

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await leadership.start()  # leads now if no other replica does
        log.info("CTI service up as %s (%s), API on %s:%d", replica, leadership.role,
                 settings.api.host, settings.api.port)
        try:
            yield
        finally:
            await leadership.stop()  # no takeover while stopping
            await stop_parts()
            await leadership.release()  # only now may a standby take over
            await engine.dispose()
            log.info("CTI service stopped")

    app = create_app(settings, live=core, sessionmaker=sessionmaker, health=reporters,
                     lifespan=lifespan, inbound=inbound, supervision=supervision,
                     media=media, hub=hub, pending_calls=writer.pending_calls,
                     recordings_service=recordings_service if rec.enabled else None,
                     metrics=metrics)
    app.add_middleware(StandbyGate, leads=lambda: leadership.leads,
                       leader=lambda: leadership.leader)
    app.state.leadership = leadership
    app.state.exit_code = 0
    app.state.live = core
    app.state.click_to_dial = click
    app.state.dialer = dialer
    app.state.bus = bus
    app.state.history = writer
    app.state.recordings_catalogue = cataloguer
    return app
