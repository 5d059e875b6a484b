"""An index of the calls history holds as up, by node.

Each time an AMI connection is ready again, the calls history holds as up that Asterisk
no longer has are settled from its channel event log (cti/history/late_ends.py): a
query of a node's calls not ended. Partial, so it stays as small as the calls in progress
however long the history grows.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_open", "calls", ["node"],
                    postgresql_where=sa.text("state <> 'ended'"))


def downgrade() -> None:
    op.drop_index("ix_calls_open", table_name="calls")
