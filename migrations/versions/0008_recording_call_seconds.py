"""Recordings: the recorded part of the call's length by its events (call_seconds).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("recordings", sa.Column("call_seconds", sa.Double(), nullable=True))


def downgrade() -> None:
    op.drop_column("recordings", "call_seconds")
