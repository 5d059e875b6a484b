"""``/v1/voicemail``: the skill groups' voicemail messages (caller, time, duration), their
audio, marking heard, deleting. Agents read their own groups' boxes; supervisors manage."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import FileResponse, Response

from cti.api.auth import Caller, Role, current_caller, require
from cti.api.media import MediaServices, media
from cti.api.media_schemas import VoicemailOut
from cti.api.schemas import Page, problems
from cti.telephony.voicemail import BOX_PATTERN, MESSAGE_ID_PATTERN

router = APIRouter(prefix="/voicemail", tags=["voicemail"])

MAX_LIMIT = 500
MessageId = Annotated[str, Path(pattern=MESSAGE_ID_PATTERN,
                                description="`<box>:<msg_id>`, as listed.")]


@router.get("", response_model=Page[VoicemailOut], responses=problems(403))
async def list_voicemail(
    caller: Annotated[Caller, Depends(current_caller)],
    svc: Annotated[MediaServices, Depends(media)],
    box: Annotated[str | None, Query(pattern=f"^{BOX_PATTERN}$",
                                     description="One box (skill group).")] = None,
    heard: Annotated[bool | None, Query(description="Only heard (true) or new (false).")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Page[VoicemailOut]:
    """Messages newest first."""
    return await svc.voicemail.list(caller, box=box, heard=heard, limit=limit, offset=offset)


@router.get("/{message_id}", response_model=VoicemailOut, responses=problems(403, 404))
async def get_voicemail(
    message_id: MessageId,
    caller: Annotated[Caller, Depends(current_caller)],
    svc: Annotated[MediaServices, Depends(media)],
) -> VoicemailOut:
    return await svc.voicemail.get(caller, message_id)


@router.get("/{message_id}/audio", response_class=FileResponse,
            responses={200: {"content": {"audio/wav": {}}}, **problems(403, 404)})
async def get_voicemail_audio(
    message_id: MessageId,
    caller: Annotated[Caller, Depends(current_caller)],
    svc: Annotated[MediaServices, Depends(media)],
) -> FileResponse:
    """The message as Asterisk recorded it (8 kHz 16-bit mono WAV); HTTP Range works."""
    found = await svc.voicemail.audio(caller, message_id)
    assert found.audio is not None
    when = datetime.fromtimestamp(found.received_at, tz=UTC).strftime("%Y%m%d-%H%M%S")
    caller_part = re.sub(r"[^0-9A-Za-z+]", "", found.caller_number or "") or "unknown"
    return FileResponse(found.audio, media_type="audio/wav",
                        filename=f"voicemail-{found.box}-{when}-{caller_part}.wav")


@router.post("/{message_id}/heard", response_model=VoicemailOut,
             responses=problems(403, 404, 502, 503))
async def mark_voicemail_heard(
    message_id: MessageId,
    caller: Annotated[Caller, Depends(require(Role.SUPERVISOR))],
    svc: Annotated[MediaServices, Depends(media)],
) -> VoicemailOut:
    """Move the message from INBOX to Old (idempotent)."""
    return await svc.voicemail.mark_heard(caller, message_id)


@router.delete("/{message_id}", status_code=204, response_class=Response,
               responses=problems(403, 404, 502, 503))
async def delete_voicemail(
    message_id: MessageId,
    caller: Annotated[Caller, Depends(require(Role.SUPERVISOR))],
    svc: Annotated[MediaServices, Depends(media)],
) -> Response:
    await svc.voicemail.delete(caller, message_id)
    return Response(status_code=204)
