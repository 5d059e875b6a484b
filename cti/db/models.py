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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
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
    """A skill group (an app_queue queue) and how it treats callers.

    ``hours`` is ``{"timezone", "weekly": [{"days", "opens", "closes"}], "holidays"}`` or
    null (always open); ``widen`` is ``[{"after_seconds", "max_level"}]``.
    """

    __tablename__ = "skill_groups"
    __table_args__ = (
        CheckConstraint("ring_seconds BETWEEN 1 AND 86400", name="ring_seconds"),
        CheckConstraint("retry_seconds BETWEEN 0 AND 86400", name="retry_seconds"),
        CheckConstraint("wrapup_seconds BETWEEN 0 AND 86400", name="wrapup_seconds"),
        CheckConstraint("max_wait_seconds BETWEEN 1 AND 86400", name="max_wait_seconds"),
    )

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    node: Mapped[str] = mapped_column(Text)
    display_name: Mapped[str | None] = mapped_column(Text)
    strategy: Mapped[str] = mapped_column(Text, server_default="rrmemory")
    ring_seconds: Mapped[int] = mapped_column(Integer, server_default="15")
    retry_seconds: Mapped[int] = mapped_column(Integer, server_default="2")
    wrapup_seconds: Mapped[int] = mapped_column(Integer, server_default="10")
    max_wait_seconds: Mapped[int] = mapped_column(Integer, server_default="300")
    music_class: Mapped[str] = mapped_column(Text, server_default="default")
    voicemail_box: Mapped[str | None] = mapped_column(Text)
    hours: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after_hours_prompt: Mapped[str | None] = mapped_column(Text)
    widen: Mapped[list[dict[str, int]]] = mapped_column(JSONB, server_default="[]")
    no_answer_pause_after: Mapped[int] = mapped_column(Integer, server_default="3")
    numbers: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class IvrMenu(Base):
    """An auto-attendant: greeting, digit -> skill group, default group on no input."""

    __tablename__ = "ivr_menus"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    greeting: Mapped[str] = mapped_column(Text)
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # RESTRICT: a group a menu falls back to cannot be deleted under it
    default_group: Mapped[str] = mapped_column(
        ForeignKey("skill_groups.name", ondelete="RESTRICT", onupdate="CASCADE")
    )
    timeout_seconds: Mapped[int] = mapped_column(Integer, server_default="5")
    max_invalid: Mapped[int] = mapped_column(Integer, server_default="2")
    numbers: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    catch_all: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class PauseReason(Base):
    """The reasons an agent may give for a pause (``system`` ones are set by the service)."""

    __tablename__ = "pause_reasons"

    code: Mapped[str] = mapped_column(Text, primary_key=True)
    label: Mapped[str] = mapped_column(Text)
    system: Mapped[bool] = mapped_column(Boolean, server_default="false")
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
    # The calls history holds as up, looked for at each reconnect (cti/history/late_ends).
    __table_args__ = (Index("ix_calls_open", "node", postgresql_where=text("state <> 'ended'")),)

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
    # The campaign an outbound call was placed for (no foreign key: history outlives
    # campaigns, and rows never wait on order).
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Time of the domain event that produced this row: an upsert never goes backwards.
    updated_at: Mapped[datetime]


class CallEventRow(Base):
    """One line of a call's timeline. No FK to calls: rows never wait on order."""

    __tablename__ = "call_events"
    __table_args__ = (Index("ix_call_events_at", "at"),)  # the seat workload report

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
