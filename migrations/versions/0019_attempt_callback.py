"""Dial attempts remember the callback they were placed for.

A claim uses up the lead's callback (the call it asked for is being made). When that
dial is voided (the agent's phone never answered, Asterisk refused the Originate), the
customer was not called and the callback must come back, to the agent who booked it:
the attempt keeps what the claim took so that ``void_attempt`` can give it back.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("dial_attempts", sa.Column("callback_at", sa.DateTime(timezone=True)))
    op.add_column("dial_attempts", sa.Column("callback_seat_id", sa.Text()))
    op.add_column("dial_attempts", sa.Column("callback_user_id", sa.Integer()))


def downgrade() -> None:
    for column in ("callback_user_id", "callback_seat_id", "callback_at"):
        op.drop_column("dial_attempts", column)
