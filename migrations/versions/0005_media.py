"""Music-on-hold classes and files.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "moh_classes",
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_moh_classes"),
    )
    op.create_table(
        "moh_files",
        sa.Column("class_name", sa.String(40), nullable=False),
        sa.Column("file_name", sa.String(80), nullable=False),
        sa.Column("original_name", sa.Text(), nullable=True),
        sa.Column("source_format", sa.String(8), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("duration_seconds", sa.Float(), nullable=False),
        sa.Column("sample_rate", sa.Integer(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("class_name", "file_name", name="pk_moh_files"),
        sa.ForeignKeyConstraint(
            ["class_name"], ["moh_classes.name"], name="fk_moh_files_class_name_moh_classes",
            ondelete="CASCADE",
        ),
    )


def downgrade() -> None:
    op.drop_table("moh_files")
    op.drop_table("moh_classes")
