"""Lead imports for the REST routes: accept an upload as a background job, report on it.

``POST /v1/campaigns/{id}/leads`` checks the parameters, the body's media type (415 for
one the import does not read: :func:`body_format`) and the campaign, spools the body to
disk under a size cap (413 beyond it) and creates a ``queued`` job that
:class:`cti.imports.runner.ImportRunner` runs; the job's progress, counters and per-row
errors live in PostgreSQL (:mod:`cti.db.lead_import_repository`).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import logging
from collections.abc import AsyncIterable, AsyncIterator
from pathlib import Path
from typing import Literal, cast

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.campaign_schemas import ImportJobOut, RowErrorOut
from cti.api.errors import ApiError, InvalidInput, NotFound
from cti.api.schemas import Page
from cti.api.sessions import db_session
from cti.config import DialerSettings
from cti.db import campaign_repository as repo
from cti.db import lead_import_repository as jobs
from cti.db.lead_import_repository import ImportJobRecord
from cti.imports.runner import ImportRunner
from cti.imports.spool import EmptyUpload, UploadTooLarge, spool
from cti.reports.spreadsheet import BOM, cell
from dialer.campaign import State
from dialer.leads import Format, RowError
from dialer.numbers import is_region

log = logging.getLogger(__name__)

#: The media types the import reads, and the format each says (None: the body's first
#: character tells: a JSON array, NDJSON or CSV). ``text/plain`` and
#: ``application/octet-stream`` say nothing more than no Content-Type at all (what many
#: tools send for a .csv or .txt file), so they are read like it; the parser refuses what
#: is not text (NUL bytes in the first line) and does not guess an encoding it cannot tell.
CONTENT_TYPES: dict[str, Format | None] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": None,  # an array, or NDJSON labelled as JSON
    "application/x-ndjson": "ndjson",
    "application/ndjson": "ndjson",
    "application/jsonl": "ndjson",
    "text/plain": None,
    "application/octet-stream": None,
}
ACCEPTED = ("text/csv", "application/json", "application/x-ndjson", "text/plain",
            "application/octet-stream")
#: A charset that says no more than detection finds (ASCII is in every encoding detected).
_NO_CHARSET = frozenset({"ascii"})
CSV_PAGE = 5_000
JobState = Literal["queued", "running", "done", "failed"]


class CampaignStopped(ApiError):
    code = "conflict"
    status = 409


def too_large(limit: int) -> ApiError:
    return ApiError(f"the upload is larger than {limit} bytes", status=413,
                    code="payload_too_large", details={"max_bytes": limit})


def job_out(j: ImportJobRecord) -> ImportJobOut:
    done = j.state == "done"
    return ImportJobOut(
        id=j.id, campaign_id=j.campaign_id, state=cast(JobState, j.state),
        created_at=j.created_at, started_at=j.started_at, updated_at=j.updated_at,
        finished_at=j.finished_at, bytes_total=j.bytes_total,
        bytes_read=j.bytes_total if done else j.bytes_read,
        progress=1.0 if done else round(j.bytes_read / j.bytes_total, 4) if j.bytes_total else 0,
        rows=j.rows_read, imported=j.accepted, rejected=j.rejected,
        duplicates_in_list=j.duplicates_in_list, duplicates_in_campaign=j.duplicates_in_campaign,
        errors_by_code=j.errors_by_code, encoding=j.encoding, format=j.format, error=j.error,
        errors_url=f"/v1/campaigns/{j.campaign_id}/imports/{j.id}/errors",
    )


def unsupported(message: str, header: str = "Content-Type", **details: object) -> ApiError:
    return ApiError(message, status=415, code="unsupported_media_type",
                    details={"field": header, **details})


def body_format(
    content_type: str | None, fmt: Format | None, encoding: str | None
) -> tuple[Format | None, str | None]:
    """The format and encoding to read the body in: ``?format=`` and ``?encoding=`` if
    given, else what Content-Type says (its ``charset`` too). No Content-Type: both are
    told from the body.

    Raises a 415 for a media type the import does not read (an image, a form: the file
    inside a ``multipart/form-data`` envelope is not unpacked) or an unknown charset, and
    a 422 when ``?encoding=`` and the charset disagree. ``?format=`` is the client saying
    what the body is, so it is taken whatever the media type, except a form's envelope.
    """
    media, _, params = (content_type or "").partition(";")
    media = media.strip().lower()
    if media.startswith("multipart/"):
        raise unsupported(
            f"{media} is a form's envelope: send the file itself as the body (curl "
            "--data-binary @leads.csv -H 'Content-Type: text/csv'), as one of "
            + ", ".join(ACCEPTED), accepted=list(ACCEPTED))
    if fmt is None and media and media not in CONTENT_TYPES:
        raise unsupported(
            f"the import does not read {media}: send CSV as text/csv, a JSON array as "
            "application/json or NDJSON as application/x-ndjson (or name the format with "
            "?format=)", accepted=list(ACCEPTED))
    if fmt is None and media:
        fmt = CONTENT_TYPES[media]
    charset = _parameter(params, "charset")
    if charset is not None:
        try:
            charset = codecs.lookup(charset).name
        except LookupError as exc:
            raise unsupported(f"unknown charset {charset!r} in Content-Type",
                              charset=charset) from exc
        if charset in _NO_CHARSET:
            charset = None
    if charset is not None and encoding is not None and \
            codecs.lookup(encoding).name != charset:
        raise InvalidInput("encoding", f"{encoding!r} disagrees with the Content-Type's "
                           f"charset {charset!r}: give one")
    return fmt, encoding or charset


def _parameter(params: str, name: str) -> str | None:
    """A media type parameter's value (``charset`` of ``text/csv; charset="gbk"``)."""
    for part in params.split(";"):
        key, eq, value = part.partition("=")
        if eq and key.strip().lower() == name:
            return value.strip().strip('"').strip() or None
    return None


