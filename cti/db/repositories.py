"""Reads and writes the REST API needs, returning plain frozen records (never ORM objects).

Every function takes an :class:`AsyncSession`. Writes follow "who begins, commits": called
on a session with no transaction in progress (a plain ``async with sessionmaker() as
session``), a write function commits before it returns; called inside the caller's
transaction (``async with session.begin():`` or after earlier statements), it only
flushes and the caller commits or rolls back.

Tokens: the plaintext is returned once by :func:`create_token` and never stored; the
database holds its SHA-256 (hex), and :func:`authenticate` looks the hash up, so the
comparison never touches the secret itself.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from cti.db.campaign_models import Campaign, CampaignSeat
from cti.db.models import (
    ROLES,
    ApiToken,
    CallEventRow,
    CallRow,
    Seat,
    SeatStateLogRow,
    SkillGroup,
    SkillGroupMember,
    User,
)

log = logging.getLogger(__name__)

TOKEN_PREFIX = "cti_"
_DISPLAY_PREFIX_LEN = 12  # "cti_" and 8 characters of the secret
_LAST_USED_RESOLUTION = timedelta(minutes=1)  # do not write on every request


@asynccontextmanager
async def writing(session: AsyncSession) -> AsyncIterator[None]:
    """Commit if this call began the transaction; otherwise only flush (caller commits)."""
    owner = not session.in_transaction()
    try:
        yield
    except BaseException:
        if owner:
            await session.rollback()
        raise
    if owner:
        await session.commit()
    else:
        await session.flush()


# -- records -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CallRecord:
    id: str
    node: str
    linkedid: str
    direction: str
    state: str
    customer_number: str
    skill_group: str | None
    seat_id: str | None
    started_at: datetime
    queued_at: datetime | None
    answered_at: datetime | None
    ended_at: datetime | None
    wait_seconds: int | None
    talk_seconds: int | None
    hangup_cause: str | None
    abandoned: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class CallEventRecord:
    id: int
    call_id: str
    kind: str
    at: datetime
    seat_id: str | None
    skill_group: str | None
    detail: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class SeatRecord:
    id: str
    node: str
    interface: str
    display_name: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SkillGroupMemberRecord:
    seat_id: str
    penalty: int


@dataclass(frozen=True, slots=True)
class SkillGroupRecord:
    name: str
    node: str
    display_name: str | None
    created_at: datetime
    members: tuple[SkillGroupMemberRecord, ...]
    voicemail_box: str | None = None  # None: the group's own name


@dataclass(frozen=True, slots=True)
class UserRecord:
    id: int
    username: str
    role: str
    seat_id: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What may be shown about a token: never the secret, never its hash (``prefix``, the
    first characters, is there to tell tokens apart). ``role`` and ``seat_id`` are the
    user's, as every token of theirs has them."""

    id: int
    username: str
    role: str
    seat_id: str | None
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid bearer token belongs to."""

    user_id: int
    username: str
    role: str
    seat_id: str | None
    token_id: int


@dataclass(frozen=True, slots=True)
class SeatStateLogRecord:
    id: int
    seat_id: str
    node: str
    state: str
    previous: str
    transition: str
    pause_reason: str | None
    call_id: str | None
    at: datetime


def _call(row: CallRow) -> CallRecord:
    return CallRecord(
        id=row.id,
        node=row.node,
        linkedid=row.linkedid,
        direction=row.direction,
        state=row.state,
        customer_number=row.customer_number,
        skill_group=row.skill_group,
        seat_id=row.seat_id,
        started_at=row.started_at,
        queued_at=row.queued_at,
        answered_at=row.answered_at,
        ended_at=row.ended_at,
        wait_seconds=row.wait_seconds,
        talk_seconds=row.talk_seconds,
        hangup_cause=row.hangup_cause,
        abandoned=row.abandoned,
        updated_at=row.updated_at,
    )


def _user(row: User) -> UserRecord:
    return UserRecord(row.id, row.username, row.role, row.seat_id, row.created_at)


def _seat(row: Seat) -> SeatRecord:
    return SeatRecord(row.id, row.node, row.interface, row.display_name, row.created_at)


# -- calls ---------------------------------------------------------------------------


async def list_calls(
    session: AsyncSession,
    *,
    customer_number: str | None = None,
    seat_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    exclude_ids: Collection[str] = (),
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[CallRecord], int]:
    """Calls started in ``[since, until)``, newest first, and how many match in total.

    ``exclude_ids`` leaves out calls the caller already has (the live ones).
    """
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    where: list[ColumnElement[bool]] = []
    if customer_number is not None:
        where.append(CallRow.customer_number == customer_number)
    if seat_id is not None:
        where.append(CallRow.seat_id == seat_id)
    if since is not None:
        where.append(CallRow.started_at >= since)
    if until is not None:
        where.append(CallRow.started_at < until)
    if exclude_ids:
        where.append(CallRow.id.not_in(list(exclude_ids)))
    total = await session.scalar(select(func.count()).select_from(CallRow).where(*where))
    rows = await session.scalars(
        select(CallRow)
        .where(*where)
        .order_by(CallRow.started_at.desc(), CallRow.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return [_call(row) for row in rows], int(total or 0)


async def get_call(session: AsyncSession, call_id: str) -> CallRecord | None:
    row = await session.get(CallRow, call_id)
    return None if row is None else _call(row)


async def call_timeline(session: AsyncSession, call_id: str) -> list[CallEventRecord]:
    rows = await session.scalars(
        select(CallEventRow)
        .where(CallEventRow.call_id == call_id)
        .order_by(CallEventRow.at, CallEventRow.id)
    )
    return [
        CallEventRecord(r.id, r.call_id, r.kind, r.at, r.seat_id, r.skill_group, r.detail)
        for r in rows
    ]


# -- seats and skill groups ----------------------------------------------------------


async def list_seats(session: AsyncSession) -> list[SeatRecord]:
    rows = await session.scalars(select(Seat).order_by(Seat.id))
    return [_seat(row) for row in rows]


async def get_seat(session: AsyncSession, seat_id: str) -> SeatRecord | None:
    row = await session.get(Seat, seat_id)
    return None if row is None else _seat(row)


async def registered_seats(session: AsyncSession, seat_ids: Collection[str]) -> set[str]:
    """Which of `seat_ids` are registered."""
    if not seat_ids:
        return set()
    return set(await session.scalars(select(Seat.id).where(Seat.id.in_(seat_ids))))


async def upsert_seat(
    session: AsyncSession,
    seat_id: str,
    *,
    node: str,
    interface: str,
    display_name: str | None = None,
) -> SeatRecord:
    """Create or update a seat's configuration."""
    stmt = pg_insert(Seat).values(
        id=seat_id, node=node, interface=interface, display_name=display_name
    )
    upsert = stmt.on_conflict_do_update(
        index_elements=[Seat.id],
        set_={
            "node": stmt.excluded.node,
            "interface": stmt.excluded.interface,
            "display_name": stmt.excluded.display_name,
        },
    ).returning(Seat)
    async with writing(session):
        row = (await session.scalars(upsert, execution_options={"populate_existing": True})).one()
        return _seat(row)


