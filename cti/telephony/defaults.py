"""The inbound configuration a fresh installation starts with.

Two skill groups, ``sales`` (number 200, and every number nobody else claims) and
``support`` (300). The migration seeds PostgreSQL with the same, and the Asterisk bench
seeds ``<etc>/cti/`` from it, so Asterisk routes calls before the service ever ran.
"""

from __future__ import annotations

from cti.telephony.inbound import GroupSettings, InboundConfig

DEFAULT_GROUPS = (("sales", "Sales", "200"), ("support", "Support", "300"))
# (code, label, set by the system only)
DEFAULT_PAUSE_REASONS = (
    ("break", "Break", False),
    ("lunch", "Lunch", False),
    ("training", "Training", False),
    ("meeting", "Meeting", False),
    ("after-call-work", "After-call work", False),
    ("no-answer", "Did not answer offered calls", True),
)


def default_config(*, wrapup_seconds: int = 10, max_wait_seconds: int = 300) -> InboundConfig:
    groups = {
        name: GroupSettings(
            name=name,
            display_name=label,
            wrapup_seconds=wrapup_seconds,
            max_wait_seconds=max_wait_seconds,
            numbers=(number,),
        )
        for name, label, number in DEFAULT_GROUPS
    }
    return InboundConfig(groups=groups, menus={}, fallback_group="sales")
