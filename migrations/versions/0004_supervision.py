"""Supervision sessions and their audit.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "supervision_sessions",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("supervisor", sa.Text(), nullable=False),
        sa.Column("phone_seat_id", sa.Text(), nullable=False),
        sa.Column("agent_seat_id", sa.Text(), nullable=False),
        sa.Column("agent_channel", sa.Text(), nullable=False),
        sa.Column("spy_channel_id", sa.Text(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("mode_changes", postgresql.JSONB(), nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_supervision_sessions"),
        sa.UniqueConstraint("spy_channel_id", name="uq_supervision_sessions_spy_channel_id"),
        sa.CheckConstraint(
            "mode IN ('listen', 'whisper', 'barge')", name="ck_supervision_sessions_mode"
        ),
    )
    op.create_index("ix_supervision_sessions_call_id", "supervision_sessions", ["call_id"])
    op.create_index(
        "ix_supervision_sessions_supervisor_started_at",
        "supervision_sessions",
        ["supervisor", "started_at"],
    )


def downgrade() -> None:
    op.drop_table("supervision_sessions")
