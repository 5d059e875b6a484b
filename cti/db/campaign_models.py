"""Campaigns, leads, DNC, dial attempts, dispositions (issue 5).

Tables register on ``cti.db.models.Base.metadata``; ``cti.db.metadata`` imports this module
so Alembic and the drift test see them. Numbers are stored in E.164 (``+8613800138000``).

``dial_attempts`` is the history the compliance gate reads (frequency caps and the 72-hour
rule after an abandoned call): every dial to a number, whatever campaign placed it. It does
not cascade away with a campaign or a lead, so the caps still hold.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from cti.db.models import Base
from cti.telephony.inbound import SOUND_PATTERN

CAMPAIGN_STATES = ("draft", "running", "paused", "stopped")
CAMPAIGN_MODES = ("preview", "progressive", "predictive")
DIAL_OUTCOMES = ("answered", "busy", "no_answer", "failed", "machine", "abandoned")


def _created_at() -> Mapped[datetime]:
    return mapped_column(server_default=func.now())


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (
        CheckConstraint("state IN ('draft', 'running', 'paused', 'stopped')", name="state"),
        CheckConstraint("mode IN ('preview', 'progressive', 'predictive')", name="mode"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        CheckConstraint("cap_per_day >= 1 AND cap_per_week >= cap_per_day", name="caps"),
        # It reaches the dialplan (Playback): the API's sound-name pattern, held here too.
        CheckConstraint(f"abandon_message ~ '{SOUND_PATTERN}'", name="abandon_message_sound_name"),
        # At most the regulators' 3% (dialer.pacing.snapshot.MAX_ABANDON_TARGET).
        CheckConstraint("abandon_target > 0 AND abandon_target <= 0.03",
                        name="abandon_target_range"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, unique=True)
    state: Mapped[str] = mapped_column(String(16), server_default="draft")
    mode: Mapped[str] = mapped_column(String(16))
    caller_id: Mapped[str] = mapped_column(Text)
    skill_group: Mapped[str | None] = mapped_column(Text)
    default_region: Mapped[str | None] = mapped_column(String(2))
    default_timezone: Mapped[str | None] = mapped_column(Text)
    # [{"start": "10:00", "end": "12:00", "days": [0..6]}], local to each lead
    windows: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    max_attempts: Mapped[int] = mapped_column(Integer)
    retry_delays: Mapped[dict[str, Any]] = mapped_column()  # outcome -> seconds
    grade_cadences: Mapped[dict[str, Any]] = mapped_column()  # grade -> days, or null
    cap_per_day: Mapped[int] = mapped_column(Integer)
    cap_per_week: Mapped[int] = mapped_column(Integer)
    script: Mapped[str] = mapped_column(Text, server_default="")
    # What an abandoned call hears (a sound name, ``cti/...`` when uploaded); null: the
    # service's default (DialerSettings.abandon_message).
    abandon_message: Mapped[str | None] = mapped_column(Text)
    # The abandon rate the pacer holds the campaign at or under (a fraction of live
    # answers, per rolling 24 hours and 30 days).
    abandon_target: Mapped[float] = mapped_column(Float, server_default="0.03")
    created_at: Mapped[datetime] = _created_at()
    updated_at: Mapped[datetime] = _created_at()


class CampaignSeat(Base):
    """A seat assigned to a campaign. No FK to seats: seats come from Asterisk."""

    __tablename__ = "campaign_seats"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    seat_id: Mapped[str] = mapped_column(Text, primary_key=True)


class LeadRow(Base):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("campaign_id", "phone", name="uq_leads_campaign_id_phone"),
        CheckConstraint("grade IN ('H', 'A', 'B', 'C')", name="grade"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        # The dialer's pick: due leads of a campaign, soonest first.
        Index("ix_leads_campaign_id_next_eligible_at", "campaign_id", "next_eligible_at"),
        # ...after the new leads still inside their follow-up deadline, oldest first.
        Index("ix_leads_never_dialed", "campaign_id", "created_at", "id",
              postgresql_where=text("attempts = 0")),
        # Agents' callbacks by seat (`lead_views.booked_callbacks`).
        Index("ix_leads_callbacks", "callback_seat_id", "callback_at",
              postgresql_where=text("callback_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    phone: Mapped[str] = mapped_column(Text)  # E.164
    timezones: Mapped[list[str]] = mapped_column(ARRAY(Text))
    grade: Mapped[str | None] = mapped_column(String(1))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    last_attempt_at: Mapped[datetime | None]
    last_outcome: Mapped[str | None] = mapped_column(String(16))
    next_eligible_at: Mapped[datetime | None]
    callback_at: Mapped[datetime | None]
    callback_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    callback_seat_id: Mapped[str | None] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(server_default="{}")
    source_row: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created_at()
    # Preview mode: the seat the lead is held for, and until when (`preview_lead`).
    previewed_by: Mapped[str | None] = mapped_column(Text)
    previewed_until: Mapped[datetime | None]
    # When it was first dialed: the follow-up rate (new leads within 24 hours).
    first_attempt_at: Mapped[datetime | None]


class DncEntry(Base):
    """The global do-not-call list."""

    __tablename__ = "dnc"

    phone: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))  # 'api', 'disposition', 'import'
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created_at()


class CampaignDncEntry(Base):
    """A campaign's own do-not-call list."""

    __tablename__ = "campaign_dnc"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    phone: Mapped[str] = mapped_column(Text, primary_key=True)
    reason: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created_at()


