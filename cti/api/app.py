"""The FastAPI application factory.

The app does not build its collaborators: the composition root (``cti.runtime``) builds
the live mirror, the DB sessionmaker and the health reporters and passes them in here.
Nothing is created at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.types import Lifespan

from cti.api.abandon_messages import AbandonMessageService
from cti.api.auth import Authenticator, authorize, authorize_first
from cti.api.campaign_service import CampaignService
from cti.api.dial_service import DialService
from cti.api.directory import Directory
from cti.api.errors import install_error_handlers, refuse_unstorable_text
from cti.api.inbound_service import InboundService
from cti.api.lead_imports import LeadImportService
from cti.api.media import MediaServices, build_media
from cti.api.outbound_service import DispositionService, DncService, LeadService
from cti.api.preview_service import PreviewService
from cti.api.recording_service import RecordingService
from cti.api.report_service import ReportService
from cti.api.routes import (
    callbacks,
    calls,
    campaign_live,
    campaigns,
    click_to_dial,
    dials,
    events,
    monitor,
    music_on_hold,
    recordings,
    reports,
    seats,
    skill_groups,
    tokens,
    voicemail,
)
from cti.api.routes import health as health_routes
from cti.api.routes import inbound as inbound_routes
from cti.api.routes import metrics as metrics_routes
from cti.api.routes.deps import Services
from cti.api.schemas import problems
from cti.api.services import CallService, HealthService, SeatService, SkillGroupService
from cti.api.store import Store
from cti.api.token_service import TokenService
from cti.config import Settings
from cti.domain.view import LiveView
from cti.health import HealthReporter
from cti.history.pending import PendingCalls
from cti.imports.runner import ImportRunner
from cti.metrics import Metrics
from cti.supervision.service import SupervisionService
from cti.telephony.files import AsteriskFiles
from cti.telephony.sounds import SoundLibrary

if TYPE_CHECKING:  # cti.stream imports cti.api.schemas
    from cti.stream.hub import EventHub

TOKEN_CACHE_TTL = 30.0


def _version() -> str:
    try:
        return version("cti")
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "0+unknown"


def create_app(
    settings: Settings,
    *,
    live: LiveView,
    sessionmaker: async_sessionmaker[AsyncSession],
    health: Sequence[HealthReporter],
    lifespan: Lifespan[FastAPI] | None = None,
    token_cache_ttl: float = TOKEN_CACHE_TTL,
    inbound: InboundService | None = None,
    supervision: SupervisionService | None = None,
    media: MediaServices | None = None,
    hub: EventHub | None = None,
    recordings_service: RecordingService | None = None,
    imports: ImportRunner | None = None,
    pending_calls: PendingCalls | None = None,
    metrics: Metrics | None = None,
) -> FastAPI:
    """Build the REST app over the given live mirror, database and health reporters.

    ``lifespan``, if given, is the composition root's: it starts and stops the
    collaborators (AMI connections, tracker, history writer) around serving. ``media``
    (voicemail, hold music) defaults to services with no AMI connection (reads work;
    changes that need Asterisk answer 503 or report ``applied: false``). ``hub`` is
    the live event stream's, subscribed to the bus by the composition root; without it
    ``WS /v1/events`` refuses with 503. ``imports`` runs lead imports in the background
    (default: one built from ``settings.dialer``); it is ``app.state.imports``, which the
    composition root recovers at start and closes at stop. ``pending_calls``, the history
    writer's, answers for calls that ended and are not in history yet. ``metrics``
    (``GET /metrics``) defaults to the live view's, health's and HTTP's figures; the
    composition root passes one it also feeds from the bus and its parts.
    """
    app = FastAPI(
        title="CTI service",
        version=_version(),
        summary="Computer-telephony integration for call centres, driving Asterisk.",
        docs_url="/docs",
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
        debug=False,
    )
    install_error_handlers(app, authorize=authorize_first)
    app.state.metrics = metrics or Metrics(live, health)
    app.add_middleware(app.state.metrics.http.middleware)

    store = Store(sessionmaker)
    app.state.settings = settings
    app.state.supervision = supervision
    app.state.authenticator = Authenticator(store.authenticate, ttl=token_cache_ttl)
    app.state.tokens = TokenService(sessionmaker, app.state.authenticator)
    app.state.hub = hub
    app.state.services = Services(
        seats=SeatService(live, store, trunks=settings.telephony.trunk_endpoints),
        skill_groups=SkillGroupService(live, store),
        calls=CallService(live, store, pending_calls),
        health=HealthService(health),
        recordings=recordings_service,
    )
    app.state.media = media or build_media(settings, sessionmaker, {})
    dialer = settings.dialer
    runner = imports or ImportRunner(
        sessionmaker, workers=dialer.import_workers, batch_size=dialer.import_batch_size,
        default_region=dialer.default_region,
    )
    sounds = SoundLibrary(AsteriskFiles(settings.asterisk), settings.asterisk.system_sounds_dir)
    app.state.outbound = campaigns.OutboundServices(
        campaigns=CampaignService(sessionmaker, settings.dialer, sounds,
                                  Directory(live, sessionmaker)),
        messages=AbandonMessageService(sessionmaker, sounds,
                                       max_seconds=dialer.abandon_message_max_seconds),
        imports=LeadImportService(sessionmaker, settings.dialer, runner),
        leads=LeadService(sessionmaker, settings.dialer),
        dnc=DncService(sessionmaker, settings.dialer),
        dispositions=DispositionService(sessionmaker),
        previews=PreviewService(sessionmaker),
        dials=DialService(sessionmaker, settings.dialer),
    )
    app.state.imports = runner
    app.state.reports = ReportService(sessionmaker)

    v1 = APIRouter(
        prefix="/v1",
        # Authorized first (the route's own role, before anything reads its input); then
        # no route sees text that cannot be stored.
        dependencies=[Depends(authorize), Depends(refuse_unstorable_text)],
        responses=problems(401, 403, 422, 500, 503),
    )
    v1.include_router(seats.router)
    v1.include_router(skill_groups.router)
    v1.include_router(click_to_dial.router)
    v1.include_router(calls.router)
    if inbound is not None:
        app.state.inbound = inbound
        v1.include_router(inbound_routes.router)
    v1.include_router(monitor.router)
    v1.include_router(voicemail.router)
    v1.include_router(music_on_hold.router)
    v1.include_router(campaigns.router)
    v1.include_router(campaign_live.router)
    v1.include_router(campaigns.dnc_router)
    v1.include_router(campaigns.disposition_router)
    v1.include_router(dials.router)
    v1.include_router(callbacks.router)
    v1.include_router(recordings.router)
    v1.include_router(reports.router)
    v1.include_router(tokens.router)
    app.include_router(health_routes.router)
    app.include_router(metrics_routes.router)
    app.include_router(v1)
    # Not under v1's bearer dependency: a WebSocket also takes its token as ?token=.
    app.include_router(events.router, prefix="/v1")
    return app
