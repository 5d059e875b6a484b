"""The PostgreSQL schema as SQLAlchemy 2 typed declarative models.

The schema is created only by the Alembic migrations in ``migrations/``; a test checks
that models and migrations do not drift. All times are ``timestamptz`` (UTC).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("agent", "supervisor", "admin")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


def _created_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class User(Base):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, unique=True)
    role: Mapped[str] = mapped_column(String(16))
    # No FK: seats are discovered from Asterisk and may appear after a user is bound.
    seat_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class ApiToken(Base):
    """A bearer token. Only its SHA-256 (hex) is stored; ``prefix`` is for display."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(Text)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created_at()
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Seat(Base):
    __tablename__ = "seats"

    id: Mapped[str] = mapped_column(Text, primary_key=True)  # e.g. '1001'
    node: Mapped[str] = mapped_column(Text)
    interface: Mapped[str] = mapped_column(Text)  # e.g. 'PJSIP/1001'
    display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class SkillGroup(Base):
    __tablename__ = "skill_groups"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    node: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class SkillGroupMember(Base):
    __tablename__ = "skill_group_members"
    __table_args__ = (CheckConstraint("penalty >= 0", name="penalty_not_negative"),)

    skill_group: Mapped[str] = mapped_column(
        ForeignKey("skill_groups.name", ondelete="CASCADE", onupdate="CASCADE"),
        primary_key=True,
    )
    seat_id: Mapped[str] = mapped_column(
        ForeignKey("seats.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    penalty: Mapped[int] = mapped_column(Integer, server_default="0")


class CallRow(Base):
    """One call (all legs sharing a Linkedid), upserted by the history writer."""

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(Text, primary_key=True)  # node-prefixed linkedid
    node: Mapped[str] = mapped_column(Text)
    linkedid: Mapped[str] = mapped_column(Text)
    direction: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16))
    customer_number: Mapped[str] = mapped_column(Text, index=True)
    skill_group: Mapped[str | None] = mapped_column(Text)
    seat_id: Mapped[str | None] = mapped_column(Text, index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    queued_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    wait_seconds: Mapped[int | None] = mapped_column(Integer)
    talk_seconds: Mapped[int | None] = mapped_column(Integer)
    hangup_cause: Mapped[str | None] = mapped_column(Text)
    abandoned: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Time of the domain event that produced this row: an upsert never goes backwards.
    updated_at: Mapped[datetime]


class CallEventRow(Base):
    """One line of a call's timeline. No FK to calls: rows never wait on order."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text, index=True)
    kind: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]
    seat_id: Mapped[str | None] = mapped_column(Text)
    skill_group: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None]


class SeatStateLogRow(Base):
    """Every seat state change, for the workload reports."""

    __tablename__ = "seat_state_log"
    __table_args__ = (Index("ix_seat_state_log_seat_id_at", "seat_id", "at"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    seat_id: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16))
    previous: Mapped[str] = mapped_column(String(16))
    transition: Mapped[str] = mapped_column(Text)
    pause_reason: Mapped[str | None] = mapped_column(Text)
    call_id: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime]
