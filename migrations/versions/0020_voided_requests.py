"""Click-to-dial requests whose attempt was voided keep their Idempotency-Key.

A voided attempt (the agent's phone never answered: the customer was never dialed) is
deleted so that it counts toward no cap. Its request's key went with it, and a retry
of that request (a client timing out and sending it again) rang the agent a second time.
The key stays here with what the first request answered, so the retry gets that again.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voided_requests",
        sa.Column("request_key", sa.Text, primary_key=True),
        sa.Column("attempt_id", sa.BigInteger, nullable=False),
        sa.Column("call_id", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("seat_id", sa.Text),
        sa.Column("campaign_id", sa.Integer),
        sa.Column("voided_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("voided_requests")
