"""Hold-music classes for the REST API: PostgreSQL says which classes and files exist,
the node's disk holds the converted audio, ``cti/musiconhold.conf`` tells Asterisk, and a
``res_musiconhold`` reload applies it without a restart.

Every change is all or nothing: an upload is received (size-capped), sniffed and converted
in a staging directory first; only a good file is renamed into its class directory, in the
same step as its row is committed. Changes are serialised by one lock (one service
process owns a node's hold music).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiError
from cti.api.errors import ApiError, Conflict, NotFound
from cti.api.media_schemas import MohApplied, MohClassOut, MohFileOut, MohUploadOut
from cti.api.sessions import db_session
from cti.config import MediaSettings
from cti.db import media_repository as repo
from cti.db.media_models import MohClass, MohFile
from cti.db.models import SkillGroup
from cti.telephony.files import AsteriskFiles
from cti.telephony.moh import (
    TARGET_RATE,
    AudioTooLong,
    AudioTooShort,
    Converted,
    MohClassConf,
    MohDirectory,
    NotAudio,
    UndecodableAudio,
    convert_to_moh,
    file_name_for,
    is_file_name,
    render_musiconhold,
    sniff_format,
)

log = logging.getLogger(__name__)

ConnectionFor = Callable[[], AmiConnection | None]
CHUNK = 1 << 16



class Upload(Protocol):
    """What the route hands over: Starlette's ``UploadFile`` fits."""

    filename: str | None

    async def read(self, size: int = -1) -> bytes: ...


class UploadRejected(ApiError):
    """The upload is refused; nothing was changed."""

    def __init__(self, status: int, code: str, message: str, **details: object) -> None:
        super().__init__(message, status=status, code=code,
                         details={"field": "file", **details})


def _file_out(f: MohFile) -> MohFileOut:
    return MohFileOut(name=f.file_name, original_name=f.original_name,
                      source_format=f.source_format, size_bytes=f.size_bytes,
                      duration_seconds=round(f.duration_seconds, 2), sample_rate=f.sample_rate,
                      created_at=f.created_at)


def _class_out(c: MohClass, files: list[MohFile]) -> MohClassOut:
    return MohClassOut(name=c.name, description=c.description,
                       files=[_file_out(f) for f in files], active=bool(files),
                       created_at=c.created_at)


async def _refuse_if_played(s: AsyncSession, name: str, *, last_file: str | None = None
                            ) -> None:
    """Refuse to take class ``name`` out of musiconhold.conf (deleting it, or ``last_file``,
    its last file) while skill groups play it: their callers would silently hear the
    default music, and every later inbound change would be refused naming those groups."""
    users = list(await s.scalars(
        select(SkillGroup.name).where(SkillGroup.music_class == name).order_by(SkillGroup.name)))
    if not users:
        return
    if last_file is None:
        raise Conflict(f"skill groups {users} play {name!r}: change them first",
                       details={"skill_groups": users, "class": name})
    raise Conflict(f"skill groups {users} play {name!r} and {last_file!r} is its last file: "
                   "change them first, or upload another file",
                   details={"skill_groups": users, "class": name, "file": last_file})


