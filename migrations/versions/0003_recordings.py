"""Recordings catalogue, tags, notes, retention policies, sweep audit.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "recordings",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=True),
        sa.Column("seat_id", sa.Text(), nullable=True),
        sa.Column("customer_number", sa.Text(), nullable=True),
        sa.Column("skill_group", sa.Text(), nullable=True),
        sa.Column("campaign", sa.Text(), nullable=True),
        sa.Column("policy_key", sa.Text(), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("duration_seconds", sa.Double(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("channels", sa.SmallInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), server_default="ready", nullable=False),
        sa.Column("legal_hold", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("legal_hold_reason", sa.Text(), nullable=True),
        sa.Column("sweep_batch_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recordings"),
        sa.UniqueConstraint("call_id", name="uq_recordings_call_id"),
        sa.UniqueConstraint("path", name="uq_recordings_path"),
        sa.CheckConstraint("status IN ('ready', 'deleting')", name="ck_recordings_status"),
        sa.CheckConstraint("size_bytes >= 0 AND duration_seconds >= 0",
                           name="ck_recordings_sizes"),
    )
    op.create_index("ix_recordings_customer_number", "recordings", ["customer_number"])
    op.create_index("ix_recordings_skill_group", "recordings", ["skill_group"])
    op.create_index("ix_recordings_campaign", "recordings", ["campaign"])
    op.create_index("ix_recordings_started_at", "recordings", ["started_at"])
    op.create_index("ix_recordings_sweep_batch_id", "recordings", ["sweep_batch_id"])
    op.create_index("ix_recordings_seat_id_started_at", "recordings", ["seat_id", "started_at"])
    op.create_table(
        "recording_tags",
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("tag", sa.Text(), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("recording_id", "tag", name="pk_recording_tags"),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"],
                                name="fk_recording_tags_recording_id_recordings",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_recording_tags_tag", "recording_tags", ["tag"])
    op.create_table(
        "recording_notes",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("recording_id", sa.BigInteger(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_notes"),
        sa.ForeignKeyConstraint(["recording_id"], ["recordings.id"],
                                name="fk_recording_notes_recording_id_recordings",
                                ondelete="CASCADE"),
    )
    op.create_index("ix_recording_notes_recording_id", "recording_notes", ["recording_id"])
    op.create_table(
        "recording_policies",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("stereo", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_recording_policies"),
        sa.CheckConstraint("retention_days >= 92",
                           name="ck_recording_policies_retention_floor"),
    )
    op.create_table(
        "recording_sweep_batches",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("started_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.Column("recordings", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files_missing", sa.Integer(), server_default="0", nullable=False),
        sa.Column("call_ids", postgresql.JSONB(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_recording_sweep_batches"),
        sa.CheckConstraint("state IN ('deleting', 'done')",
                           name="ck_recording_sweep_batches_state"),
    )


def downgrade() -> None:
    op.drop_table("recording_sweep_batches")
    op.drop_table("recording_policies")
    op.drop_table("recording_notes")
    op.drop_table("recording_tags")
    op.drop_table("recordings")
