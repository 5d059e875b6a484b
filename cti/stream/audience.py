"""Who may see a delta: pure rules, no I/O.

Supervisors and admins see every delta. An agent sees deltas addressed to everyone (node
changes, skill-group summaries) and those addressed to its own seat: the seat itself and
the calls the seat is ringing for or answered. Which seats a call concerns is learnt from the
domain events as they pass (:class:`CallSeats`), because a ringing call does not name the
seat it rings (``Call.seat_id`` is set only when a seat answers).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Audience:
    """Who a delta is for, beyond supervisors and admins (who see everything)."""

    everyone: bool = False
    seats: frozenset[str] = frozenset()


EVERYONE = Audience(everyone=True)
SUPERVISORS = Audience()


@dataclass(frozen=True, slots=True)
class Viewer:
    """What a subscriber may see: everything, or what concerns one seat (or none)."""

    sees_all: bool
    seat_id: str | None = None

    def can_see(self, audience: Audience) -> bool:
        return (
            self.sees_all
            or audience.everyone
            or (self.seat_id is not None and self.seat_id in audience.seats)
        )


class CallSeats:
    """Call id -> the seats it is ringing or was answered by, while the call is active.

    A seat that let the call ring out (or was dumped) leaves its audience after that
    timeline entry; a seat that answered stays until the call ends.
    """

    def __init__(self) -> None:
        self._seats: dict[str, frozenset[str]] = {}

    def add(self, call_id: str | None, seat_id: str | None) -> None:
        if not call_id or not seat_id:
            return
        known = self._seats.get(call_id, frozenset())
        if seat_id not in known:
            self._seats[call_id] = known | {seat_id}

    def remove(self, call_id: str, seat_id: str | None) -> None:
        known = self._seats.get(call_id)
        if known is not None and seat_id in known:
            self._seats[call_id] = known - {seat_id}

    def of(self, call_id: str) -> frozenset[str]:
        return self._seats.get(call_id, frozenset())

    def end(self, call_id: str) -> frozenset[str]:
        return self._seats.pop(call_id, frozenset())

    def keep_only(self, call_ids: Iterable[str]) -> None:
        """Forget calls that are no longer active (after a mirror rebuild)."""
        alive = set(call_ids)
        for call_id in [c for c in self._seats if c not in alive]:
            del self._seats[call_id]

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._seats

    def __len__(self) -> int:
        return len(self._seats)
