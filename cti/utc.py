"""Times moved between zones within Python's calendar (the years 1 to 9999). Pure.

A time people send can be valid where it was typed and still fall off the calendar once
moved: ``0001-01-01T00:00+01:00`` is in year 0 in UTC, the day after ``9999-12-31`` does
not exist. Python raises ``OverflowError`` for those, which would reach clients as a 500.
Every API input goes through these instead, so such a time is one rule and one message
wherever it is typed: the caller turns :class:`OutOfRange` into a 422 naming its field.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo


class OutOfRange(ValueError):
    """The time falls outside the years 1 to 9999 in ``where`` (a zone's name)."""

    def __init__(self, where: str = "UTC") -> None:
        super().__init__(
            f"out of range: the time must fall within the years 1 to 9999 in {where}")


def in_zone(value: datetime, zone: tzinfo) -> datetime:
    """``value`` (aware) as the wall clock of ``zone`` shows it."""
    try:
        return value.astimezone(zone)
    except OverflowError:
        raise OutOfRange(str(zone)) from None


def to_utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive time is taken as UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return in_zone(value, UTC)


def later(value: datetime, delta: timedelta, zone: tzinfo | None = None) -> datetime:
    """``value + delta``; ``zone`` names the clock ``value`` is read on (naive times)."""
    try:
        return value + delta
    except OverflowError:
        raise OutOfRange(str(zone or value.tzinfo or UTC)) from None
