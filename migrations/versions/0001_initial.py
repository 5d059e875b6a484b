"""Initial schema: users, tokens, seats, skill groups, calls, timelines, seat-state log.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.Text(), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("seat_id", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("username", name="uq_users_username"),
        sa.CheckConstraint("role IN ('agent', 'supervisor', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("last_used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"
        ),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])
    op.create_table(
        "seats",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("interface", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_seats"),
    )
    op.create_table(
        "skill_groups",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("display_name", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_skill_groups"),
    )
    op.create_table(
        "skill_group_members",
        sa.Column("skill_group", sa.Text(), nullable=False),
        sa.Column("seat_id", sa.Text(), nullable=False),
        sa.Column("penalty", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("skill_group", "seat_id", name="pk_skill_group_members"),
        sa.ForeignKeyConstraint(
            ["skill_group"],
            ["skill_groups.name"],
            name="fk_skill_group_members_skill_group_skill_groups",
            ondelete="CASCADE",
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seat_id"],
            ["seats.id"],
            name="fk_skill_group_members_seat_id_seats",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint("penalty >= 0", name="ck_skill_group_members_penalty_not_negative"),
    )
    op.create_index("ix_skill_group_members_seat_id", "skill_group_members", ["seat_id"])
    op.create_table(
        "calls",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("linkedid", sa.Text(), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("customer_number", sa.Text(), nullable=False),
        sa.Column("skill_group", sa.Text(), nullable=True),
        sa.Column("seat_id", sa.Text(), nullable=True),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("queued_at", TZ, nullable=True),
        sa.Column("answered_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("talk_seconds", sa.Integer(), nullable=True),
        sa.Column("hangup_cause", sa.Text(), nullable=True),
        sa.Column("abandoned", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_index("ix_calls_customer_number", "calls", ["customer_number"])
    op.create_index("ix_calls_seat_id", "calls", ["seat_id"])
    op.create_index("ix_calls_started_at", "calls", ["started_at"])
    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("at", TZ, nullable=False),
        sa.Column("seat_id", sa.Text(), nullable=True),
        sa.Column("skill_group", sa.Text(), nullable=True),
        sa.Column("detail", postgresql.JSONB(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_call_events"),
    )
    op.create_index("ix_call_events_call_id", "call_events", ["call_id"])
    op.create_table(
        "seat_state_log",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("seat_id", sa.Text(), nullable=False),
        sa.Column("node", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("previous", sa.String(16), nullable=False),
        sa.Column("transition", sa.Text(), nullable=False),
        sa.Column("pause_reason", sa.Text(), nullable=True),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.Column("at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_seat_state_log"),
    )
    op.create_index("ix_seat_state_log_seat_id_at", "seat_state_log", ["seat_id", "at"])


def downgrade() -> None:
    op.drop_table("seat_state_log")
    op.drop_table("call_events")
    op.drop_table("calls")
    op.drop_table("skill_group_members")
    op.drop_table("skill_groups")
    op.drop_table("seats")
    op.drop_table("api_tokens")
    op.drop_table("users")
