"""Asterisk's channel event log (CEL), written by Asterisk itself (``cel_pgsql``).

Asterisk records each call's answer, bridging, the dialplan's abandon mark, hangup (with
its cause) and end here whether or not the service is running. A campaign runner that
starts after a crash or a deploy settles the calls it had placed from it instead of
leaving their attempts without an outcome (``cti/outbound/settle.py``). The columns are
the ones ``cel_pgsql`` fills by name; ``eventtime`` is UTC without a zone
(``usegmtime``). Rows older than the service's retention are swept.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cel",
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("eventtype", sa.Text, nullable=False),
        sa.Column("eventtime", sa.DateTime(timezone=False), nullable=False),
        sa.Column("userdeftype", sa.Text),
        sa.Column("cid_name", sa.Text),
        sa.Column("cid_num", sa.Text),
        sa.Column("cid_ani", sa.Text),
        sa.Column("cid_rdnis", sa.Text),
        sa.Column("cid_dnid", sa.Text),
        sa.Column("exten", sa.Text),
        sa.Column("context", sa.Text),
        sa.Column("channame", sa.Text),
        sa.Column("appname", sa.Text),
        sa.Column("appdata", sa.Text),
        sa.Column("accountcode", sa.Text),
        sa.Column("peeraccount", sa.Text),
        sa.Column("uniqueid", sa.Text, nullable=False),
        sa.Column("linkedid", sa.Text),
        sa.Column("amaflags", sa.Integer),
        sa.Column("userfield", sa.Text),
        sa.Column("peer", sa.Text),
        sa.Column("extra", sa.Text),
    )
    op.create_index("ix_cel_linkedid", "cel", ["linkedid"])
    op.create_index("ix_cel_eventtime", "cel", ["eventtime"])


def downgrade() -> None:
    op.drop_table("cel")
