"""Music-on-hold classes and their audio files (issue 3).

Tables register on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this module
so Alembic and the drift test see them. The audio itself lives on the Asterisk node's
disk (``<moh_dir>/<class>/<file>``); these rows say what should be there.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, Integer, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class MohClass(Base):
    __tablename__ = "moh_classes"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class MohFile(Base):
    __tablename__ = "moh_files"

    class_name: Mapped[str] = mapped_column(
        ForeignKey("moh_classes.name", ondelete="CASCADE"), primary_key=True
    )
    file_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    original_name: Mapped[str | None] = mapped_column(Text)
    source_format: Mapped[str] = mapped_column(String(8))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    duration_seconds: Mapped[float] = mapped_column(Float)
    sample_rate: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


__all__ = ["Base", "MohClass", "MohFile"]
