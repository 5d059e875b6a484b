"""Leads: held for the agent previewing them (preview mode).

In preview mode the agent, not the dialer, places each call: the service hands the agent
the next lead the compliance gate allows and holds it for that seat for a few minutes, so
no other agent is handed it meanwhile; the agent then dials it (click-to-dial) or skips it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("previewed_by", sa.Text(), nullable=True))
    op.add_column("leads", sa.Column("previewed_until", sa.DateTime(timezone=True),
                                     nullable=True))


def downgrade() -> None:
    op.drop_column("leads", "previewed_until")
    op.drop_column("leads", "previewed_by")
