"""Recordings catalogue, tags, notes, retention policies and the sweep audit (issue 4).

Tables register on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this module
so Alembic and the drift test see them. The migration is ``0003_recordings``.

A recording row is ``ready`` (its file is in the store and may be served) or ``deleting``
(a sweep batch claimed it: its file may already be gone; it is never served and the next
sweep finishes the delete). ``path`` is relative to the store, never shown to clients.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Double,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base

RECORDING_STATES = ("ready", "deleting")
SWEEP_BATCH_STATES = ("deleting", "done")


class RecordingRow(Base):
    __tablename__ = "recordings"
    __table_args__ = (
        CheckConstraint("status IN ('ready', 'deleting')", name="status"),
        CheckConstraint("size_bytes >= 0 AND duration_seconds >= 0", name="sizes"),
        Index("ix_recordings_seat_id_started_at", "seat_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text, unique=True)  # node-prefixed linkedid
    node: Mapped[str] = mapped_column(Text)
    direction: Mapped[str | None] = mapped_column(String(16))
    seat_id: Mapped[str | None] = mapped_column(Text)
    customer_number: Mapped[str | None] = mapped_column(Text, index=True)
    skill_group: Mapped[str | None] = mapped_column(Text, index=True)
    campaign: Mapped[str | None] = mapped_column(Text, index=True)
    # The retention (and stereo) policy that applies: the group's name or campaign-<id>.
    policy_key: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration_seconds: Mapped[float] = mapped_column(Double)  # measured from the audio
    # the recorded part of the call by its events (MixMonitorStart to hang-up), if known
    call_seconds: Mapped[float | None] = mapped_column(Double)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    channels: Mapped[int] = mapped_column(SmallInteger)
    path: Mapped[str] = mapped_column(Text, unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default="ready")
    legal_hold: Mapped[bool] = mapped_column(Boolean, server_default="false")
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    sweep_batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecordingTagRow(Base):
    __tablename__ = "recording_tags"

    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(Text, primary_key=True, index=True)
    created_by: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecordingNoteRow(Base):
    __tablename__ = "recording_notes"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    recording_id: Mapped[int] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    author: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecordingPolicyRow(Base):
    """Per skill group (its name) or campaign (``campaign-<id>``): retention and stereo."""

    __tablename__ = "recording_policies"
    __table_args__ = (CheckConstraint("retention_days >= 92", name="retention_floor"),)

    key: Mapped[str] = mapped_column(Text, primary_key=True)
    retention_days: Mapped[int] = mapped_column(Integer)
    stereo: Mapped[bool] = mapped_column(Boolean, server_default="false")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class RecordingSweepBatchRow(Base):
    """The audit entry of one sweep batch: what it deleted and whether it finished."""

    __tablename__ = "recording_sweep_batches"
    __table_args__ = (CheckConstraint("state IN ('deleting', 'done')", name="state"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    trigger: Mapped[str] = mapped_column(Text)  # schedule | cli | resume
    state: Mapped[str] = mapped_column(String(16))
    started_at: Mapped[datetime] = mapped_column(server_default=func.now())
    finished_at: Mapped[datetime | None]
    recordings: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    files_missing: Mapped[int] = mapped_column(Integer, server_default="0")
    call_ids: Mapped[list[Any]] = mapped_column(JSONB)
