"""Campaigns' caller IDs in E.164, as the API now stores them.

Before, a caller ID was stored as typed: ``4008001234`` (a Chinese service number) went to
the trunk as ``+4008001234``, a Romanian number, and ``02161234567`` was refused by every
Originate. Each one not in E.164 is read as a national number of the campaign's region
(``CTI_DIALER__DEFAULT_REGION``, default CN, when the campaign has none), as the API does
now; one that does not parse is left as it was and logged (its campaign's ``/live`` says
why it does not dial; a PATCH of ``caller_id`` fixes it).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import phonenumbers
import sqlalchemy as sa
from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")


def _e164(raw: str, region: str) -> str | None:
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def upgrade() -> None:
    bind = op.get_bind()
    fallback = os.environ.get("CTI_DIALER__DEFAULT_REGION", "CN")
    rows = bind.execute(sa.text(
        "SELECT id, caller_id, default_region FROM campaigns "
        "WHERE caller_id <> '' AND caller_id NOT LIKE '+%'")).all()
    for campaign_id, caller_id, region in rows:
        e164 = _e164(caller_id, region or fallback)
        if e164 is None:
            log.warning("campaign %d: caller ID %r is no number of %s: left as it was",
                        campaign_id, caller_id, region or fallback)
            continue
        bind.execute(sa.text("UPDATE campaigns SET caller_id = :c WHERE id = :i"),
                     {"c": e164, "i": campaign_id})


def downgrade() -> None:
    pass  # the E.164 form is what the older code dialed too, with its '+'
