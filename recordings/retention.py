"""Retention rules. Pure: ``now`` is always an argument.

Recordings are kept at least three months (REQUIREMENTS.md). Three calendar months span
up to 92 days (July to September), so a day count under 92 could delete a recording
before it is three months old: the floor and the default are 92 days. A policy key is a
skill group's name, or ``campaign-<id>`` for outbound campaigns (free text until campaigns
exist); keys without a policy get the default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from recordings.errors import RetentionTooShort

RETENTION_FLOOR_DAYS = 92
DEFAULT_RETENTION_DAYS = 92
MAX_RETENTION_DAYS = 36_500  # a century: anything longer is a typo, not a policy

POLICY_KEY_PATTERN = r"^[A-Za-z0-9_.-]{1,80}$"
_POLICY_KEY = re.compile(POLICY_KEY_PATTERN)


def check_retention(days: int, floor: int = RETENTION_FLOOR_DAYS) -> int:
    if days < floor:
        raise RetentionTooShort(days, floor)
    return days


def valid_policy_key(key: str) -> bool:
    """Keys name marker files for the dialplan: no path separators, no dots only."""
    return bool(_POLICY_KEY.match(key)) and key not in {".", ".."}


# Click-to-dial calls made for no campaign (asterisk-conf/extensions_outbound.conf)
CLICK_TO_DIAL_KEY = "click-to-dial"
_CAMPAIGN_KEY = re.compile(r"^campaign-([1-9][0-9]{0,9})$")
_MAX_ID = 2**31 - 1  # campaigns.id is a PostgreSQL integer


def campaign_of(key: str) -> int | None:
    """The campaign id a ``campaign-<id>`` key names; None for any other key (a skill
    group's name, which may be ``campaign-<id>`` too: a campaign's own seat group)."""
    found = _CAMPAIGN_KEY.match(key)
    if found is None or int(found.group(1)) > _MAX_ID:
        return None
    return int(found.group(1))


def retention_days(key: str | None, default: int, overrides: Mapping[str, int]) -> int:
    if key is None:
        return default
    return overrides.get(key, default)


def is_expired(
    started_at: datetime, key: str | None, now: datetime, default: int,
    overrides: Mapping[str, int],
) -> bool:
    """True when a recording started at ``started_at`` is past its retention at ``now``."""
    return started_at < now - timedelta(days=retention_days(key, default, overrides))


def scan_cutoff(now: datetime, default: int, overrides: Mapping[str, int]) -> datetime:
    """Nothing started at or after this instant can be expired under any policy: an index
    range that bounds the sweep's scan to old rows."""
    shortest = min([default, *overrides.values()])
    return now - timedelta(days=shortest)
