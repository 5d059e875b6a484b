"""``/v1/campaigns``, ``/v1/dnc`` and ``/v1/calls/{id}/disposition``.

Supervisors and admins manage campaigns and the DNC list; agents read a campaign (its
script is their screen) and post dispositions; only admins take a number off the global
DNC list. The dialing engine that acts on a campaign's state is not here; a change is
handed to it at once (:func:`applied`).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response, status
from fastapi.responses import StreamingResponse

from cti.api.abandon_messages import AbandonMessageService
from cti.api.auth import Caller, Role, acting_seat, require
from cti.api.campaign_schemas import (
    PHONE_INPUT_MAX,
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    CampaignStatsOut,
    DialOut,
    DispositionIn,
    DispositionOut,
    DncAddedOut,
    DncIn,
    DncOut,
    ImportJobOut,
    LeadFieldsIn,
    LeadOut,
    LeadPatch,
    PreviewIn,
    PreviewOut,
    RowErrorOut,
    ScreenPopOut,
    ScriptIn,
)
from cti.api.campaign_service import CampaignService
from cti.api.dial_service import DialService
from cti.api.errors import ApiError
from cti.api.lead_imports import LeadImportService
from cti.api.outbound_service import DispositionService, DncService, LeadService
from cti.api.preview_service import PreviewService
from cti.api.schemas import CALL_ID_PATTERN, Page, problems
from cti.db.campaign_records import LeadStatus
from cti.outbound.dialer import Dialer
from cti.telephony.prompt_wav import max_upload_bytes
from dialer.campaign import State, Transition
from dialer.schedule import Grade


@dataclass(frozen=True, slots=True)
class OutboundServices:
    """Built by :func:`cti.api.app.create_app`, kept on ``app.state.outbound``."""

    campaigns: CampaignService
    messages: AbandonMessageService
    imports: LeadImportService
    leads: LeadService
    dnc: DncService
    dispositions: DispositionService
    previews: PreviewService
    dials: DialService


def outbound(request: Request) -> OutboundServices:
    found: OutboundServices = request.app.state.outbound
    return found


Outbound = Annotated[OutboundServices, Depends(outbound)]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/campaigns", tags=["campaigns"])
dnc_router = APIRouter(prefix="/dnc", tags=["dnc"])
disposition_router = APIRouter(prefix="/calls", tags=["calls"])

CampaignId = Annotated[int, Path(ge=1, le=2**31 - 1)]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
Agent = Annotated[Caller, Depends(require(Role.AGENT))]
MAX_LIMIT = 500

IMPORT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string", "format": "binary"}},
            "application/json": {"schema": {"type": "string", "format": "binary"}},
            "application/x-ndjson": {"schema": {"type": "string", "format": "binary"}},
        },
        "description": "CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, or the Content-Type's "
        "charset), a JSON array of objects, or NDJSON; streamed to disk (up to the "
        "configured import_max_bytes, else 413) and imported in the background. text/plain "
        "and application/octet-stream are read like no Content-Type (the body tells); "
        "other media types, forms (multipart/form-data) and compressed bodies are 415.",
    }
}


@router.post("", response_model=CampaignOut, status_code=status.HTTP_201_CREATED,
             responses=problems(409))
async def create_campaign(
    body: CampaignIn, _: Supervisor, svc: Outbound
) -> CampaignOut:
    return await svc.campaigns.create(body)


@router.get("", response_model=Page[CampaignOut])
async def list_campaigns(
    svc: Outbound,
    state: Annotated[State | None, Query(description="Only campaigns in this state.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[CampaignOut]:
    """Campaigns in creation order, e.g. the running ones (`state=running`)."""
    return await svc.campaigns.list(state=state, limit=limit, offset=offset)


@router.get("/{campaign_id}", response_model=CampaignOut, responses=problems(404))
async def get_campaign(
    campaign_id: CampaignId, svc: Outbound
) -> CampaignOut:
    return await svc.campaigns.get(campaign_id)


@router.patch("/{campaign_id}", response_model=CampaignOut, responses=problems(404, 409))
async def update_campaign(
    campaign_id: CampaignId, body: CampaignPatch, _: Supervisor,
    svc: Outbound, request: Request,
) -> CampaignOut:
    updated = await svc.campaigns.update(campaign_id, body)
    await applied(request)
    return updated


@router.put("/{campaign_id}/script", response_model=CampaignOut, responses=problems(404))
async def put_script(
    campaign_id: CampaignId, body: ScriptIn, _: Supervisor,
    svc: Outbound,
) -> CampaignOut:
    return await svc.campaigns.set_script(campaign_id, body.script)


WAV_TYPES = frozenset({"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"})
ABANDON_MESSAGE_BODY = {
    "requestBody": {
        "required": True,
        "content": {"audio/wav": {"schema": {"type": "string", "format": "binary"}}},
        "description": "The recording: WAV, 16-bit PCM, mono, 8000 or 16000 Hz, at most "
        "the configured abandon_message_max_seconds (30 s by default).",
    }
}


def _too_large(cap: int) -> ApiError:
    return ApiError(f"the recording is larger than {cap} bytes", status=413,
                    code="payload_too_large", details={"field": "body", "max_bytes": cap})


async def _capped_body(request: Request, cap: int) -> bytes:
    """The whole body, refused past ``cap`` bytes: by its Content-Length before anything
    is read, else as soon as the stream passes the cap."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > cap:
        raise _too_large(cap)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise _too_large(cap)
        chunks.append(chunk)
    return b"".join(chunks)


