"""``/v1/recordings``: catalogue search, audio download with Range, QA tags and notes,
sampling, legal holds, retention policies and the sweep. URLs carry ids, never paths."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Header, Path, Query, Request
from starlette.responses import Response, StreamingResponse

from cti.api.auth import Caller, Role, current_caller, require
from cti.api.errors import InvalidInput, Unavailable
from cti.api.recording_schemas import (
    TAG_PATTERN,
    HoldIn,
    NoteIn,
    NoteOut,
    PoliciesOut,
    PolicyIn,
    PolicyOut,
    RecordingDetailOut,
    RecordingOut,
    SampleOut,
    SweepOut,
)
from cti.api.recording_service import RecordingService
from cti.api.routes.deps import services
from cti.api.schemas import (
    CUSTOMER_NUMBER_MAX_LENGTH,
    CUSTOMER_NUMBER_PATTERN,
    SEAT_ID_PATTERN,
    SKILL_GROUP_PATTERN,
    Page,
    UtcDateTime,
    problems,
)
from recordings.repository import RecordingFilter
from recordings.retention import POLICY_KEY_PATTERN
from recordings.streaming import file_chunks

router = APIRouter(prefix="/recordings", tags=["recordings"])

MAX_LIMIT = 500
MAX_ID = 2**63 - 1
RecordingId = Annotated[int, Path(ge=1, le=MAX_ID, description="The recording's id.")]
TagName = Annotated[str, Path(pattern=TAG_PATTERN,
                              description="exemplary, problem, or your own (a-z 0-9 _ -)")]
PolicyKey = Annotated[str, Path(pattern=POLICY_KEY_PATTERN,
                                description="A skill group's name, campaign-<id>, or "
                                            "click-to-dial.")]
AnyCaller = Annotated[Caller, Depends(current_caller)]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]


def recording_service(request: Request) -> RecordingService:
    svc = services(request).recordings
    if svc is None:
        raise Unavailable("recordings")
    return svc


Svc = Annotated[RecordingService, Depends(recording_service)]


def recording_filter(
    since: Annotated[UtcDateTime | None, Query(
        description="Started at or after (ISO-8601).")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Started before (ISO-8601).")
                     ] = None,
    seat_id: Annotated[str | None, Query(pattern=SEAT_ID_PATTERN)] = None,
    customer_number: Annotated[str | None, Query(pattern=CUSTOMER_NUMBER_PATTERN,
                                                 max_length=CUSTOMER_NUMBER_MAX_LENGTH)] = None,
    skill_group: Annotated[str | None, Query(pattern=SKILL_GROUP_PATTERN)] = None,
    campaign: Annotated[str | None, Query(pattern=POLICY_KEY_PATTERN)] = None,
    tag: Annotated[str | None, Query(pattern=TAG_PATTERN)] = None,
    min_duration: Annotated[float | None, Query(ge=0, le=86_400,
                                                description="Seconds of audio.")] = None,
) -> RecordingFilter:
    if since is not None and until is not None and since > until:
        raise InvalidInput("until", "must not be before since")
    return RecordingFilter(since=since, until=until, seat_id=seat_id,
                           customer_number=customer_number, skill_group=skill_group,
                           campaign=campaign, tag=tag, min_duration=min_duration)


@router.get("", response_model=Page[RecordingOut])
async def list_recordings(
    where: Annotated[RecordingFilter, Depends(recording_filter)], caller: AnyCaller, svc: Svc,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[RecordingOut]:
    return await svc.list(caller, where, limit=limit, offset=offset)


@router.get("/sample", response_model=SampleOut)
async def sample_recordings(
    caller: Supervisor, svc: Svc,
    first: Annotated[date, Query(alias="from", description="First local day.")],
    last: Annotated[date, Query(alias="to", lt=date.max,  # its day ends past the calendar
                                description="Last local day (inclusive).")],
    per_agent: Annotated[int, Query(ge=1, le=100, description="Calls per agent per day.")] = 3,
    min_seconds: Annotated[float, Query(ge=0, le=86_400)] = 180,
    tz: Annotated[str, Query(max_length=64, description="IANA zone of the days.")] = "UTC",
    seed: Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$",
                                      description="Same seed, same sample.")] = None,
) -> SampleOut:
    return await svc.sample(caller, first, last, tz, per_agent, min_seconds, seed)


@router.get("/policies", response_model=PoliciesOut)
async def list_policies(caller: Supervisor, svc: Svc) -> PoliciesOut:
    return await svc.policies()


@router.put("/policies/{key}", response_model=PolicyOut, responses=problems(404))
async def put_policy(key: PolicyKey, body: PolicyIn, caller: Admin, svc: Svc) -> PolicyOut:
    return await svc.put_policy(key, body)


@router.delete("/policies/{key}", status_code=204, responses=problems(404))
async def delete_policy(key: PolicyKey, caller: Admin, svc: Svc) -> Response:
    await svc.delete_policy(key)
    return Response(status_code=204)


@router.post("/sweep", response_model=SweepOut)
async def sweep(caller: Admin, svc: Svc,
                dry_run: Annotated[bool, Query(description="Report only.")] = True) -> SweepOut:
    return await svc.sweep(dry_run)


@router.get("/{recording_id}", response_model=RecordingDetailOut, responses=problems(404))
async def get_recording(recording_id: RecordingId, caller: AnyCaller,
                        svc: Svc) -> RecordingDetailOut:
    return await svc.get(caller, recording_id)


@router.get(
    "/{recording_id}/audio",
    response_class=StreamingResponse,
    responses={200: {"content": {"audio/wav": {}}}, 206: {"content": {"audio/wav": {}}},
               **problems(404, 416)},
)
async def get_audio(
    recording_id: RecordingId, caller: AnyCaller, svc: Svc,
    range_header: Annotated[str | None, Header(alias="Range")] = None,
    if_range: Annotated[str | None, Header(alias="If-Range")] = None,
) -> StreamingResponse:
    audio = await svc.open_audio(caller, recording_id, range_header, if_range)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(audio.length),
        "Content-Disposition": f'inline; filename="{audio.filename}"',
        "ETag": audio.etag,
        "Cache-Control": "private, max-age=3600",
    }
    if audio.range is not None:
        headers["Content-Range"] = audio.range.content_range(audio.size)
    return StreamingResponse(
        file_chunks(audio.fd, audio.start, audio.length),
        status_code=206 if audio.range is not None else 200,
        media_type="audio/wav", headers=headers,
    )


@router.put("/{recording_id}/tags/{tag}", response_model=RecordingOut, responses=problems(404))
async def add_tag(recording_id: RecordingId, tag: TagName, caller: Supervisor,
                  svc: Svc) -> RecordingOut:
    return await svc.tag(caller, recording_id, tag, add=True)


@router.delete("/{recording_id}/tags/{tag}", response_model=RecordingOut,
               responses=problems(404))
async def remove_tag(recording_id: RecordingId, tag: TagName, caller: Supervisor,
                     svc: Svc) -> RecordingOut:
    return await svc.tag(caller, recording_id, tag, add=False)


@router.post("/{recording_id}/notes", response_model=NoteOut, status_code=201,
             responses=problems(404))
async def add_note(recording_id: RecordingId, body: Annotated[NoteIn, Body()],
                   caller: Supervisor, svc: Svc) -> NoteOut:
    return await svc.note(caller, recording_id, body.body)


@router.put("/{recording_id}/legal-hold", response_model=RecordingOut,
            responses=problems(404, 409))
async def legal_hold(recording_id: RecordingId, body: HoldIn, caller: Admin,
                     svc: Svc) -> RecordingOut:
    return await svc.hold(caller, recording_id, body.hold, body.reason)
