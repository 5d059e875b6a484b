"""Asterisk's channel event log (CEL): rows Asterisk writes itself (``cel_pgsql``).

Table registered on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this
module. The migration is ``0016_channel_event_log``. The service only reads these rows
(``cti/outbound/settle.py``) and sweeps old ones; the column names are ``cel_pgsql``'s.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base


class CelEvent(Base):
    """One channel event. ``eventtime`` is UTC without a zone (``usegmtime``)."""

    __tablename__ = "cel"
    __table_args__ = (
        Index("ix_cel_linkedid", "linkedid"),
        Index("ix_cel_eventtime", "eventtime"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    eventtype: Mapped[str] = mapped_column(Text)
    eventtime: Mapped[datetime] = mapped_column(DateTime(timezone=False))
    userdeftype: Mapped[str | None] = mapped_column(Text)
    cid_name: Mapped[str | None] = mapped_column(Text)
    cid_num: Mapped[str | None] = mapped_column(Text)
    cid_ani: Mapped[str | None] = mapped_column(Text)
    cid_rdnis: Mapped[str | None] = mapped_column(Text)
    cid_dnid: Mapped[str | None] = mapped_column(Text)
    exten: Mapped[str | None] = mapped_column(Text)
    context: Mapped[str | None] = mapped_column(Text)
    channame: Mapped[str | None] = mapped_column(Text)
    appname: Mapped[str | None] = mapped_column(Text)
    appdata: Mapped[str | None] = mapped_column(Text)
    accountcode: Mapped[str | None] = mapped_column(Text)
    peeraccount: Mapped[str | None] = mapped_column(Text)
    uniqueid: Mapped[str] = mapped_column(Text)
    linkedid: Mapped[str | None] = mapped_column(Text)
    amaflags: Mapped[int | None] = mapped_column(Integer)
    userfield: Mapped[str | None] = mapped_column(Text)
    peer: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(Text)
