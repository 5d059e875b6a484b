"""``/v1/music-on-hold``: hold-music classes and their files. Reading needs an agent
token; creating, uploading and deleting need a supervisor."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException

from cti.api.auth import Caller, Role, require
from cti.api.errors import ApiError, InvalidInput
from cti.api.media import MediaServices, media
from cti.api.media_schemas import MohApplied, MohClassIn, MohClassOut, MohUploadOut
from cti.api.schemas import problems
from cti.telephony.moh import CLASS_PATTERN, FILE_PATTERN, is_file_name

router = APIRouter(prefix="/music-on-hold", tags=["music on hold"])

ClassName = Annotated[str, Path(pattern=CLASS_PATTERN)]
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
# Room for the multipart framing and a name field around the capped file.
FORM_OVERHEAD = 64 * 1024

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary",
                         "description": "WAV, MP3 or OGG (by content); size-capped."},
                "name": {"type": "string", "pattern": FILE_PATTERN.replace(r"\.wav$", "$"),
                         "description": "Stored name (default: from the uploaded name)."},
            },
        }}},
    }
}


async def _upload_form(request: Request) -> FormData:
    """The upload's form: one file and a few fields. A body that is not such a form (no
    boundary, two files...) is a 422 naming ``file``: inside an app Starlette reports the
    parser's refusal as a bare HTTP 400, which would name nothing."""
    try:
        return await request.form(max_files=1, max_fields=4)
    except MultiPartException as exc:
        why = exc.message
    except HTTPException as exc:
        if exc.status_code != 400:
            raise
        why = exc.detail
    raise InvalidInput("file", f"not a form with one file: {why}", location="body")


@router.get("", response_model=list[MohClassOut])
async def list_classes(svc: Annotated[MediaServices, Depends(media)]) -> list[MohClassOut]:
    return await svc.moh.list()


@router.post("", response_model=MohClassOut, status_code=201, responses=problems(409))
async def create_class(
    body: MohClassIn, _: Supervisor, svc: Annotated[MediaServices, Depends(media)]
) -> MohClassOut:
    """A new, empty class: it is written into Asterisk's configuration (and can be given
    to a skill group) once it has a file."""
    return await svc.moh.create(body.name, body.description)


@router.get("/{name}", response_model=MohClassOut, responses=problems(404))
async def get_class(
    name: ClassName, svc: Annotated[MediaServices, Depends(media)]
) -> MohClassOut:
    return await svc.moh.get(name)


@router.delete("/{name}", response_model=MohApplied, responses=problems(404, 409))
async def delete_class(
    name: ClassName, _: Supervisor, svc: Annotated[MediaServices, Depends(media)]
) -> MohApplied:
    return await svc.moh.delete(name)


@router.post("/{name}/files", response_model=MohUploadOut, status_code=201,
             openapi_extra=_UPLOAD_BODY,
             responses=problems(404, 409, 411, 413, 415, 503))
async def upload_file(
    name: ClassName, request: Request, _: Supervisor,
    svc: Annotated[MediaServices, Depends(media)],
) -> MohUploadOut:
    """Upload one track (multipart field ``file``), converted to mono 16-bit 8 kHz WAV and
    played without a restart. A refused upload changes nothing."""
    cap = request.app.state.settings.media.moh_max_upload_bytes
    # The form is parsed here, not by FastAPI, so that an oversized body is refused from
    # its Content-Length before anything is read or spooled to disk.
    length = request.headers.get("content-length")
    if length is None or not length.isdigit():
        raise ApiError("the upload needs a Content-Length", status=411, code="length_required")
    if int(length) > cap + FORM_OVERHEAD:
        raise ApiError(f"the file is larger than {cap} bytes", status=413,
                       code="payload_too_large", details={"field": "file", "max_bytes": cap})
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError("send the file as multipart/form-data (field 'file')", status=415,
                       code="unsupported_media_type", details={"field": "file"})
    form = await _upload_form(request)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("file", "a file field named 'file' is required", location="body")
        wanted = form.get("name")
        file_name: str | None = None
        if wanted is not None:
            if not isinstance(wanted, str):
                raise InvalidInput("name", "must be text", location="body")
            file_name = wanted if wanted.endswith(".wav") else f"{wanted}.wav"
            if not is_file_name(file_name):
                raise InvalidInput("name", "lower-case letters, digits, '-' and '_' only",
                                   location="body")
        return await svc.moh.upload(name, upload, file_name)
    finally:
        await form.close()


@router.delete("/{name}/files/{file_name}", response_model=MohApplied,
                responses=problems(404, 409))
async def delete_file(
    name: ClassName, file_name: Annotated[str, Path(pattern=FILE_PATTERN)], _: Supervisor,
    svc: Annotated[MediaServices, Depends(media)],
) -> MohApplied:
    return await svc.moh.delete_file(name, file_name)



