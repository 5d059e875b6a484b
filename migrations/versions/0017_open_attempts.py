"""Dial attempts still waiting for an outcome, findable without reading them all.

A campaign's runner at start, the dialer at start and click-to-dial every 30 s look for
the attempts a process left without an outcome (``dialer_repository.open_dials``,
``campaigns_left_open``): a handful among all the attempts ever dialed. A partial index
over those (``outcome IS NULL``) keeps each look a read of that handful.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_dial_attempts_open", "dial_attempts", ["started_at"],
                    postgresql_where=sa.text("outcome IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_dial_attempts_open", table_name="dial_attempts")