@router.put("/{campaign_id}/abandon-message", response_model=CampaignOut,
            openapi_extra=ABANDON_MESSAGE_BODY, responses=problems(404, 413, 415))
async def put_abandon_message(
    campaign_id: CampaignId, request: Request, _: Supervisor, svc: Outbound
) -> CampaignOut:
    """Upload the campaign's own information message (name the seller and a number to call
    back in it): stored where Asterisk plays it, and the campaign's ``abandon_message``
    set to it. Calls placed from then on (within a couple of seconds) carry it."""
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type not in WAV_TYPES:
        raise ApiError("send the recording as audio/wav", status=415,
                       code="unsupported_media_type",
                       details={"field": "Content-Type", "accepted": sorted(WAV_TYPES)})
    data = await _capped_body(request, max_upload_bytes(svc.messages.max_seconds))
    return await svc.messages.upload(campaign_id, data)


@router.delete("/{campaign_id}/abandon-message", response_model=CampaignOut,
               responses=problems(404))
async def delete_abandon_message(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound
) -> CampaignOut:
    """Back to the service's default message (``abandon_message`` null)."""
    return await svc.messages.reset(campaign_id)


async def _change(request: Request, svc: OutboundServices, campaign_id: int,
                  event: Transition) -> CampaignOut:
    changed = await svc.campaigns.change(campaign_id, event)
    await applied(request)
    return changed


async def applied(request: Request) -> None:
    """The dialer takes a committed change at once, not at its next round (up to 2 s):
    a campaign started has its runner when the answer comes back (``/live`` answers),
    one paused has stopped dialing. A failure here changes nothing committed: the
    dialer's own round applies it."""
    dialer: Dialer | None = getattr(request.app.state, "dialer", None)
    if dialer is None:
        return
    try:
        await dialer.sync()
    except Exception as exc:
        log.warning("the dialer will apply the campaign change at its next round: %s", exc)


@router.post("/{campaign_id}/start", response_model=CampaignOut, responses=problems(404, 409))
async def start_campaign(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound, request: Request
) -> CampaignOut:
    """Start a draft campaign, or resume a paused one."""
    return await _change(request, svc, campaign_id, Transition.START)


@router.post("/{campaign_id}/pause", response_model=CampaignOut, responses=problems(404, 409))
async def pause_campaign(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound, request: Request
) -> CampaignOut:
    return await _change(request, svc, campaign_id, Transition.PAUSE)


