"""Campaigns: their own abandon-rate target, at most the regulators' 3%.

The predictive pacer holds each campaign's abandon rate (live answers not connected to an
agent within 2 s, per rolling 24 hours and 30 days) at or under its target. A seller may
ask for less than the 3% the US and UK allow; no campaign may have more. Existing
campaigns keep 3%.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("abandon_target", sa.Float(), server_default="0.03",
                                         nullable=False))
    op.create_check_constraint(op.f("ck_campaigns_abandon_target_range"), "campaigns",
                               "abandon_target > 0 AND abandon_target <= 0.03")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_abandon_target_range"), "campaigns", type_="check")
    op.drop_column("campaigns", "abandon_target")
