"""Campaigns: their own abandon (information) message, null for the service's default.

The regulators want the message to name the seller and a number to call back, so each
campaign (each seller) has its own. The value goes into a dialplan variable that Playback
reads: the constraint holds it to the API's sound-name pattern (written out here, so this
revision stays what it was if the code's pattern ever changes).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOUND_NAME = "^[a-z0-9][a-z0-9_/-]{0,79}$"


def upgrade() -> None:
    op.add_column("campaigns", sa.Column("abandon_message", sa.Text(), nullable=True))
    op.create_check_constraint(op.f("ck_campaigns_abandon_message_sound_name"), "campaigns",
                               f"abandon_message ~ '{SOUND_NAME}'")


def downgrade() -> None:
    op.drop_constraint(op.f("ck_campaigns_abandon_message_sound_name"), "campaigns",
                       type_="check")
    op.drop_column("campaigns", "abandon_message")