class DialAttempt(Base):
    """One dial to one number. ``outcome`` is null while the call is in progress."""

    __tablename__ = "dial_attempts"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('answered', 'busy', 'no_answer', 'failed', 'machine', 'abandoned')",
            name="outcome",
        ),
        Index("ix_dial_attempts_phone_started_at", "phone", "started_at"),
        Index("ix_dial_attempts_campaign_id_started_at", "campaign_id", "started_at"),
        Index("ix_dial_attempts_started_at", "started_at"),  # the outbound-call report
        # The few attempts still waiting for an outcome (dialer_repository.open_dials).
        Index("ix_dial_attempts_open", "started_at", postgresql_where=text("outcome IS NULL")),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    phone: Mapped[str] = mapped_column(Text)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL"), index=True
    )
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"))
    call_id: Mapped[str | None] = mapped_column(Text, unique=True)
    seat_id: Mapped[str | None] = mapped_column(Text)
    agent_reserved: Mapped[bool] = mapped_column(Boolean, server_default="false")
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))
    abandoned: Mapped[bool] = mapped_column(Boolean, server_default="false")
    # Click-to-dial's Idempotency-Key: a retried request finds its attempt, dials nothing.
    request_key: Mapped[str | None] = mapped_column(Text, unique=True)
    # The lead's callback this dial was placed for (the claim takes it from the lead):
    # given back if the dial is voided, as the customer was then never called.
    callback_at: Mapped[datetime | None]
    callback_seat_id: Mapped[str | None] = mapped_column(Text)
    callback_user_id: Mapped[int | None] = mapped_column(Integer)


class VoidedRequest(Base):
    """The Idempotency-Key of a click-to-dial request whose attempt was voided (deleted:
    the customer was never dialed), with what the request answered, for its retries."""

    __tablename__ = "voided_requests"

    request_key: Mapped[str] = mapped_column(Text, primary_key=True)
    attempt_id: Mapped[int] = mapped_column(BigInteger)
    call_id: Mapped[str] = mapped_column(Text)
    phone: Mapped[str] = mapped_column(Text)
    seat_id: Mapped[str | None] = mapped_column(Text)
    campaign_id: Mapped[int | None] = mapped_column(Integer)
    voided_at: Mapped[datetime]


class Disposition(Base):
    """What the agent recorded about a call: outcome code, notes, maybe a callback."""

    __tablename__ = "dispositions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    call_id: Mapped[str] = mapped_column(Text, index=True)
    campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaigns.id", ondelete="SET NULL")
    )
    lead_id: Mapped[int | None] = mapped_column(
        ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    phone: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str] = mapped_column(String(32))
    notes: Mapped[str] = mapped_column(Text, server_default="")
    grade: Mapped[str | None] = mapped_column(String(1))
    callback_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    seat_id: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created_at()


class CampaignPacing(Base):
    """What a campaign's pacer has learned (``dialer/pacing/state.py``), kept so that a
    pause, a restart or a deploy does not send the campaign back to learning."""

    __tablename__ = "campaign_pacing"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[dict[str, Any]] = mapped_column(JSONB)
    saved_at: Mapped[datetime]