class MohService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], files: AsteriskFiles,
                 settings: MediaSettings, connection: ConnectionFor, node: str) -> None:
        self._sessionmaker = sessionmaker
        self._files = files
        self._dir = MohDirectory(files.host(files.moh_dir))
        self._settings = settings
        self._connection = connection
        self._node = node
        self._lock = asyncio.Lock()

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return db_session(self._sessionmaker)

    # --- reads ---------------------------------------------------------------------

    async def list(self) -> list[MohClassOut]:
        async with self._session() as s:
            classes = await repo.classes(s)
            files = await repo.files(s)
        by_class: dict[str, list[MohFile]] = {}
        for f in files:
            by_class.setdefault(f.class_name, []).append(f)
        return [_class_out(c, by_class.get(c.name, [])) for c in classes]

    async def get(self, name: str) -> MohClassOut:
        async with self._session() as s:
            found = await repo.get_class(s, name)
            if found is None:
                raise NotFound("music-on-hold class", name)
            return _class_out(found, list(await repo.files(s, name)))

    # --- changes -------------------------------------------------------------------

    async def create(self, name: str, description: str | None) -> MohClassOut:
        async with self._lock, self._session() as s:
            if await repo.get_class(s, name) is not None:
                raise Conflict(f"music-on-hold class {name!r} already exists",
                               details={"field": "name", "class": name})
            s.add(MohClass(name=name, description=description))
            await s.commit()
            created = await repo.get_class(s, name)
            assert created is not None
        log.info("music-on-hold class %s created (plays once it has a file)", name)
        return _class_out(created, [])

    async def delete(self, name: str) -> MohApplied:
        async with self._lock:
            async with self._session() as s:
                await _refuse_if_played(s, name)
                if not await repo.delete_class(s, name):
                    raise NotFound("music-on-hold class", name)
                await s.commit()
            # Asterisk stops using the class before its files go.
            applied = await self._apply()
            await asyncio.to_thread(self._dir.remove_class, name)
        log.info("music-on-hold class %s deleted", name)
        return MohApplied(applied=applied)

    async def delete_file(self, name: str, file_name: str) -> MohApplied:
        if not is_file_name(file_name):
            raise NotFound("music-on-hold file", f"{name}/{file_name}")
        async with self._lock:
            async with self._session() as s:
                if not await repo.delete_file(s, name, file_name):
                    raise NotFound("music-on-hold file", f"{name}/{file_name}")
                if not await repo.files(s, name):  # its last file: rolled back if refused
                    await _refuse_if_played(s, name, last_file=file_name)
                await s.commit()
            withdrawn = await asyncio.to_thread(self._dir.withdraw_file, name, file_name)
            applied = await self._apply()
            if withdrawn is not None:
                await asyncio.to_thread(withdrawn.unlink, True)
        log.info("music-on-hold file %s/%s deleted", name, file_name)
        return MohApplied(applied=applied)

    async def upload(self, name: str, upload: Upload, wanted_name: str | None) -> MohUploadOut:
        """Receive, check, convert and install one file; then apply."""
        async with self._session() as s:
            if await repo.get_class(s, name) is None:
                raise NotFound("music-on-hold class", name)
        staged_source = await asyncio.to_thread(self._dir.new_staged_file)
        staged_out = await asyncio.to_thread(self._dir.new_staged_file)
        try:
            size = await self._receive(upload, staged_source)
            converted = await self._convert(staged_source, staged_out)
            file_name = wanted_name or file_name_for(upload.filename, "upload.wav")
            async with self._lock:
                row = await self._install(name, file_name, upload.filename, converted,
                                          staged_out, size)
                applied = await self._apply()
        finally:
            for path in (staged_source, staged_out):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
        log.info("music-on-hold %s/%s installed from %s %s (%.1f s), applied=%s", name,
                 file_name, converted.source_format, upload.filename, converted.duration, applied)
        return MohUploadOut(applied=applied, music_class=name, file=_file_out(row))

    async def _receive(self, upload: Upload, target: Path) -> int:
        cap = self._settings.moh_max_upload_bytes
        size = 0
        with target.open("wb") as out:
            while chunk := await upload.read(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise UploadRejected(413, "payload_too_large",
                                         f"the file is larger than {cap} bytes", max_bytes=cap)
                out.write(chunk)
        if size == 0:
            raise UploadRejected(422, "invalid_audio", "the file is empty")
        with target.open("rb") as f:
            head = f.read(64)
        try:
            sniff_format(head)
        except NotAudio as exc:
            raise UploadRejected(415, "unsupported_media_type", str(exc),
                                 accepted=["wav", "mp3", "ogg"]) from exc
        return size

    async def _convert(self, source: Path, target: Path) -> Converted:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(convert_to_moh, source, target,
                                  max_seconds=self._settings.moh_max_seconds),
                self._settings.convert_timeout)
        except NotAudio as exc:
            raise UploadRejected(415, "unsupported_media_type", str(exc)) from exc
        except (UndecodableAudio, AudioTooLong, AudioTooShort) as exc:
            raise UploadRejected(422, "invalid_audio", str(exc)) from exc
        except TimeoutError as exc:
            raise UploadRejected(422, "invalid_audio", "the audio took too long to convert") \
                from exc

    async def _install(self, name: str, file_name: str, original: str | None,
                       converted: Converted, staged: Path, size: int) -> MohFile:
        del size  # the stored size is the converted file's
        converted_size = (await asyncio.to_thread(staged.stat)).st_size
        async with self._session() as s:
            if await repo.get_class(s, name) is None:  # deleted while we converted
                raise NotFound("music-on-hold class", name)
            if await repo.get_file(s, name, file_name) is not None:
                raise Conflict(f"{name!r} already has a file {file_name!r}; delete it first "
                               "or give another name",
                               details={"field": "name", "file": file_name})
            row = MohFile(class_name=name, file_name=file_name, original_name=original,
                          source_format=converted.source_format,
                          size_bytes=converted_size,
                          duration_seconds=converted.duration, sample_rate=TARGET_RATE)
            s.add(row)
            await s.flush()
            target = await asyncio.to_thread(self._dir.install, staged, name, file_name)
            try:
                await s.commit()
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            await s.refresh(row)
        return row

    async def _apply(self) -> bool:
        """Write musiconhold.conf from PostgreSQL and reload res_musiconhold; False when
        the node could not be told (the files are in place for its next reload)."""
        async with self._session() as s:
            counts = await repo.file_counts(s)
        text = render_musiconhold((MohClassConf(n, c) for n, c in counts.items()),
                                  self._files.moh_dir)
        await asyncio.to_thread(self._files.write_generated, "musiconhold.conf", text)
        conn = self._connection()
        if conn is None:
            log.warning("music on hold: no AMI connection to %s; not reloaded", self._node)
            return False
        try:
            await actions.reload_module(conn, "res_musiconhold.so")
        except AmiError as exc:
            log.warning("music on hold: reload on %s failed: %s", self._node, exc)
            return False
        return True

    async def reapply(self) -> bool:
        """Re-write and reload (after Asterisk came back, or at start)."""
        async with self._lock:
            return await self._apply()