@dataclass(frozen=True, slots=True)
class SeatHolders:
    """What in PostgreSQL refers to a seat: the skill groups it is a member of, and the
    campaigns (not stopped) it is assigned to."""

    skill_groups: tuple[str, ...]
    campaigns: tuple[int, ...]

    def __bool__(self) -> bool:
        return bool(self.skill_groups or self.campaigns)


async def delete_seat(session: AsyncSession, seat_id: str) -> SeatHolders | None:
    """Delete a seat nothing holds: None when there was no such seat; its holders, and
    nothing deleted, when something holds it (an empty one when deleted). The seat's row
    is locked first, so no membership can be added in between."""
    async with writing(session):
        found = await session.scalar(select(Seat.id).where(Seat.id == seat_id).with_for_update())
        if found is None:
            return None
        groups = await session.scalars(
            select(SkillGroupMember.skill_group).where(SkillGroupMember.seat_id == seat_id)
            .order_by(SkillGroupMember.skill_group))
        campaigns = await session.scalars(
            select(CampaignSeat.campaign_id)
            .join(Campaign, Campaign.id == CampaignSeat.campaign_id)
            .where(CampaignSeat.seat_id == seat_id, Campaign.state != "stopped")
            .order_by(CampaignSeat.campaign_id))
        holders = SeatHolders(tuple(groups), tuple(campaigns))
        if not holders:
            await session.execute(delete(Seat).where(Seat.id == seat_id))
    if not holders:
        log.info("seat %s deleted", seat_id)
    return holders


