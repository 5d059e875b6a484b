"""Indexes the reports read the history by: call events and dial attempts by time.

The seat workload report counts the calls each seat answered or let ring out over a
period (``call_events`` by ``at``); the outbound-call report reads the dials placed over a
period across campaigns (``dial_attempts`` by ``started_at``). Without these a monthly
report is a scan of the whole history.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_call_events_at", "call_events", ["at"])
    op.create_index("ix_dial_attempts_started_at", "dial_attempts", ["started_at"])


def downgrade() -> None:
    op.drop_index("ix_dial_attempts_started_at", table_name="dial_attempts")
    op.drop_index("ix_call_events_at", table_name="call_events")
