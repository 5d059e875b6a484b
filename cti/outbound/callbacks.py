"""A campaign's callbacks: read from the store on a schedule, placed every tick (pure).

Used by the campaign runner (cti/outbound/runner.py).
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass

from cti.db.campaign_records import LeadRecord
from cti.domain.model import Seat, SeatState
from cti.outbound.reread import reread_due


@dataclass(frozen=True, slots=True)
class Callback:
    """A callback booked for a seat: `number` is dialed with that seat's agent first once
    `at` (epoch seconds: the lead's ``next_eligible_at``) has come."""

    lead_id: int
    seat_id: str
    number: str
    at: float

    @staticmethod
    def of(lead: LeadRecord) -> Callback | None:
        """The callback `lead` holds (None if it holds none: ``due_callbacks`` reads only
        leads that do)."""
        if lead.callback_seat_id is None or lead.next_eligible_at is None:
            return None
        return Callback(lead.id, lead.callback_seat_id, lead.phone,
                        lead.next_eligible_at.timestamp())


class DueCallbacks:
    """A campaign's callbacks due now or before the next read, kept between reads.

    Read every tick, callbacks cost a query a second per campaign, and they are rare. The
    runner reads them instead every ``interval`` seconds (on start, and when the clock
    goes back: :meth:`due`): every callback due by the next read (:meth:`horizon`), and
    :meth:`reset` keeps them. Every tick it places those whose time has come, their seat
    free and their number not already dialed (:meth:`ready`), and drops each one placed
    (:meth:`placed`): the claim that placed it cleared the callback in the store, so the
    next read does not bring it back, and it is never placed twice from here. One not
    placed (an error, logged) stays, tried again the next tick its seat is free, until a
    read says whether the store still holds it.

    The seat going free is seen every tick (the live mirror, not the store), so a callback
    keeps its priority for its agent's seat to the tick. What changes in the store the
    next read sees, at the latest ``interval`` later: a callback booked or moved through
    the API to a time before the next read may be placed up to ``interval`` late; one
    cancelled or moved (a new disposition), or dialed by other means (the agent's own
    click-to-dial, another node), may still be placed at its old time if that comes
    before the next read. The claim's compliance gate (caps, calling window, DNC) still
    judges that dial.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.read_at: float | None = None
        self._callbacks: dict[int, Callback] = {}  # by lead id, in the read's order

    def due(self, now: float) -> bool:
        """A read is due: never read, ``interval`` gone by, or a clock that went back."""
        return reread_due(self.read_at, self.interval, now)

    def horizon(self, now: float) -> float:
        """A read at `now` takes the callbacks due by then: until the next read, every
        callback whose time comes is in hand."""
        return now + self.interval

    def reset(self, now: float, callbacks: Iterable[Callback]) -> None:
        """What the read at `now` found (oldest first), in place of what was kept."""
        self.read_at = now
        self._callbacks = {c.lead_id: c for c in callbacks}

    def ready(self, now: float, seats: Mapping[str, Seat],
              in_flight: Container[str]) -> list[Callback]:
        """The callbacks to place at `now`, oldest first: their time has come, their seat
        is available and their number is not `in_flight` (the runner's own dials)."""
        ready = []
        for callback in self._callbacks.values():
            seat = seats.get(callback.seat_id)
            if (callback.at <= now and seat is not None
                    and seat.state is SeatState.AVAILABLE
                    and callback.number not in in_flight):
                ready.append(callback)
        return ready

    def placed(self, callback: Callback) -> None:
        """`callback` was placed: the next read will not have it, and neither does this."""
        self._callbacks.pop(callback.lead_id, None)
