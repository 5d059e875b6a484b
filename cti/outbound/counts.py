"""A campaign's abandon counters and leads left, kept in memory between re-reads (pure).

Each tick the pacer wants the abandon counters (live answers and abandons since the
campaign's midnight, over the rolling 24 hours and 30 days, and the part of the 24 hours
that leaves the window within the next LOOKAHEAD_SECONDS) and how many leads are left.
Read from PostgreSQL every tick they cost two queries a second per campaign, one over 30
days of attempts. :class:`CampaignCounts` keeps them instead, from two sources:

- a :class:`Reading` from the store, re-read every ``interval`` seconds, on start and
  when the campaign's midnight moves: the windows' counts as of the read (``at``), the
  leads left then, and the *edge*: the live outcomes, by start time, that leave the 24 h
  window within LOOKAHEAD_SECONDS + ``interval`` and the 30 days within ``interval``;
- the runner's *own* outcomes (its dials resolved), each with its start time, until a
  reading has them.

Between re-reads (``at <= now < at + interval``) time needs no guessing: what leaves a
window is in the edge, exactly, so with ``own(cond)`` the own live outcomes meeting cond

    today(now)   = read.today [same midnight, else 0] + own(start >= midnight)
    day(now)     = read.day   - edge(at - 24 h < start <= now - 24 h) + own(start > now - 24 h)
    month(now)   = read.month - edge(at - 30 d < start <= now - 30 d) + own(start > now - 30 d)
    leaving(now) = edge(now - 24 h < start <= now - 24 h + look-ahead) + own(same)

(attempts count by start time, as the store counts them). The reading's own
``day_leaving`` says how much leaves within the hour but not when; the edge says when,
to the microsecond, and is small (up to an hour and a minute of live answers, one row per
start instant: a tick's dials share theirs); its running totals make a tick's sums
O(log n). Past ``at + interval`` the edge runs out and old answers would stop leaving:
the runner re-reads first (:meth:`CampaignCounts.due`), and a re-read that fails fails
the tick, as a failed read did. Own outcomes count once resolved (the Hangup), as the
store counted them once written, not at the answer. What the runner cannot see (another
node's dials, a callback placed by click-to-dial, an import, a supervisor's disposition)
waits for the next re-read.

No own outcome is counted twice or lost, whenever its write commits: a re-read leaves
out, by attempt and lead id, every attempt whose outcome the runner may write while the
store reads (:meth:`begin_read`: the dials in flight, and the outcomes resolved whose
write has not finished), and the view keeps exactly those own outcomes after it
(:meth:`reset`); the rest were written before the read began, so the reading has them.

Leads left follow the store's meaning (leads not finished for good; a lead on the phone
is still left): the reading's count without the left-out leads, plus those leads (none
of them was finished when the read began), minus the leads the runner has finished
since (an outcome that ends a lead, or the gate refusing one for good). A count that
reached the store's cap reads as endless (``math.inf``) until the next re-read. A lead
imported since the last re-read and finished by the runner before the next is subtracted
without having been added: the count runs one low (the cautious side) until then.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cti.outbound.reread import reread_due
from dialer.pacing import AbandonCount, AbandonCounters
from dialer.pacing.snapshot import LOOKAHEAD_SECONDS
from dialer.schedule import Outcome
from dialer.windows import DAY_SECONDS, MONTH_SECONDS

LIVE = frozenset({Outcome.ANSWERED, Outcome.ABANDONED})

#: Live outcomes started at one instant (epoch seconds): (start, live, abandoned).
Edge = tuple[float, int, int]


@dataclass(frozen=True, slots=True)
class Reading:
    """What one re-read found, as of ``at`` (epoch seconds), the attempts and leads of
    its :class:`Exclusion` left out.

    ``counters`` hold the windows at ``at`` (its ``day_leaving`` is not used: the edge
    gives it at any time); ``edges`` the live outcomes that leave the windows soon
    (see the module's docstring); ``leads_left`` the leads left, ``math.inf`` when the
    count reached its cap.
    """

    at: float
    midnight: float
    counters: AbandonCounters
    edges: Sequence[Edge]
    leads_left: float


@dataclass(frozen=True, slots=True)
class Exclusion:
    """What a re-read must leave out: attempts whose outcome, and leads whose state, the
    runner may write while the store reads. ``finished`` marks where the count of leads
    the runner finished stood when the read began."""

    attempts: frozenset[int]
    leads: frozenset[int]
    finished: int


@dataclass(slots=True)
class _Own:
    """One of the runner's dials whose outcome is known, not yet in a reading."""

    lead_id: int
    started_at: float
    live: bool
    abandoned: bool
    written: bool = False  # the store has the outcome (or the write failed for good)


class _EdgeSeries:
    """The edge sorted by start time with running totals: sums over a time span in
    O(log n), so a tick costs nothing like the edge's (up to an hour of) outcomes."""

    def __init__(self, edges: Iterable[Edge]) -> None:
        self._times: list[float] = []
        self._live = [0]
        self._abandoned = [0]
        for start, live, abandoned in sorted(edges):
            self._times.append(start)
            self._live.append(self._live[-1] + live)
            self._abandoned.append(self._abandoned[-1] + abandoned)

    def between(self, after: float, until: float) -> tuple[int, int]:
        """Live answers and abandons that started in (after, until]."""
        if until <= after:
            return 0, 0
        lo, hi = bisect_right(self._times, after), bisect_right(self._times, until)
        return self._live[hi] - self._live[lo], self._abandoned[hi] - self._abandoned[lo]


class CampaignCounts:
    """One campaign's counters and leads left as the runner sees them (module docstring).

    The runner asks :meth:`due` each tick and, when due, re-reads: :meth:`begin_read`,
    the store's queries leaving out what it says, then :meth:`reset`. It reports its
    dials' outcomes (:meth:`resolved` when known, :meth:`written` once stored) and the
    leads it finishes otherwise (:meth:`lead_finished`).
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._reading: Reading | None = None
        self._edge = _EdgeSeries(())
        self._own: dict[int, _Own] = {}
        self._left_out_leads = 0
        self._finished = 0  # leads the runner finished, ever
        self._finished_at_read = 0

    @property
    def read_at(self) -> float | None:
        return self._reading.at if self._reading is not None else None

    def due(self, now: float, midnight: float) -> bool:
        """A re-read is due: never read, ``interval`` gone by, a new day in the campaign's
        zone (or a new zone), or a clock that went back."""
        r = self._reading
        new_day = r is not None and midnight != r.midnight
        return new_day or reread_due(self.read_at, self.interval, now)

    # --- what the runner did --------------------------------------------------------

    def resolved(self, attempt_id: int, lead_id: int, started_at: float,
                 outcome: Outcome) -> None:
        """One of the runner's dials ended with `outcome`; its write is under way."""
        self._own[attempt_id] = _Own(lead_id, started_at, outcome in LIVE,
                                     outcome is Outcome.ABANDONED)

    def written(self, attempt_id: int, lead_finished: bool) -> None:
        """The outcome's write is over (committed, or failed: then the store never
        counts it and neither will the next reading); `lead_finished`: it finished the
        lead for good."""
        own = self._own.get(attempt_id)
        if own is not None:
            own.written = True
        if lead_finished:
            self.lead_finished()

    def lead_finished(self) -> None:
        """The runner finished a lead for good (no more dials)."""
        self._finished += 1

    # --- re-reading -----------------------------------------------------------------

    def begin_read(self, in_flight: Iterable[tuple[int, int]]) -> Exclusion:
        """What the re-read starting now leaves out, given the dials in flight as
        (attempt id, lead id): those and the outcomes resolved but not yet written."""
        pending = [*in_flight,
                   *((a, own.lead_id) for a, own in self._own.items() if not own.written)]
        return Exclusion(attempts=frozenset(a for a, _ in pending),
                         leads=frozenset(lead for _, lead in pending),
                         finished=self._finished)

    def reset(self, reading: Reading, excluded: Exclusion) -> None:
        """Take the store's `reading` (made leaving `excluded` out) as the new base."""
        self._reading = reading
        self._edge = _EdgeSeries(reading.edges)
        self._own = {a: own for a, own in self._own.items() if a in excluded.attempts}
        self._left_out_leads = len(excluded.leads)
        self._finished_at_read = excluded.finished

    # --- what the pacer sees --------------------------------------------------------

    def counters(self, now: float, midnight: float) -> AbandonCounters:
        """The counters at `now` (at most ``interval`` after the last reading: the edge
        reaches no further) for the campaign's `midnight` (epoch seconds)."""
        day_from, month_from = now - DAY_SECONDS, now - MONTH_SECONDS
        leaving_to = day_from + LOOKAHEAD_SECONDS
        today = day = month = leaving = (0, 0)
        r = self._reading
        if r is not None:
            if midnight == r.midnight:  # a later one: everything since is the runner's own
                today = (r.counters.today.live, r.counters.today.abandoned)
            day = _minus(r.counters.day, self._edge.between(r.at - DAY_SECONDS, day_from))
            month = _minus(r.counters.month,
                           self._edge.between(r.at - MONTH_SECONDS, month_from))
            leaving = self._edge.between(day_from, leaving_to)
        for own in self._own.values():
            if not own.live:
                continue
            one = (1, int(own.abandoned))
            start = own.started_at
            today = _plus(today, one, start >= midnight)
            day = _plus(day, one, start > day_from)
            month = _plus(month, one, start > month_from)
            leaving = _plus(leaving, one, day_from < start <= leaving_to)
        return AbandonCounters(today=AbandonCount(*today), day=AbandonCount(*day),
                               month=AbandonCount(*month), day_leaving=AbandonCount(*leaving))

    def leads_left(self) -> float:
        """Leads the campaign may still dial (``math.inf``: as good as endless)."""
        r = self._reading
        if r is None:
            return math.inf
        finished = self._finished - self._finished_at_read
        return max(r.leads_left + self._left_out_leads - finished, 0.0)


def _minus(count: AbandonCount, gone: tuple[int, int]) -> tuple[int, int]:
    return max(count.live - gone[0], 0), max(count.abandoned - gone[1], 0)


def _plus(count: tuple[int, int], one: tuple[int, int], when: bool) -> tuple[int, int]:
    return (count[0] + one[0], count[1] + one[1]) if when else count
