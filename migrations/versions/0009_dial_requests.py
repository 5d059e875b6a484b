"""Dial attempts: the idempotency key of the request that placed them, and a live
answer flag (the abandon rate's denominator) with an index for the dialer's counters.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dial_attempts", sa.Column("request_key", sa.Text(), nullable=True))
    op.create_unique_constraint("uq_dial_attempts_request_key", "dial_attempts",
                                ["request_key"])
    op.create_index("ix_dial_attempts_campaign_id_started_at", "dial_attempts",
                    ["campaign_id", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_dial_attempts_campaign_id_started_at", table_name="dial_attempts")
    op.drop_constraint("uq_dial_attempts_request_key", "dial_attempts", type_="unique")
    op.drop_column("dial_attempts", "request_key")
