"""Inbound: skill-group settings (hours, waits, music, voicemail), IVR menus, pause reasons.

Seeds the pause reasons agents may give. The default skill groups are seeded by the
service on first start (cti/telephony/defaults.py), with the settings it is given.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
_GROUP_CHECKS = {
    "ring_seconds": "ring_seconds BETWEEN 1 AND 86400",
    "retry_seconds": "retry_seconds BETWEEN 0 AND 86400",
    "wrapup_seconds": "wrapup_seconds BETWEEN 0 AND 86400",
    "max_wait_seconds": "max_wait_seconds BETWEEN 1 AND 86400",
}
PAUSE_REASONS = [
    ("break", "Break", False),
    ("lunch", "Lunch", False),
    ("training", "Training", False),
    ("meeting", "Meeting", False),
    ("after-call-work", "After-call work", False),
    ("no-answer", "Did not answer offered calls", True),
]


def upgrade() -> None:
    cols = [
        sa.Column("strategy", sa.Text(), server_default="rrmemory", nullable=False),
        sa.Column("ring_seconds", sa.Integer(), server_default="15", nullable=False),
        sa.Column("retry_seconds", sa.Integer(), server_default="2", nullable=False),
        sa.Column("wrapup_seconds", sa.Integer(), server_default="10", nullable=False),
        sa.Column("max_wait_seconds", sa.Integer(), server_default="300", nullable=False),
        sa.Column("music_class", sa.Text(), server_default="default", nullable=False),
        sa.Column("voicemail_box", sa.Text(), nullable=True),
        sa.Column("hours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after_hours_prompt", sa.Text(), nullable=True),
        sa.Column("widen", postgresql.JSONB(astext_type=sa.Text()), server_default="[]",
                  nullable=False),
        sa.Column("no_answer_pause_after", sa.Integer(), server_default="3", nullable=False),
        sa.Column("numbers", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
    ]
    for col in cols:
        op.add_column("skill_groups", col)
    for name, check in _GROUP_CHECKS.items():
        op.create_check_constraint(f"ck_skill_groups_{name}", "skill_groups", check)
    op.create_table(
        "ivr_menus",
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("greeting", sa.Text(), nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), server_default="{}",
                  nullable=False),
        sa.Column("default_group", sa.Text(), nullable=False),
        sa.Column("timeout_seconds", sa.Integer(), server_default="5", nullable=False),
        sa.Column("max_invalid", sa.Integer(), server_default="2", nullable=False),
        sa.Column("numbers", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("catch_all", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.ForeignKeyConstraint(["default_group"], ["skill_groups.name"],
                                name="fk_ivr_menus_default_group_skill_groups",
                                ondelete="RESTRICT", onupdate="CASCADE"),
        sa.PrimaryKeyConstraint("name", name="pk_ivr_menus"),
    )
    reasons = op.create_table(
        "pause_reasons",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("label", sa.Text(), nullable=False),
        sa.Column("system", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_pause_reasons"),
    )
    op.bulk_insert(reasons, [{"code": c, "label": lbl, "system": s}
                             for c, lbl, s in PAUSE_REASONS])


def downgrade() -> None:
    op.drop_table("pause_reasons")
    op.drop_table("ivr_menus")
    for name in _GROUP_CHECKS:
        op.drop_constraint(f"ck_skill_groups_{name}", "skill_groups", type_="check")
    for col in ("updated_at", "numbers", "no_answer_pause_after", "widen", "after_hours_prompt",
                "hours", "voicemail_box", "music_class", "max_wait_seconds", "wrapup_seconds",
                "retry_seconds", "ring_seconds", "strategy"):
        op.drop_column("skill_groups", col)
