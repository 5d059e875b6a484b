"""The campaign runner's book of calls in flight, and what the pacer sees of agents (pure).

A dialed call goes through

    placed -> answered (the customer's channel is Up) -> connected (AgentConnect)
                                                     \\-> abandoned (no agent in time)
           \\-> ended unanswered: busy, no answer (rang out), failed

and each step is decided here from the AMI facts the runner taps (Newstate, AgentConnect,
the dialplan's CtiDialerAbandoned UserEvent, Hangup). Times are epoch seconds from the
events. Nothing here does I/O: the runner feeds the book and writes what it returns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from cti.domain.model import Seat, SeatState, SkillGroup
from dialer.pacing import Agents
from dialer.pacing import Outcome as DialOutcome
from dialer.schedule import Outcome

#: Q.850 causes of a call that never answered, as Asterisk reports them in Hangup.
_BUSY_CAUSES = frozenset({17})
_NO_ANSWER_CAUSES = frozenset({18, 19})
#: A call that ends this close to its ring timeout rang out, whatever the cause says
#: (Asterisk gives up on an originate with cause 0 or 16 on some paths).
RING_OUT_SLACK = 1.0
#: A dial still unanswered this long after its ring timeout is given up as lost.
LOST_AFTER = 60.0


@dataclass(slots=True)
class Dial:
    """One call the runner placed."""

    attempt_id: int
    lead_id: int
    call_id: str
    channel_id: str  # Originate's ChannelId: the customer channel's Uniqueid
    number: str
    placed_at: float
    ring_timeout: float
    ringing_at: float | None = None  # the customer's phone rang (180): ring time from here
    hangup_asked_at: float | None = None  # rung out: the runner asked Asterisk to hang up
    answered_at: float | None = None
    connected_at: float | None = None
    seat_id: str | None = None
    abandoned: bool = False
    #: Some of its events may be lost: the AMI connection dropped while it was up (the
    #: answer or the agent's connect can fall in the gap), or it was placed by an earlier
    #: process. Its end is then settled with Asterisk's channel event log (settle.py).
    unsure: bool = False
    #: Its Originate was written but no reply came (a timeout, the connection lost while
    #: waiting): Asterisk may be dialing it, or may never have. Followed as unsure; if
    #: its channel never shows and the log never saw it, it was never placed: voided.
    unconfirmed: bool = False


@dataclass(frozen=True, slots=True)
class Resolved:
    """A dial whose outcome is known: what to write, and what the pacer learns."""

    dial: Dial
    outcome: Outcome
    ended_at: float


@dataclass(frozen=True, slots=True)
class Answered:
    """The customer picked up: the pacer learns the answer time (no AMD: all live)."""

    dial: Dial
    seconds: float


def channel_of(call_id: str) -> str:
    """The channel Uniqueid in a call id the service made (``<node>:<uniqueid>``)."""
    return call_id.split(":", 1)[-1]


def unanswered_outcome(cause: int | None, elapsed: float, ring_timeout: float) -> Outcome:
    """How a dial that never answered ended."""
    if cause in _BUSY_CAUSES:
        return Outcome.BUSY
    if cause in _NO_ANSWER_CAUSES or elapsed >= ring_timeout - RING_OUT_SLACK:
        return Outcome.NO_ANSWER
    return Outcome.FAILED


def outcome_of(dial: Dial, cause: int | None, ended_at: float) -> Outcome:
    """How `dial` ended, from what was heard of it and its hangup cause."""
    if dial.connected_at is not None:
        return Outcome.ANSWERED
    if dial.answered_at is not None:
        # Answered and never connected: the abandon the regulators count, whether no
        # agent came within the deadline or the customer hung up waiting for one.
        return Outcome.ABANDONED
    return unanswered_outcome(cause, ended_at - dial.placed_at, dial.ring_timeout)


def pacing_outcome(outcome: Outcome) -> DialOutcome:
    """What the pacer's answer-time estimator counts a resolved unanswered dial as."""
    if outcome is Outcome.NO_ANSWER:
        return DialOutcome.NO_ANSWER
    if outcome is Outcome.MACHINE:
        return DialOutcome.MACHINE
    return DialOutcome.FAILED