@router.post("/{campaign_id}/stop", response_model=CampaignOut, responses=problems(404, 409))
async def stop_campaign(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound, request: Request
) -> CampaignOut:
    """Stop for good: a stopped campaign takes no leads and cannot start again."""
    return await _change(request, svc, campaign_id, Transition.STOP)


@router.get("/{campaign_id}/stats", response_model=CampaignStatsOut, responses=problems(404))
async def campaign_stats(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound
) -> CampaignStatsOut:
    return await svc.campaigns.stats(campaign_id)


ImportId = Annotated[int, Path(ge=1, le=2**63 - 1)]
MAX_WAIT = 60
_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+)", re.IGNORECASE)


def _prefer_wait(header: str | None) -> int:
    """Seconds asked for with RFC 7240 ``Prefer: wait=N`` (capped), 0 without it."""
    found = _PREFER_WAIT.search(header or "")
    return min(int(found.group(1)), MAX_WAIT) if found else 0


@router.post("/{campaign_id}/leads", response_model=ImportJobOut,
             status_code=status.HTTP_202_ACCEPTED, openapi_extra=IMPORT_BODY,
             responses={201: {"model": ImportJobOut,
                              "description": "With Prefer: wait=N, the job ended in time."},
                        **problems(404, 409, 413, 415)})
async def import_leads(
    campaign_id: CampaignId,
    request: Request,
    response: Response,
    _: Supervisor,
    svc: Outbound,
    format: Annotated[
        Literal["csv", "json", "ndjson"] | None,
        Query(description="Default: from Content-Type, else from the first character."),
    ] = None,
    encoding: Annotated[
        str | None, Query(max_length=32, pattern=r"^[A-Za-z0-9_.-]+$",
                          description="Default: the Content-Type's charset, else detected "
                          "(UTF-8, BOM, GB18030).")
    ] = None,
    default_region: Annotated[
        str | None, Query(pattern=r"^[A-Z]{2}$", description="Default: the campaign's.")
    ] = None,
) -> ImportJobOut:
    """Queue an import of the body: 202 with the job (``Location`` is where to follow it).

    A client that would rather have the result of a small list in the same exchange sends
    ``Prefer: wait=N`` (at most 60 seconds): if the job ends in time the answer is 201 with
    the finished job, else 202 as usual. The per-row report is at the job's ``errors_url``.
    """
    length = request.headers.get("content-length")
    job = await svc.imports.create(
        campaign_id, request.stream(), content_type=request.headers.get("content-type"),
        content_encoding=request.headers.get("content-encoding"),
        content_length=int(length) if length and length.isdigit() else None,
        fmt=format, encoding=encoding, region=default_region,
    )
    wait = _prefer_wait(request.headers.get("prefer"))
    if wait:
        job = await svc.imports.wait(campaign_id, job.id, wait)
        response.headers["Preference-Applied"] = f"wait={wait}"
    response.headers["Location"] = f"/v1/campaigns/{campaign_id}/imports/{job.id}"
    if job.state in ("done", "failed"):
        response.status_code = status.HTTP_201_CREATED
    return job


@router.get("/{campaign_id}/imports", response_model=Page[ImportJobOut],
            responses=problems(404))
