"""Campaigns, leads, DNC, dial attempts, dispositions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
JSONB = postgresql.JSONB()


def _created_at() -> sa.Column[sa.DateTime]:
    return sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False)


def _user_fk(table: str, column: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], ["users.id"], name=f"fk_{table}_{column}_users", ondelete="SET NULL"
    )


def _campaign_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["campaign_id"], ["campaigns.id"], name=f"fk_{table}_campaign_id_campaigns",
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), server_default="draft", nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("caller_id", sa.Text(), nullable=False),
        sa.Column("skill_group", sa.Text(), nullable=True),
        sa.Column("default_region", sa.String(2), nullable=True),
        sa.Column("default_timezone", sa.Text(), nullable=True),
        sa.Column("windows", JSONB, nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("retry_delays", JSONB, nullable=False),
        sa.Column("grade_cadences", JSONB, nullable=False),
        sa.Column("cap_per_day", sa.Integer(), nullable=False),
        sa.Column("cap_per_week", sa.Integer(), nullable=False),
        sa.Column("script", sa.Text(), server_default="", nullable=False),
        _created_at(),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_campaigns"),
        sa.UniqueConstraint("name", name="uq_campaigns_name"),
        sa.CheckConstraint(
            "state IN ('draft', 'running', 'paused', 'stopped')", name="ck_campaigns_state"
        ),
        sa.CheckConstraint(
            "mode IN ('preview', 'progressive', 'predictive')", name="ck_campaigns_mode"
        ),
        sa.CheckConstraint("max_attempts >= 1", name="ck_campaigns_max_attempts_positive"),
        sa.CheckConstraint(
            "cap_per_day >= 1 AND cap_per_week >= cap_per_day", name="ck_campaigns_caps"
        ),
    )
    op.create_table(
        "campaign_seats",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("seat_id", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", "seat_id", name="pk_campaign_seats"),
        _campaign_fk("campaign_seats", "CASCADE"),
    )
    op.create_table(
        "leads",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("timezones", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("grade", sa.String(1), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_attempt_at", TZ, nullable=True),
        sa.Column("last_outcome", sa.String(16), nullable=True),
        sa.Column("next_eligible_at", TZ, nullable=True),
        sa.Column("callback_at", TZ, nullable=True),
        sa.Column("callback_user_id", sa.Integer(), nullable=True),
        sa.Column("callback_seat_id", sa.Text(), nullable=True),
        sa.Column("fields", JSONB, server_default="{}", nullable=False),
        sa.Column("source_row", sa.Integer(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_leads"),
        _campaign_fk("leads", "CASCADE"),
        _user_fk("leads", "callback_user_id"),
        sa.UniqueConstraint("campaign_id", "phone", name="uq_leads_campaign_id_phone"),
        sa.CheckConstraint("grade IN ('H', 'A', 'B', 'C')", name="ck_leads_grade"),
        sa.CheckConstraint("attempts >= 0", name="ck_leads_attempts_not_negative"),
    )
    op.create_index(
        "ix_leads_campaign_id_next_eligible_at", "leads", ["campaign_id", "next_eligible_at"]
    )
    op.create_table(
        "dnc",
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("phone", name="pk_dnc"),
        _user_fk("dnc", "created_by"),
    )
    op.create_table(
        "campaign_dnc",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("campaign_id", "phone", name="pk_campaign_dnc"),
        _campaign_fk("campaign_dnc", "CASCADE"),
        _user_fk("campaign_dnc", "created_by"),
    )
    op.create_table(
        "dial_attempts",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("phone", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.BigInteger(), nullable=True),
        sa.Column("call_id", sa.Text(), nullable=True),
        sa.Column("seat_id", sa.Text(), nullable=True),
        sa.Column("agent_reserved", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("started_at", TZ, nullable=False),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("abandoned", sa.Boolean(), server_default="false", nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dial_attempts"),
        _campaign_fk("dial_attempts", "SET NULL"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_dial_attempts_lead_id_leads",
            ondelete="SET NULL",
        ),
        sa.UniqueConstraint("call_id", name="uq_dial_attempts_call_id"),
        sa.CheckConstraint(
            "outcome IN ('answered', 'busy', 'no_answer', 'failed', 'machine', 'abandoned')",
            name="ck_dial_attempts_outcome",
        ),
    )
    op.create_index("ix_dial_attempts_campaign_id", "dial_attempts", ["campaign_id"])
    op.create_index("ix_dial_attempts_phone_started_at", "dial_attempts", ["phone", "started_at"])
    op.create_table(
        "dispositions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("call_id", sa.Text(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.BigInteger(), nullable=True),
        sa.Column("phone", sa.Text(), nullable=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("notes", sa.Text(), server_default="", nullable=False),
        sa.Column("grade", sa.String(1), nullable=True),
        sa.Column("callback_at", TZ, nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("seat_id", sa.Text(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_dispositions"),
        _campaign_fk("dispositions", "SET NULL"),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name="fk_dispositions_lead_id_leads",
            ondelete="SET NULL",
        ),
        _user_fk("dispositions", "user_id"),
    )
    op.create_index("ix_dispositions_call_id", "dispositions", ["call_id"])
    op.create_index("ix_dispositions_lead_id", "dispositions", ["lead_id"])


def downgrade() -> None:
    op.drop_table("dispositions")
    op.drop_table("dial_attempts")
    op.drop_table("campaign_dnc")
    op.drop_table("dnc")
    op.drop_table("leads")
    op.drop_table("campaign_seats")
    op.drop_table("campaigns")