def error_out(e: RowError) -> RowErrorOut:
    return RowErrorOut(row=e.row, field=e.field, code=e.code, message=e.message, value=e.value)


class LeadImportService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: DialerSettings,
        runner: ImportRunner,
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings
        self.runner = runner

    async def create(
        self,
        campaign_id: int,
        chunks: AsyncIterable[bytes],
        *,
        content_length: int | None,
        content_type: str | None,
        content_encoding: str | None = None,
        fmt: Format | None,
        encoding: str | None,
        region: str | None,
    ) -> ImportJobOut:
        """Validate, spool the body, queue the job. Nothing is kept if this raises."""
        if encoding is not None:
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise InvalidInput("encoding", f"unknown encoding {encoding!r}") from exc
        if region is not None and not is_region(region):
            raise InvalidInput("default_region", "not a region code phonenumbers knows")
        if content_encoding and content_encoding.strip().lower() != "identity":
            raise unsupported(f"the body is {content_encoding.strip()}-encoded: send the "
                              "file uncompressed", "Content-Encoding", accepted=["identity"])
        fmt, encoding = body_format(content_type, fmt, encoding)
        limit = self._settings.import_max_bytes
        if content_length is not None and content_length > limit:
            raise too_large(limit)  # refused before a byte is read
        async with db_session(self._sessions) as session:
            record = await repo.get_campaign(session, campaign_id)
        if record is None:
            raise NotFound("campaign", str(campaign_id))
        if record.state == State.STOPPED.value:
            raise CampaignStopped("the campaign is stopped: it takes no new leads",
                                  details={"state": record.state})
        try:
            path, size = await spool(chunks, Path(self._settings.import_spool_dir), limit)
        except UploadTooLarge as exc:
            raise too_large(exc.limit) from exc
        except EmptyUpload as exc:
            raise InvalidInput("body", "the upload is empty", location="body") from exc
        try:
            async with db_session(self._sessions) as session:
                job = await jobs.create_import(
                    session, campaign_id,
                    {"format": fmt, "encoding": encoding, "default_region": region},
                    str(path.resolve()), size,
                )
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            raise
        log.info("campaign %d: lead import %d queued (%d bytes)", campaign_id, job.id, size)
        self.runner.submit(job.id)
        return job_out(job)

    async def wait(self, campaign_id: int, import_id: int, seconds: float) -> ImportJobOut:
        await self.runner.wait(import_id, seconds)
        return await self.get(campaign_id, import_id)

    async def _job(self, campaign_id: int, import_id: int) -> ImportJobRecord:
        async with db_session(self._sessions) as session:
            job = await jobs.get_import(session, campaign_id, import_id)
            if job is None and await repo.get_campaign(session, campaign_id) is None:
                raise NotFound("campaign", str(campaign_id))
        if job is None:
            raise NotFound("import", str(import_id))
        return job

    async def get(self, campaign_id: int, import_id: int) -> ImportJobOut:
        return job_out(await self._job(campaign_id, import_id))

    async def list(self, campaign_id: int, *, limit: int, offset: int) -> Page[ImportJobOut]:
        async with db_session(self._sessions) as session:
            if await repo.get_campaign(session, campaign_id) is None:
                raise NotFound("campaign", str(campaign_id))
            found, total = await jobs.list_imports(session, campaign_id, limit=limit,
                                                   offset=offset)
        return Page[ImportJobOut](items=[job_out(j) for j in found], total=total, limit=limit,
                                  offset=offset)

    async def errors(
        self, campaign_id: int, import_id: int, *, limit: int, offset: int
    ) -> Page[RowErrorOut]:
        await self._job(campaign_id, import_id)
        async with db_session(self._sessions) as session:
            found, total = await jobs.errors_page(session, import_id, limit=limit,
                                                  offset=offset)
        return Page[RowErrorOut](items=[error_out(e) for e in found], total=total,
                                 limit=limit, offset=offset)

    async def errors_csv(self, campaign_id: int, import_id: int) -> AsyncIterator[bytes]:
        """The whole per-row report as CSV (UTF-8 with BOM, for spreadsheets), streamed."""
        await self._job(campaign_id, import_id)
        return self._csv(import_id)

    async def _csv(self, import_id: int) -> AsyncIterator[bytes]:
        buf = io.StringIO()
        out = csv.writer(buf)
        out.writerow(["row", "field", "code", "message", "value"])
        yield (BOM + buf.getvalue()).encode()
        after = 0
        while True:
            async with self._sessions() as session:
                page = await jobs.errors_after(session, import_id, after, CSV_PAGE)
            if not page:
                return
            buf.seek(0)
            buf.truncate()
            for error_id, e in page:
                out.writerow([e.row, e.field, e.code, cell(e.message), cell(e.value)])
                after = error_id
            yield buf.getvalue().encode()
