"""Calls: the campaign an outbound call was placed for (reports, recordings' policy).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("campaign_id", sa.Integer(), nullable=True))
    op.create_index("ix_calls_campaign_id", "calls", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_calls_campaign_id", table_name="calls")
    op.drop_column("calls", "campaign_id")