@dataclass(slots=True)
class DialBook:
    """Calls in flight, by the customer channel's Uniqueid."""

    dials: dict[str, Dial] = field(default_factory=dict)

    def add(self, dial: Dial) -> None:
        self.dials[dial.channel_id] = dial

    def link_lost(self) -> None:
        """The AMI connection dropped: every call up may miss events from here on."""
        for dial in self.dials.values():
            dial.unsure = True

    def drop(self, channel_id: str) -> Dial | None:
        """The Originate was refused: no events will follow."""
        return self.dials.pop(channel_id, None)

    def rang(self, channel_id: str, at: float) -> None:
        """The customer's phone started ringing: its ring time counts from `at`."""
        dial = self.dials.get(channel_id)
        if dial is not None and dial.ringing_at is None and dial.answered_at is None:
            dial.ringing_at = at

    def rung_out(self, now: float, again_after: float = RING_OUT_SLACK * 4) -> list[Dial]:
        """Unanswered dials that have rung their ring time since their phone rang: to be
        hung up (asked again if the last ask is `again_after` old and the call is still
        here)."""
        due = [d for d in self.dials.values()
               if d.answered_at is None and d.ringing_at is not None
               and now >= d.ringing_at + d.ring_timeout
               and (d.hangup_asked_at is None or now - d.hangup_asked_at >= again_after)]
        for dial in due:
            dial.hangup_asked_at = now
        return due

    def answered(self, channel_id: str, at: float) -> Answered | None:
        dial = self.dials.get(channel_id)
        if dial is None or dial.answered_at is not None:
            return None
        dial.answered_at = at
        return Answered(dial, max(at - dial.placed_at, 0.0))

    def connected(self, channel_id: str, seat_id: str | None, at: float) -> Dial | None:
        dial = self.dials.get(channel_id)
        if dial is None or dial.connected_at is not None:
            return None
        if dial.answered_at is None:
            dial.answered_at = at  # Newstate lost or reordered: connected implies answered
        dial.connected_at = at
        dial.seat_id = seat_id
        return dial

    def abandoned(self, channel_id: str) -> Dial | None:
        """The queue gave up on the answered call: the dial, or None (not ours, or an
        agent had it after all)."""
        dial = self.dials.get(channel_id)
        if dial is None or dial.connected_at is not None:
            return None
        dial.abandoned = True
        return dial

    def hung_up(self, channel_id: str, cause: int | None, at: float) -> Resolved | None:
        """The customer's channel is gone: the dial's outcome (an ``unsure`` dial's only
        from what was heard: the caller completes it from the log first)."""
        dial = self.dials.pop(channel_id, None)
        if dial is None:
            return None
        return Resolved(dial, outcome_of(dial, cause, at), at)

    def lost(self, now: float, grace: float = LOST_AFTER) -> list[str]:
        """Dials that should have ended long ago without a word from Asterisk (an
        Originate it accepted and then dropped): left in the book they would count as
        ringing forever and hold the pacer's lines."""
        return [d.channel_id for d in self.dials.values()
                if d.answered_at is None and now - d.placed_at > d.ring_timeout + grace]

    def ringing(self, now: float) -> tuple[float, ...]:
        return tuple(now - d.placed_at for d in self.dials.values() if d.answered_at is None)

    def waiting(self) -> int:
        return sum(1 for d in self.dials.values()
                   if d.answered_at is not None and d.connected_at is None and not d.abandoned)

    def __len__(self) -> int:
        return len(self.dials)


def campaign_agents(group: SkillGroup | None, seats: Mapping[str, Seat], now: float) -> Agents:
    """The group's logged-in members as the pacer counts them.

    A seat ringing for a call (the campaign's or an inbound one: blended groups share
    agents) counts as talking from 0 s: it will not take the next answer.
    """
    if group is None:
        return Agents()
    free = paused = 0
    talking: list[float] = []
    wrapping: list[float] = []
    for seat_id in group.members:
        seat = seats.get(seat_id)
        if seat is None:
            continue
        elapsed = max(now - seat.since, 0.0) if seat.since is not None else 0.0
        match seat.state:
            case SeatState.AVAILABLE:
                free += 1
            case SeatState.RINGING:
                talking.append(0.0)
            case SeatState.ON_CALL | SeatState.BUSY:
                talking.append(elapsed)
            case SeatState.WRAP_UP:
                wrapping.append(elapsed)
            case SeatState.PAUSED:
                paused += 1
            case _:
                pass  # offline: not logged in as far as the pacer is concerned
    return Agents(free=free, talking=tuple(talking), wrapping=tuple(wrapping), paused=paused)


def group_view(group: SkillGroup | None, seats: Mapping[str, Seat], now: float) -> str:
    """The group's seats as the mirror has them, for the log line of an abandon: the free
    seats by name with how long they have been free (a seat free for the whole wait
    means the mirror and app_queue disagreed about it), the others counted by state."""
    if group is None:
        return "no skill group"
    free: list[str] = []
    others: dict[str, int] = {}
    for seat_id in sorted(group.members):
        seat = seats.get(seat_id)
        if seat is None:
            continue
        if seat.state is SeatState.AVAILABLE:
            since = f"{now - seat.since:.1f} s" if seat.since is not None else "?"
            free.append(f"{seat_id} ({since})")
        else:
            others[seat.state.value] = others.get(seat.state.value, 0) + 1
    counted = ", ".join(f"{n} {state}" for state, n in sorted(others.items()))
    return f"free: {', '.join(free) or 'none'}; {counted or 'no other seat'}"


def hangup_cause(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None