async def is_group_member(session: AsyncSession, group: str, seat_id: str) -> bool:
    found = await session.scalar(
        select(SkillGroupMember.seat_id).where(SkillGroupMember.skill_group == group,
                                               SkillGroupMember.seat_id == seat_id))
    return found is not None


async def list_skill_groups(session: AsyncSession) -> list[SkillGroupRecord]:
    groups = (await session.scalars(select(SkillGroup).order_by(SkillGroup.name))).all()
    members: dict[str, list[SkillGroupMemberRecord]] = {g.name: [] for g in groups}
    rows = await session.scalars(
        select(SkillGroupMember).order_by(
            SkillGroupMember.skill_group, SkillGroupMember.penalty, SkillGroupMember.seat_id
        )
    )
    for m in rows:
        members.setdefault(m.skill_group, []).append(SkillGroupMemberRecord(m.seat_id, m.penalty))
    return [
        SkillGroupRecord(g.name, g.node, g.display_name, g.created_at, tuple(members[g.name]),
                         g.voicemail_box)
        for g in groups
    ]


async def get_skill_group(session: AsyncSession, name: str) -> SkillGroupRecord | None:
    group = await session.get(SkillGroup, name)
    if group is None:
        return None
    rows = await session.scalars(
        select(SkillGroupMember)
        .where(SkillGroupMember.skill_group == name)
        .order_by(SkillGroupMember.penalty, SkillGroupMember.seat_id)
    )
    members = tuple(SkillGroupMemberRecord(m.seat_id, m.penalty) for m in rows)
    return SkillGroupRecord(group.name, group.node, group.display_name, group.created_at, members,
                            group.voicemail_box)


async def upsert_skill_group(
    session: AsyncSession, name: str, *, node: str, display_name: str | None = None
) -> None:
    """Create or update a skill group's configuration."""
    stmt = pg_insert(SkillGroup).values(name=name, node=node, display_name=display_name)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SkillGroup.name],
        set_={"node": stmt.excluded.node, "display_name": stmt.excluded.display_name},
    )
    async with writing(session):
        await session.execute(stmt)


async def set_skill_group_member(
    session: AsyncSession, skill_group: str, seat_id: str, penalty: int = 0
) -> None:
    """Add a seat to a skill group or change its penalty (skill level)."""
    if penalty < 0:
        raise ValueError("penalty must not be negative")
    stmt = pg_insert(SkillGroupMember).values(
        skill_group=skill_group, seat_id=seat_id, penalty=penalty
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[SkillGroupMember.skill_group, SkillGroupMember.seat_id],
        set_={"penalty": stmt.excluded.penalty},
    )
    async with writing(session):
        await session.execute(stmt)


async def remove_skill_group_member(session: AsyncSession, skill_group: str, seat_id: str) -> bool:
    """Remove a seat from a skill group; False if it was not a member."""
    async with writing(session):
        result = await session.execute(
            delete(SkillGroupMember)
            .where(SkillGroupMember.skill_group == skill_group, SkillGroupMember.seat_id == seat_id)
            .returning(SkillGroupMember.seat_id)
        )
        return result.first() is not None


