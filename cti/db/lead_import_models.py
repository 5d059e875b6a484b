"""Lead import jobs and their per-row errors (issue 5, item 3).

An upload is spooled to disk and imported in the background; the job row is its progress
and its resumption point. Each batch of leads is committed together with the batch's row
errors and the job's counters (``items_done`` counts the parser's output items already
applied), so a job interrupted by a restart resumes exactly where its last commit left it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.campaign_models import _created_at
from cti.db.models import Base

IMPORT_STATES = ("queued", "running", "done", "failed")


class LeadImport(Base):
    __tablename__ = "lead_imports"
    __table_args__ = (
        CheckConstraint("state IN ('queued', 'running', 'done', 'failed')", name="state"),
        Index("ix_lead_imports_campaign_id_id", "campaign_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    state: Mapped[str] = mapped_column(String(16), server_default="queued")
    # What the upload asked for: {"format", "encoding", "default_region"} (null: detect)
    options: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    spool_path: Mapped[str | None] = mapped_column(Text)  # cleared once the job ends
    bytes_total: Mapped[int] = mapped_column(BigInteger)
    bytes_read: Mapped[int] = mapped_column(BigInteger, server_default="0")
    items_done: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rows_read: Mapped[int] = mapped_column(BigInteger, server_default="0")
    accepted: Mapped[int] = mapped_column(BigInteger, server_default="0")
    rejected: Mapped[int] = mapped_column(BigInteger, server_default="0")
    duplicates_in_list: Mapped[int] = mapped_column(BigInteger, server_default="0")
    duplicates_in_campaign: Mapped[int] = mapped_column(BigInteger, server_default="0")
    errors_by_code: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    encoding: Mapped[str | None] = mapped_column(Text)  # detected
    format: Mapped[str | None] = mapped_column(String(8))  # detected
    error: Mapped[str | None] = mapped_column(Text)  # why it failed
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")  # runs (resumes)
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = _created_at()
    finished_at: Mapped[datetime | None]


class LeadImportError(Base):
    """One rejected row (including duplicates within the list) of an import."""

    __tablename__ = "lead_import_errors"
    __table_args__ = (Index("ix_lead_import_errors_import_id_id", "import_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("lead_imports.id", ondelete="CASCADE"))
    row: Mapped[int] = mapped_column(BigInteger)
    field: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(Text)
