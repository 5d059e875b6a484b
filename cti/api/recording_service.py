"""What ``/v1/recordings`` asks for: the catalogue in PostgreSQL, files in the store.

Access: agents reach only recordings of their own seat (anything else is "not found",
so ids cannot be probed); supervisors and admins reach all. Errors of the recordings
package and of the database become API errors here.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller, Role, listed_seat
from cti.api.errors import ApiError, InvalidInput, NotFound, Unavailable
from cti.api.recording_schemas import (
    NoteOut,
    PoliciesOut,
    PolicyIn,
    PolicyOut,
    RecordingDetailOut,
    RecordingOut,
    SampledOut,
    SampleOut,
    SweepOut,
)
from cti.api.schemas import Page
from cti.api.sessions import db_session
from cti.db import inbound_repository
from cti.db.campaign_models import Campaign
from cti.db.engine import DATABASE_DOWN
from cti.utc import OutOfRange, later, to_utc
from dialer.numbers import InvalidTimezone, iana_zone
from recordings import naming, retention
from recordings import repository as repo
from recordings.errors import RangeError, RetentionTooShort
from recordings.ranges import ByteRange, parse_range
from recordings.storage import RecordingDirs
from recordings.sweep import Sweeper

logger = logging.getLogger(__name__)

MAX_SAMPLE_DAYS = 31


def _day_start(field: str, day: date, zone: ZoneInfo, days: int = 0) -> datetime:
    """Midnight ``days`` after ``day`` in ``zone``, in UTC; 422 naming ``field`` when that
    falls off the calendar (midnight of 0001-01-01 in Tokyo is in year 0 in UTC)."""
    try:
        return to_utc(later(datetime.combine(day, time(), zone), timedelta(days=days), zone))
    except OutOfRange as exc:
        raise InvalidInput(field, str(exc)) from None


class RangeNotSatisfiable(ApiError):
    code = "range_not_satisfiable"
    status = 416


class Conflict(ApiError):
    code = "conflict"
    status = 409


@dataclass(frozen=True, slots=True)
class Audio:
    """An open recording ready to stream: the caller owns ``fd`` until it is consumed."""

    fd: int
    size: int
    range: ByteRange | None
    filename: str
    etag: str

    @property
    def start(self) -> int:
        return 0 if self.range is None else self.range.start

    @property
    def length(self) -> int:
        return self.size if self.range is None else self.range.length


class RecordingService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], dirs: RecordingDirs,
                 sweeper: Sweeper, default_days: int) -> None:
        self._sessionmaker = sessionmaker
        self._dirs = dirs
        self._sweeper = sweeper
        self._default_days = default_days

    def _session(self) -> AbstractAsyncContextManager[AsyncSession]:
        return db_session(self._sessionmaker)

    async def _visible(self, s: AsyncSession, caller: Caller, recording_id: int) -> repo.Recording:
        found = await repo.get(s, recording_id)
        if (found is None or found.status != "ready"
                or (caller.role == Role.AGENT and (caller.seat_id is None
                                                   or found.seat_id != caller.seat_id))):
            raise NotFound("recording", str(recording_id))
        return found

    # -- catalogue -----------------------------------------------------------------------
    async def list(self, caller: Caller, where: repo.RecordingFilter, *, limit: int,
                   offset: int) -> Page[RecordingOut]:
        where = dataclasses.replace(where, seat_id=listed_seat(caller, where.seat_id))
        async with self._session() as s:
            found, total = await repo.search(s, where, limit=limit, offset=offset)
        return Page[RecordingOut](items=[RecordingOut.of(r) for r in found], total=total,
                                  limit=limit, offset=offset)

    async def get(self, caller: Caller, recording_id: int) -> RecordingDetailOut:
        async with self._session() as s:
            found = await self._visible(s, caller, recording_id)
            notes = await repo.notes(s, recording_id)
        return RecordingDetailOut(**RecordingOut.of(found).model_dump(),
                                  notes=[NoteOut.of(n) for n in notes])

    async def open_audio(self, caller: Caller, recording_id: int, range_header: str | None,
                         if_range: str | None) -> Audio:
        async with self._session() as s:
            found = await self._visible(s, caller, recording_id)
        etag = f'"{found.sha256}"'
        if if_range is not None and if_range.strip() != etag:
            range_header = None  # RFC 9110 13.1.5: the file changed, send all of it
        try:
            fd = os.open(self._dirs.store_file(found.path), os.O_RDONLY)
        except FileNotFoundError:
            # Catalogued a moment ago and not yet moved into the store, or removed by hand.
            logger.warning("recording %d has no file at %s", recording_id, found.path)
            raise NotFound("recording audio", str(recording_id)) from None
        try:
            size = os.fstat(fd).st_size
            chosen = parse_range(range_header, size)
        except RangeError as exc:
            os.close(fd)
            raise RangeNotSatisfiable(str(exc), details={"size": exc.size},
                                      headers={"Content-Range": f"bytes */{exc.size}"}) from None
        except BaseException:
            os.close(fd)
            raise
        name = naming.download_name(found.id, found.started_at, found.skill_group or
                                    found.campaign, found.seat_id, found.customer_number)
        return Audio(fd, size, chosen, name, etag)

    # -- QA -------------------------------------------------------------------------------
    async def tag(self, caller: Caller, recording_id: int, tag: str, add: bool) -> RecordingOut:
        async with self._session() as s:
            await self._visible(s, caller, recording_id)
            if add:
                await repo.add_tag(s, recording_id, tag, caller.username)
            elif not await repo.remove_tag(s, recording_id, tag):
                raise NotFound("tag", tag)
            await s.commit()
            found = await self._visible(s, caller, recording_id)
        return RecordingOut.of(found)

    async def note(self, caller: Caller, recording_id: int, body: str) -> NoteOut:
        async with self._session() as s:
            await self._visible(s, caller, recording_id)
            note = await repo.add_note(s, recording_id, caller.username, body)
            await s.commit()
        return NoteOut.of(note)

    async def hold(self, caller: Caller, recording_id: int, hold: bool,
                   reason: str | None) -> RecordingOut:
        async with self._session() as s:
            await self._visible(s, caller, recording_id)
            if not await repo.set_hold(s, recording_id, hold, reason):
                raise Conflict("the recording is being deleted by the retention sweep")
            await s.commit()
            found = await self._visible(s, caller, recording_id)
        logger.info("legal hold %s on recording %d by %s", "set" if hold else "lifted",
                    recording_id, caller.username)
        return RecordingOut.of(found)

    async def sample(self, caller: Caller, first: date, last: date, tz: str, per_agent: int,
                     min_seconds: float, seed: str | None) -> SampleOut:
        try:
            zone = iana_zone(tz)
        except InvalidTimezone as exc:
            raise InvalidInput("tz", str(exc)) from None
        if last < first:
            raise InvalidInput("to", "must not be before from")
        if (last - first).days + 1 > MAX_SAMPLE_DAYS:
            raise InvalidInput("to", f"at most {MAX_SAMPLE_DAYS} days per sample")
        since = _day_start("from", first, zone)
        until = _day_start("to", last, zone, days=1)
        seed = seed or secrets.token_hex(8)
        async with self._session() as s:
            picked = await repo.sample(s, since=since, until=until, tz=tz, per_agent=per_agent,
                                       min_seconds=min_seconds, seed=seed)
        return SampleOut(seed=seed, items=[
            SampledOut(day=p.day, seat_id=p.seat_id, recording=RecordingOut.of(p.recording))
            for p in picked])

    # -- policies and sweep ------------------------------------------------------------------
    async def policies(self) -> PoliciesOut:
        async with self._session() as s:
            found = await repo.policies(s)
        return PoliciesOut(default_retention_days=self._default_days,
                           policies=[PolicyOut.of(p) for p in found])

    async def put_policy(self, key: str, body: PolicyIn) -> PolicyOut:
        if not retention.valid_policy_key(key):
            raise InvalidInput("key", "letters, digits, '_', '.', '-' (1-80)", location="path")
        try:
            retention.check_retention(body.retention_days)
        except RetentionTooShort as exc:
            raise InvalidInput("retention_days", f"{exc}: recordings are kept at least three "
                               "calendar months", location="body") from None
        policy = repo.Policy(key, body.retention_days, body.stereo)
        async with self._session() as s:
            if not await _names_recordings(s, key):
                # A typo ("Sales") would otherwise never apply, silently. Deleting a
                # policy whose group or campaign is gone stays possible.
                raise NotFound("skill group or campaign", key)
            await repo.put_policy(s, policy)
            # The marker before the commit: if it cannot be written, nothing changed.
            self._dirs.set_stereo(key, body.stereo)
            await s.commit()
        logger.info("recording policy %s: %d days, stereo=%s", key, body.retention_days,
                    body.stereo)
        return PolicyOut.of(policy)

    async def delete_policy(self, key: str) -> None:
        if not retention.valid_policy_key(key):
            raise InvalidInput("key", "letters, digits, '_', '.', '-' (1-80)", location="path")
        async with self._session() as s:
            if not await repo.delete_policy(s, key):
                raise NotFound("recording policy", key)
            self._dirs.set_stereo(key, False)
            await s.commit()

    async def sweep(self, dry_run: bool) -> SweepOut:
        try:
            report = await self._sweeper.run(trigger="api", dry_run=dry_run)
        except DATABASE_DOWN as exc:
            raise Unavailable("database") from exc
        return SweepOut.model_validate(
            {k: v for k, v in report.as_dict().items() if k in SweepOut.model_fields})


async def _names_recordings(s: AsyncSession, key: str) -> bool:
    """Whether recordings can fall under policy ``key``: a skill group's name, an
    existing campaign's ``campaign-<id>``, or the key of click-to-dial calls made for no
    campaign."""
    if key == retention.CLICK_TO_DIAL_KEY or await inbound_repository.existing_groups(s, [key]):
        return True
    campaign = retention.campaign_of(key)
    return campaign is not None and await s.get(Campaign, campaign) is not None
