"""Supervision sessions (listen, whisper, barge) and their audit (issue 4).

One row per session: who supervised (user and phone), whom (call, agent seat and the
agent's exact channel), how (the mode and every change of it), when and how long (start
at the request, end from the events: the supervisor's leg or the call ending, or a stop).
Tables register on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this
module so Alembic and the drift test see them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base

MODES = ("listen", "whisper", "barge")


class SupervisionSession(Base):
    __tablename__ = "supervision_sessions"
    __table_args__ = (
        CheckConstraint("mode IN ('listen', 'whisper', 'barge')", name="mode"),
        Index("ix_supervision_sessions_call_id", "call_id"),
        Index("ix_supervision_sessions_supervisor_started_at", "supervisor", "started_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_id: Mapped[str] = mapped_column(Text)
    node: Mapped[str] = mapped_column(Text)
    supervisor: Mapped[str] = mapped_column(Text)  # the user's name (users may be deleted)
    phone_seat_id: Mapped[str] = mapped_column(Text)
    agent_seat_id: Mapped[str] = mapped_column(Text)
    agent_channel: Mapped[str] = mapped_column(Text)
    # Uniqueid of the supervisor's leg (Originate ChannelId): the events name it.
    spy_channel_id: Mapped[str] = mapped_column(Text, unique=True)
    mode: Mapped[str] = mapped_column(String(16))  # the current (or last) mode
    mode_changes: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)  # [{"mode", "at"}...]
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    end_reason: Mapped[str | None] = mapped_column(String(32))
    duration_seconds: Mapped[int | None] = mapped_column(Integer)