async def list_imports(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[ImportJobOut]:
    """Lead imports of this campaign, newest first, with their progress."""
    return await svc.imports.list(campaign_id, limit=limit, offset=offset)


@router.get("/{campaign_id}/imports/{import_id}", response_model=ImportJobOut,
            responses=problems(404))
async def get_import(
    campaign_id: CampaignId, import_id: ImportId, _: Supervisor, svc: Outbound
) -> ImportJobOut:
    """State (queued, running, done, failed), progress and counters of one import."""
    return await svc.imports.get(campaign_id, import_id)


@router.get("/{campaign_id}/imports/{import_id}/errors", response_model=Page[RowErrorOut],
            responses=problems(404))
async def import_errors(
    campaign_id: CampaignId, import_id: ImportId, _: Supervisor, svc: Outbound,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[RowErrorOut]:
    """The rows refused so far (with duplicates within the list), in file order."""
    return await svc.imports.errors(campaign_id, import_id, limit=limit, offset=offset)


@router.get("/{campaign_id}/imports/{import_id}/errors.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}, **problems(404)})
async def import_errors_csv(
    campaign_id: CampaignId, import_id: ImportId, _: Supervisor, svc: Outbound
) -> StreamingResponse:
    """The whole per-row report as a CSV file (row, field, code, message, value)."""
    body = await svc.imports.errors_csv(campaign_id, import_id)
    name = f"campaign-{campaign_id}-import-{import_id}-errors.csv"
    return StreamingResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


LeadId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.get("/{campaign_id}/leads", response_model=Page[LeadOut], responses=problems(404))
async def list_leads(
    campaign_id: CampaignId, caller: Agent, svc: Outbound,
    status: Annotated[LeadStatus | None, Query(description="Only leads standing so.")] = None,
    phone: Annotated[str | None, Query(min_length=1, max_length=PHONE_INPUT_MAX, description=(
        "Only this number (normalised in the campaign's region, as the import does)."
    ))] = None,
    customer: Annotated[str | None, Query(min_length=1, max_length=100, description=(
        "Text in any of the lead's free fields (a name, an e-mail; one character is a "
        "Chinese surname), any case."))] = None,
    grade: Annotated[Grade | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[LeadOut]:
    """The campaign's leads in import order: where each stands (`status`), its attempts
    and next time, its free fields and what the compliance gate says about it now.
    Supervisors see any campaign's; agents those of a campaign they work (its seats or
    its skill group), to find a customer's record and click to dial it."""
    return await svc.leads.page(caller, campaign_id, status=status, phone=phone,
                                customer=customer,
                                grade=None if grade is None else grade.value,
                                limit=limit, offset=offset)


@router.get("/{campaign_id}/leads.csv", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}}, **problems(404)})
async def export_leads(
    campaign_id: CampaignId, _: Supervisor, svc: Outbound,
    status: Annotated[LeadStatus | None, Query(description="Only leads standing so.")] = None,
    tz: Annotated[str | None, Query(max_length=64, description=(
        "IANA zone of the times written; default: the campaign's, else UTC."))] = None,
) -> StreamingResponse:
    """The campaign's leads as a CSV file for spreadsheets (UTF-8 with BOM), streamed:
    where each stands, its attempts and times, the last disposition recorded on it (code,
    notes, seat) and every free field as a column. Text that would run as a formula is
    written as text."""
    name, body = await svc.leads.export(campaign_id, status, tz)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/{campaign_id}/leads/{lead_id}", response_model=LeadOut,
            responses=problems(403, 404))
async def get_lead(
    campaign_id: CampaignId, lead_id: LeadId, caller: Agent, svc: Outbound
) -> LeadOut:
    """One lead with its free fields and what the compliance gate says about it now.
    Supervisors see any; agents those of a campaign they work, as in the list."""
    return await svc.leads.get(caller, campaign_id, lead_id)


@router.patch("/{campaign_id}/leads/{lead_id}", response_model=LeadOut,
              responses=problems(404, 409))
async def update_lead(
    campaign_id: CampaignId, lead_id: LeadId, body: LeadPatch, caller: Supervisor,
    svc: Outbound,
) -> LeadOut:
    """Change a lead: its grade, free fields, when it is due next, or close it (finished)
    or open it again. 409 while it is on a call (the call's outcome sets its next time),
    and for a new due time while a callback is booked (the agent moves it)."""
    return await svc.leads.update(campaign_id, lead_id, body, caller)


@router.get("/{campaign_id}/leads/{lead_id}/attempts", response_model=list[DialOut],
            responses=problems(404))
async def lead_attempts(
    campaign_id: CampaignId, lead_id: LeadId, _: Supervisor, svc: Outbound
) -> list[DialOut]:
    """Every dial of the lead, oldest first: when, to which seat, how it ended, and the
    dispositions its agent recorded (code, notes, callback)."""
    return await svc.leads.attempts(campaign_id, lead_id)


def _seat(caller: Caller, body: PreviewIn | None) -> str:
    return acting_seat(caller, body.seat if body is not None else None)


@router.post("/{campaign_id}/preview", response_model=PreviewOut,
             responses=problems(403, 404, 409))
async def preview_next(
    campaign_id: CampaignId, caller: Agent, svc: Outbound, body: PreviewIn | None = None,
) -> PreviewOut:
    """Preview mode: the next lead for the seat to call, held for it a few minutes (the
    same one again if asked before then). Dial it with click-to-dial, or skip it."""
    return await svc.previews.next(campaign_id, _seat(caller, body))


@router.post("/{campaign_id}/preview/{lead_id}/skip", status_code=status.HTTP_204_NO_CONTENT,
             response_class=Response, responses=problems(403, 404, 409))
async def preview_skip(
    campaign_id: CampaignId,
    lead_id: LeadId,
    caller: Agent, svc: Outbound, body: PreviewIn | None = None,
) -> Response:
    """Skip the lead held for the seat: it is due again, behind the leads already due."""
    await svc.previews.skip(campaign_id, lead_id, _seat(caller, body))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@dnc_router.get("", response_model=Page[DncOut])
async def list_dnc(
    _: Supervisor,
    svc: Outbound,
    phone: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**31 - 1,
                                             description="Omit for the global list.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[DncOut]:
    return await svc.dnc.list(phone=phone, campaign_id=campaign_id, limit=limit, offset=offset)


@dnc_router.post("", response_model=DncAddedOut, status_code=status.HTTP_201_CREATED,
                 responses=problems(404))
async def add_dnc(
    body: DncIn, caller: Supervisor, svc: Outbound
) -> DncAddedOut:
    return await svc.dnc.add(body, caller)


@dnc_router.delete("/{phone}", status_code=status.HTTP_204_NO_CONTENT,
                   responses=problems(404))
async def remove_dnc(
    phone: Annotated[str, Path(min_length=1, max_length=64)],
    caller: Annotated[Caller, Depends(require(Role.ADMIN))],
    svc: Outbound,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    region: Annotated[str | None, Query(pattern=r"^[A-Z]{2}$", description=(
        "For a national number: the region it was added in; default CN."))] = None,
) -> None:
    await svc.dnc.remove(phone, campaign_id, caller, region)


@disposition_router.get("/{call_id}/lead", response_model=ScreenPopOut,
                        responses=problems(403, 404))
async def screen_pop(
    call_id: Annotated[str, Path(pattern=CALL_ID_PATTERN)], caller: Agent, svc: Outbound
) -> ScreenPopOut:
    """The lead a campaign call is about, with the campaign's script: the agent's screen.
    Agents see it for their own calls and for those of a campaign they work."""
    return await svc.leads.for_call(call_id, caller)


@disposition_router.patch("/{call_id}/lead", response_model=ScreenPopOut,
                          responses=problems(403, 404))
async def update_lead_fields(
    call_id: Annotated[str, Path(pattern=CALL_ID_PATTERN)],
    body: Annotated[LeadFieldsIn, Body()],
    caller: Annotated[Caller, Depends(require(Role.AGENT))],
    svc: Outbound,
) -> ScreenPopOut:
    """Note on the call's lead what the customer tells: other numbers, e-mail, address
    (free fields, merged; null removes one). Agents on their own calls."""
    return await svc.leads.update_fields(call_id, body, caller)


@disposition_router.post("/{call_id}/disposition", response_model=DispositionOut,
                         status_code=status.HTTP_201_CREATED, responses=problems(404))
async def post_disposition(
    call_id: Annotated[str, Path(pattern=CALL_ID_PATTERN)],
    body: Annotated[DispositionIn, Body()],
    caller: Annotated[Caller, Depends(require(Role.AGENT))],
    svc: Outbound,
) -> DispositionOut:
    return await svc.dispositions.record(call_id, body, caller)