# -- users and tokens ----------------------------------------------------------------
#
# A user has one role and at most one seat, and each of their tokens acts with them
# (``api_tokens`` holds neither). So a token is created for the user as they are: asking
# for another role or seat raises :class:`UserMismatch`, unless the caller says the user
# is to change (``change_user``), which changes every token of theirs.


class UserMismatch(Exception):
    """A token asked for a role or seat other than its existing user's.

    ``user`` is the user as they are; ``role`` and ``seat_id`` what was asked;
    ``active_tokens`` how many tokens of theirs are not revoked (all of which would
    change with the user)."""

    def __init__(self, user: UserRecord, role: str, seat_id: str | None,
                 active_tokens: int) -> None:
        super().__init__(f"user {user.username!r} is {standing(user.role, user.seat_id)}, "
                         f"not {standing(role, seat_id)}")
        self.user = user
        self.role = role
        self.seat_id = seat_id
        self.active_tokens = active_tokens


def standing(role: str, seat_id: str | None) -> str:
    """A role and seat in words: "agent at seat 1001", "admin with no seat"."""
    return f"{role} at seat {seat_id}" if seat_id is not None else f"{role} with no seat"


def hash_token(token: str) -> str:
    """SHA-256 of a bearer token, hex: the only form in which tokens are stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}, got {role!r}")


async def get_user(session: AsyncSession, username: str) -> UserRecord | None:
    row = await session.scalar(select(User).where(User.username == username))
    return None if row is None else _user(row)


async def create_user(
    session: AsyncSession, username: str, role: str, seat_id: str | None = None
) -> UserRecord:
    """Get or create a user; an existing user takes the given role and seat, and with
    them every token of theirs."""
    async with writing(session):
        return await _token_user(session, username, role, seat_id, change_user=True)


async def _token_user(
    session: AsyncSession, username: str, role: str, seat_id: str | None, *,
    change_user: bool,
) -> UserRecord:
    """The user ``username`` with ``role`` and ``seat_id``: created if missing; an
    existing one with another role or seat is changed if ``change_user``, else
    :class:`UserMismatch`. The row stays locked until the transaction ends."""
    _check_role(role)
    if not username:
        raise ValueError("username must not be empty")
    created = await session.scalar(
        pg_insert(User).values(username=username, role=role, seat_id=seat_id)
        .on_conflict_do_nothing(index_elements=[User.username]).returning(User),
        execution_options={"populate_existing": True})
    if created is not None:
        return _user(created)
    row = (await session.scalars(select(User).where(User.username == username)
                                 .with_for_update(),
                                 execution_options={"populate_existing": True})).one()
    if (row.role, row.seat_id) == (role, seat_id):
        return _user(row)
    current = _user(row)
    if not change_user:
        raise UserMismatch(current, role, seat_id, await _active_tokens(session, row.id))
    row.role, row.seat_id = role, seat_id
    await session.flush()
    log.warning("user %s changed from %s (seat %s) to %s (seat %s), with all their tokens",
                username, current.role, current.seat_id, role, seat_id)
    return _user(row)


async def _active_tokens(session: AsyncSession, user_id: int) -> int:
    return await session.scalar(
        select(func.count()).select_from(ApiToken)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))) or 0


async def create_token(
    session: AsyncSession,
    username: str,
    role: str,
    name: str,
    seat_id: str | None = None,
    *,
    change_user: bool = False,
) -> str:
    """Create a bearer token (and the user if needed); returns the plaintext, once.

    An existing user keeps their role and seat: asking for others raises
    :class:`UserMismatch` (nothing is written), unless ``change_user``, which changes the
    user and so what every token of theirs may do."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    async with writing(session):
        user = await _token_user(session, username, role, seat_id, change_user=change_user)
        session.add(
            ApiToken(
                user_id=user.id,
                name=name,
                token_hash=hash_token(token),
                prefix=token[:_DISPLAY_PREFIX_LEN],
            )
        )
    log.info("created API token %r for %s (%s)", name, username, role)
    return token


