"""Leads: when each was first dialed, the new ones findable in follow-up order, and the
callbacks an agent promised findable by seat.

The handbooks ask that new leads be followed up within 24 hours (a follow-up rate of
at least 90%). The dialer hands out new leads still inside that deadline first, oldest
first; a partial index over the leads never dialed finds them without sorting the due
list. ``first_attempt_at`` is what the follow-up rate is measured on. Agents list the
callbacks booked for their seat (a partial index over the few leads holding one).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("first_attempt_at", sa.DateTime(timezone=True),
                                     nullable=True))
    op.execute(
        "UPDATE leads SET first_attempt_at = first.started_at FROM ("
        "SELECT lead_id, min(started_at) AS started_at FROM dial_attempts "
        "WHERE lead_id IS NOT NULL GROUP BY lead_id) AS first "
        "WHERE leads.id = first.lead_id"
    )
    op.create_index("ix_leads_never_dialed", "leads", ["campaign_id", "created_at", "id"],
                    postgresql_where=sa.text("attempts = 0"))
    op.create_index("ix_leads_callbacks", "leads", ["callback_seat_id", "callback_at"],
                    postgresql_where=sa.text("callback_at IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("ix_leads_callbacks", table_name="leads")
    op.drop_index("ix_leads_never_dialed", table_name="leads")
    op.drop_column("leads", "first_attempt_at")
