"""Lead import jobs and their per-row errors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)
JSONB = postgresql.JSONB()


def _count(name: str) -> sa.Column[sa.BigInteger]:
    return sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)


def upgrade() -> None:
    op.create_table(
        "lead_imports",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), server_default="queued", nullable=False),
        sa.Column("options", JSONB, server_default="{}", nullable=False),
        sa.Column("spool_path", sa.Text(), nullable=True),
        sa.Column("bytes_total", sa.BigInteger(), nullable=False),
        _count("bytes_read"),
        _count("items_done"),
        _count("rows_read"),
        _count("accepted"),
        _count("rejected"),
        _count("duplicates_in_list"),
        _count("duplicates_in_campaign"),
        sa.Column("errors_by_code", JSONB, server_default="{}", nullable=False),
        sa.Column("encoding", sa.Text(), nullable=True),
        sa.Column("format", sa.String(8), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("finished_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lead_imports"),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name="fk_lead_imports_campaign_id_campaigns",
            ondelete="CASCADE",
        ),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name="ck_lead_imports_state"
        ),
    )
    op.create_index("ix_lead_imports_campaign_id_id", "lead_imports", ["campaign_id", "id"])
    op.create_table(
        "lead_import_errors",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("import_id", sa.BigInteger(), nullable=False),
        sa.Column("row", sa.BigInteger(), nullable=False),
        sa.Column("field", sa.String(16), nullable=False),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_lead_import_errors"),
        sa.ForeignKeyConstraint(
            ["import_id"], ["lead_imports.id"], name="fk_lead_import_errors_import_id_lead_imports",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_lead_import_errors_import_id_id", "lead_import_errors", ["import_id", "id"]
    )


def downgrade() -> None:
    op.drop_table("lead_import_errors")
    op.drop_table("lead_imports")