async def authenticate(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Principal | None:
    """The principal a bearer token stands for, or None (unknown or revoked)."""
    if not token:
        return None
    async with writing(session):
        row = (
            await session.execute(
                select(ApiToken.id, ApiToken.last_used_at, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
            )
        ).first()
        if row is None:
            return None
        token_id, last_used, user = row
        now = now or datetime.now(UTC)
        if last_used is None or now - last_used >= _LAST_USED_RESOLUTION:
            await session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now)
            )
        return Principal(user.id, user.username, user.role, user.seat_id, token_id)


def _tokens() -> Select[ApiToken, User]:
    return select(ApiToken, User).join(User, User.id == ApiToken.user_id)


def _token(t: ApiToken, u: User) -> TokenRecord:
    return TokenRecord(t.id, u.username, u.role, u.seat_id, t.name, t.prefix, t.created_at,
                       t.last_used_at, t.revoked_at)


async def list_tokens(session: AsyncSession, username: str | None = None) -> list[TokenRecord]:
    """Tokens, revoked ones too, oldest first (``username``'s only, if given)."""
    stmt = _tokens()
    if username is not None:
        stmt = stmt.where(User.username == username)
    rows = await session.execute(stmt.order_by(ApiToken.id))
    return [_token(t, u) for t, u in rows]


async def get_token(session: AsyncSession, token_id: int) -> TokenRecord | None:
    row = (await session.execute(_tokens().where(ApiToken.id == token_id))).first()
    return None if row is None else _token(row[0], row[1])


async def revoke_token(
    session: AsyncSession, *, token: str | None = None, token_id: int | None = None
) -> bool:
    """Revoke a token given as plaintext or by id; False if none was active."""
    if (token is None) == (token_id is None):
        raise ValueError("give exactly one of token or token_id")
    cond = ApiToken.id == token_id if token is None else ApiToken.token_hash == hash_token(token)
    async with writing(session):
        result = await session.execute(
            update(ApiToken)
            .where(cond, ApiToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiToken.id)
        )
        revoked = result.first() is not None
    if revoked:
        log.info("revoked API token %s", token_id if token is None else "(by value)")
    return revoked


async def revoke_user_tokens(session: AsyncSession, username: str) -> list[int] | None:
    """Revoke every active token of ``username``: their ids (none active: empty); None
    when there is no such user."""
    async with writing(session):
        user_id = await session.scalar(select(User.id).where(User.username == username))
        if user_id is None:
            return None
        result = await session.scalars(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=func.now())
            .returning(ApiToken.id)
        )
        revoked = sorted(result)
    if revoked:
        log.info("revoked API tokens %s of %s", revoked, username)
    return revoked


# -- seat state log ------------------------------------------------------------------


async def seat_state_log(
    session: AsyncSession,
    seat_id: str | None,
    since: datetime,
    until: datetime,
) -> list[SeatStateLogRecord]:
    """Seat state changes in ``[since, until)``, oldest first (all seats if seat_id None)."""
    stmt = select(SeatStateLogRow).where(SeatStateLogRow.at >= since, SeatStateLogRow.at < until)
    if seat_id is not None:
        stmt = stmt.where(SeatStateLogRow.seat_id == seat_id)
    rows = await session.scalars(
        stmt.order_by(SeatStateLogRow.seat_id, SeatStateLogRow.at, SeatStateLogRow.id)
    )
    return [
        SeatStateLogRecord(
            id=r.id,
            seat_id=r.seat_id,
            node=r.node,
            state=r.state,
            previous=r.previous,
            transition=r.transition,
            pause_reason=r.pause_reason,
            call_id=r.call_id,
            at=r.at,
        )
        for r in rows
    ]
