"""Outbound errors; the REST layer maps each to a problem document.

OutboundError
 +-- NumberInvalid          422  the number does not parse or is not diallable
 +-- CampaignNotFound       404  no campaign with that id
 +-- SeatNotReady           409  unknown seat, phone not registered, or already on a call
 +-- CampaignNotRunnable    409  the campaign is stopped or completed
 +-- DialRefused            409  the compliance gate said no (``reasons``)
 +-- IdempotencyConflict    409  the key was used for another request
 +-- DialUnavailable        503  Asterisk or the database cannot be reached
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class OutboundError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NumberInvalid(OutboundError):
    def __init__(self, number: str, reason: str) -> None:
        super().__init__(f"{number!r} is not a diallable number ({reason})",
                         field="number", reason=reason)


class CampaignNotFound(OutboundError):
    def __init__(self, campaign_id: int) -> None:
        super().__init__(f"no campaign {campaign_id}", campaign_id=campaign_id)


class SeatNotReady(OutboundError):
    def __init__(self, seat_id: str, why: str) -> None:
        super().__init__(f"seat {seat_id} cannot place a call: {why}", seat=seat_id)


class CampaignNotRunnable(OutboundError):
    def __init__(self, campaign_id: int, state: str) -> None:
        super().__init__(f"campaign {campaign_id} is {state}", campaign_id=campaign_id,
                         state=state)


class DialRefused(OutboundError):
    def __init__(self, number: str, reasons: list[str], *, held_by: str | None = None,
                 held_until: datetime | None = None) -> None:
        if held_by is not None and held_until is not None:
            # "not_due" alone would hide why: the lead is another agent's to dial now.
            super().__init__(
                f"the lead {number} is held for seat {held_by}'s preview until "
                f"{held_until.isoformat(timespec='seconds')}: only that seat may dial it "
                "until then, or after it skips it", number=number, reasons=reasons,
                held_by=held_by, held_until=held_until.isoformat())
            return
        super().__init__(f"the compliance gate refused to dial {number}: "
                         f"{', '.join(reasons)}", number=number, reasons=reasons)


class IdempotencyConflict(OutboundError):
    def __init__(self, key: str) -> None:
        super().__init__("this Idempotency-Key was used for another request "
                         "(or the same one is still being placed)", key=key)


class DialUnavailable(OutboundError):
    pass
