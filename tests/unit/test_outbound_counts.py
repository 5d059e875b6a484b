"""The campaign runner's in-memory abandon counters and leads left (cti/outbound/counts.py).

Examples first (given a reading, when time passes or the runner's dials end, then the
counters), then a property: whatever the order of dials, writes, other nodes' outcomes
and re-reads (a write may commit before or after the store takes its snapshot), the view
equals what the store would count from its last snapshot plus the runner's own outcomes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.outbound.counts import CampaignCounts, Edge, Exclusion, Reading
from dialer.pacing import AbandonCount, AbandonCounters
from dialer.pacing.snapshot import LOOKAHEAD_SECONDS
from dialer.schedule import Outcome
from dialer.windows import DAY_SECONDS as DAY
from dialer.windows import MONTH_SECONDS as MONTH

T0 = 1_750_000_000.0  # 2025-06-15 15:06:40 UTC
MIDNIGHT = T0 - T0 % DAY
INTERVAL = 60.0
ANSWERED, ABANDONED, BUSY = Outcome.ANSWERED, Outcome.ABANDONED, Outcome.BUSY


# --- a store in memory: what the repository's queries answer --------------------------


@dataclass
class Attempt:
    lead: int
    started: float
    outcome: Outcome | None = None

    @property
    def live(self) -> bool:
        return self.outcome in (ANSWERED, ABANDONED)


@dataclass
class Store:
    attempts: dict[int, Attempt] = field(default_factory=dict)
    finished: dict[int, bool] = field(default_factory=dict)  # lead -> done for good

    def copy(self) -> Store:
        return Store({i: Attempt(a.lead, a.started, a.outcome) for i, a in self.attempts.items()},
                     dict(self.finished))

    def read(self, at: float, midnight: float, left_out: Exclusion,
             cap: float = math.inf) -> Reading:
        """abandon_counters, leaving_soon and leads_left, as the SQL has them."""
        live = [a for i, a in self.attempts.items() if a.live and i not in left_out.attempts]
        day_ago, month_ago = at - DAY, at - MONTH
        edges: list[Edge] = [
            (a.started, 1, int(a.outcome is ABANDONED)) for a in live
            if day_ago < a.started <= day_ago + LOOKAHEAD_SECONDS + INTERVAL
            or month_ago < a.started <= month_ago + INTERVAL]
        left = sum(1 for lead, done in self.finished.items()
                   if not done and lead not in left_out.leads)
        return Reading(at=at, midnight=midnight,
                       counters=truth(((a.started, a.outcome is ABANDONED) for a in live),
                                      at, midnight),
                       edges=edges, leads_left=left if left < cap else math.inf)


def truth(live: Iterable[tuple[float, bool]], now: float, midnight: float) -> AbandonCounters:
    """The counters by definition, over (start, abandoned) of live outcomes."""
    windows: dict[str, list[int]] = {k: [0, 0] for k in ("today", "day", "month", "leaving")}
    for start, abandoned in live:
        for name, inside in (
            ("today", start >= midnight), ("day", start > now - DAY),
            ("month", start > now - MONTH),
            ("leaving", now - DAY < start <= now - DAY + LOOKAHEAD_SECONDS),
        ):
            if inside:
                windows[name][0] += 1
                windows[name][1] += int(abandoned)
    return AbandonCounters(
        today=AbandonCount(*windows["today"]), day=AbandonCount(*windows["day"]),
        month=AbandonCount(*windows["month"]), day_leaving=AbandonCount(*windows["leaving"]))


def reread(counts: CampaignCounts, store: Store, now: float, midnight: float = MIDNIGHT,
           in_flight: Iterable[tuple[int, int]] = ()) -> None:
    excluded = counts.begin_read(in_flight)
    counts.reset(store.read(now, midnight, excluded), excluded)


def history(*attempts: tuple[float, Outcome]) -> Store:
    store = Store()
    for i, (started, outcome) in enumerate(attempts, start=1000):
        store.attempts[i] = Attempt(lead=i, started=started, outcome=outcome)
        store.finished[i] = True
    return store


# --- examples -----------------------------------------------------------------------


def test_a_re_read_is_due_on_start_every_interval_and_at_midnight() -> None:
    counts = CampaignCounts(INTERVAL)
    assert counts.due(T0, MIDNIGHT)
    reread(counts, Store(), T0)
    assert not counts.due(T0 + INTERVAL - 1, MIDNIGHT)
    assert counts.due(T0 + INTERVAL, MIDNIGHT)
    assert counts.due(T0 + 1, MIDNIGHT + DAY)  # the campaign's day changed
    assert counts.due(T0 - 5, MIDNIGHT)  # the clock went back


def test_yesterdays_answers_leave_the_24_hours_at_their_second_between_re_reads() -> None:
    # Given answers 24 h before T0 + 10 s and T0 + 30 s (one abandoned), read at T0
    store = history((T0 + 10 - DAY, ANSWERED), (T0 + 30 - DAY, ABANDONED))
    counts = CampaignCounts(INTERVAL)
    reread(counts, store, T0)
    assert counts.counters(T0, MIDNIGHT).day == AbandonCount(2, 1)
    assert counts.counters(T0, MIDNIGHT).day_leaving == AbandonCount(2, 1)
    # When time passes, each leaves the window exactly 24 h after it started
    assert counts.counters(T0 + 10, MIDNIGHT).day == AbandonCount(1, 1)
    assert counts.counters(T0 + 30, MIDNIGHT).day == AbandonCount(0, 0)
    assert counts.counters(T0 + 30, MIDNIGHT).day_leaving == AbandonCount(0, 0)
    # ... and is still in the 30 days
    assert counts.counters(T0 + 30, MIDNIGHT).month == AbandonCount(2, 1)


def test_the_look_ahead_takes_in_answers_as_they_come_within_the_hour() -> None:
    # Given an answer that leaves the 24 h window an hour and 20 s after T0
    store = history((T0 - DAY + LOOKAHEAD_SECONDS + 20, ANSWERED))
    counts = CampaignCounts(INTERVAL)
    reread(counts, store, T0)
    assert counts.counters(T0, MIDNIGHT).day_leaving == AbandonCount()
    assert counts.counters(T0 + 20, MIDNIGHT).day_leaving == AbandonCount(1, 0)


def test_the_30_days_lose_their_oldest_answers_too() -> None:
    store = history((T0 + 5 - MONTH, ABANDONED))
    counts = CampaignCounts(INTERVAL)
    reread(counts, store, T0)
    assert counts.counters(T0 + 4, MIDNIGHT).month == AbandonCount(1, 1)
    assert counts.counters(T0 + 5, MIDNIGHT).month == AbandonCount()


def test_the_runners_own_live_outcomes_count_at_once_in_every_window() -> None:
    counts = CampaignCounts(INTERVAL)
    reread(counts, history((T0 - 3600, ANSWERED)), T0)
    counts.resolved(1, 11, T0 + 1, ABANDONED)
    counts.resolved(2, 12, T0 + 2, ANSWERED)
    counts.resolved(3, 13, T0 + 3, BUSY)  # not a live answer
    got = counts.counters(T0 + 20, MIDNIGHT)
    assert got.today == got.day == got.month == AbandonCount(3, 1)
    assert got.day_leaving == AbandonCount()


def test_at_the_campaigns_midnight_today_starts_from_the_runners_own_outcomes() -> None:
    counts = CampaignCounts(INTERVAL)
    tomorrow = MIDNIGHT + DAY
    reread(counts, history((T0 - 60, ANSWERED)), tomorrow - 30)
    counts.resolved(1, 11, tomorrow - 20, ANSWERED)
    assert counts.counters(tomorrow - 1, MIDNIGHT).today == AbandonCount(2, 0)
    counts.resolved(2, 12, tomorrow + 5, ABANDONED)
    after = counts.counters(tomorrow + 10, tomorrow)
    assert after.today == AbandonCount(1, 1) and after.day == AbandonCount(3, 1)


def test_an_outcome_written_before_the_re_read_comes_from_the_store_only() -> None:
    store = Store(finished={11: False})
    counts = CampaignCounts(INTERVAL)
    reread(counts, store, T0, in_flight=[(1, 11)])
    counts.resolved(1, 11, T0 + 1, ABANDONED)
    store.attempts[1] = Attempt(11, T0 + 1, ABANDONED)  # the write commits
    counts.written(1, lead_finished=False)
    reread(counts, store, T0 + INTERVAL)
    assert counts.counters(T0 + INTERVAL, MIDNIGHT).day == AbandonCount(1, 1)


def test_an_outcome_whose_write_races_the_re_read_counts_once_either_way() -> None:
    for commits_before_snapshot in (True, False):
        store = Store(finished={11: False})
        counts = CampaignCounts(INTERVAL)
        reread(counts, store, T0)
        counts.resolved(1, 11, T0 + 1, ANSWERED)  # resolved, its write under way
        excluded = counts.begin_read([])
        assert excluded.attempts == {1} and excluded.leads == {11}
        if commits_before_snapshot:
            store.attempts[1] = Attempt(11, T0 + 1, ANSWERED)
            store.finished[11] = True
        reading = store.read(T0 + INTERVAL, MIDNIGHT, excluded)
        counts.written(1, lead_finished=True)  # the write returns before the reading
        counts.reset(reading, excluded)
        assert counts.counters(T0 + INTERVAL, MIDNIGHT).day == AbandonCount(1, 0)
        assert counts.leads_left() == 0


def test_leads_left_lose_the_leads_the_runner_finishes_and_the_store_corrects_the_rest(
) -> None:
    store = Store(finished={lead: False for lead in range(10)})
    counts = CampaignCounts(INTERVAL)
    reread(counts, store, T0, in_flight=[(100, 3)])
    assert counts.leads_left() == 10  # the lead on the phone is still left
    counts.resolved(100, 3, T0, BUSY)
    counts.written(100, lead_finished=True)  # its last attempt
    counts.lead_finished()  # the gate refused another for good
    assert counts.leads_left() == 8
    store.finished.update({3: True, 4: True, 5: True})  # ... and an agent finished one
    store.finished.update({lead: False for lead in range(10, 15)})  # an import
    reread(counts, store, T0 + INTERVAL)
    assert counts.leads_left() == 12


def test_a_count_at_the_cap_reads_as_endless_until_the_next_re_read() -> None:
    store = Store(finished={lead: False for lead in range(5)})
    counts = CampaignCounts(INTERVAL)
    assert counts.leads_left() == math.inf  # nothing read yet: no reason to hold back
    excluded = counts.begin_read([])
    counts.reset(store.read(T0, MIDNIGHT, excluded, cap=5), excluded)
    counts.lead_finished()
    assert counts.leads_left() == math.inf


# --- the property -------------------------------------------------------------------


@dataclass
class World:
    """The runner's counts beside a store and what the runner did, for the oracle."""

    counts: CampaignCounts = field(default_factory=lambda: CampaignCounts(INTERVAL))
    store: Store = field(default_factory=Store)
    now: float = T0
    next_id: int = 100  # attempts and imported leads; the first leads are 0..7
    in_flight: dict[int, int] = field(default_factory=dict)  # attempt -> lead
    writes: list[tuple[int, Outcome, bool]] = field(default_factory=list)  # not committed
    committed: list[tuple[int, bool]] = field(default_factory=list)  # not yet returned
    own: dict[int, tuple[float, Outcome]] = field(default_factory=dict)  # ever resolved
    snapshot: Store = field(default_factory=Store)
    finished_since: set[int] = field(default_factory=set)  # leads, since the read began

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @property
    def midnight(self) -> float:
        return self.now - self.now % DAY

    def dialable(self) -> list[int]:
        """Leads the runner may dial: due in the store, none of its dials on them (on the
        phone, or an outcome not yet written: the in-call guard keeps them off), and in
        the last snapshot (one imported since and finished by the runner before the next
        re-read is subtracted without having been added, as the module says)."""
        busy = {*self.in_flight.values(),
                *(self.store.attempts[a].lead for a, _, _ in self.writes),
                *(self.store.attempts[a].lead for a, _ in self.committed)}
        return [lead for lead, done in self.store.finished.items()
                if not done and lead not in busy and self.snapshot.finished.get(lead) is False]

    def commit(self, index: int) -> None:
        attempt, outcome, finishes = self.writes.pop(index)
        self.store.attempts[attempt].outcome = outcome
        if finishes:
            self.store.finished[self.store.attempts[attempt].lead] = True
        self.committed.append((attempt, finishes))

    def returned(self, index: int) -> None:
        attempt, finishes = self.committed.pop(index)
        self.counts.written(attempt, lead_finished=finishes)
        if finishes:
            self.finished_since.add(self.store.attempts[attempt].lead)

    def expected(self) -> tuple[AbandonCounters, int]:
        live = {i: (a.started, a.outcome is ABANDONED)
                for i, a in self.snapshot.attempts.items() if a.live}
        live |= {i: (started, outcome is ABANDONED) for i, (started, outcome)
                 in self.own.items() if outcome in (ANSWERED, ABANDONED)}
        # A lead's finishing write that has not returned yet is news to the runner.
        left = {lead for lead, done in self.snapshot.finished.items() if not done} | {
            self.store.attempts[a].lead for a, finishes in self.committed if finishes}
        return truth(live.values(), self.now, self.midnight), len(left - self.finished_since)


def step(world: World, data: st.DataObject) -> None:
    """One thing happens: time passes, the runner dials or hears an end, a write
    commits or returns, another node's outcome or an import lands in the store."""
    w, store = world, world.store
    match data.draw(st.sampled_from(
            ["time", "dial", "end", "commit", "return", "other", "import", "refuse"])):
        case "time":
            w.now += data.draw(st.floats(0, 2 * INTERVAL))
        case "dial":
            free = w.dialable()
            if free:
                lead, attempt = data.draw(st.sampled_from(free)), w.new_id()
                store.attempts[attempt] = Attempt(lead, w.now)
                w.in_flight[attempt] = lead
        case "end" if w.in_flight:
            attempt = data.draw(st.sampled_from(sorted(w.in_flight)))
            lead = w.in_flight.pop(attempt)
            outcome = data.draw(st.sampled_from([ANSWERED, ABANDONED, BUSY]))
            started = store.attempts[attempt].started
            w.counts.resolved(attempt, lead, started, outcome)
            w.own[attempt] = (started, outcome)
            w.writes.append((attempt, outcome, data.draw(st.booleans())))
        case "commit" if w.writes:
            w.commit(data.draw(st.integers(0, len(w.writes) - 1)))
        case "return" if w.committed:
            w.returned(data.draw(st.integers(0, len(w.committed) - 1)))
        case "other":  # another node's (or an old) outcome, near a window's edge or not
            edge = data.draw(st.sampled_from([0.0, DAY, DAY - LOOKAHEAD_SECONDS, MONTH]))
            started = w.now - edge + data.draw(st.floats(-3 * INTERVAL, 3 * INTERVAL))
            attempt = w.new_id()
            store.attempts[attempt] = Attempt(-attempt, min(started, w.now),
                                              data.draw(st.sampled_from([ANSWERED, ABANDONED])))
        case "import":
            store.finished[w.new_id()] = False
        case "refuse":  # the gate refuses a due lead for good (never during a read)
            free = w.dialable()
            if free:
                lead = data.draw(st.sampled_from(free))
                store.finished[lead] = True
                w.counts.lead_finished()
                w.finished_since.add(lead)
        case _:
            pass


def read(world: World, data: st.DataObject) -> None:
    """A re-read: writes may commit and return before the snapshot, between it and the
    reset, or later."""
    w = world
    excluded = w.counts.begin_read(w.in_flight.items())
    w.finished_since = set()
    meanwhile(w, data)
    w.snapshot = w.store.copy()
    reading = w.store.read(w.now, w.midnight, excluded)
    meanwhile(w, data)
    w.counts.reset(reading, excluded)


def meanwhile(world: World, data: st.DataObject) -> None:
    """Writes under way commit or return while the re-read awaits the store."""
    for _ in range(data.draw(st.integers(0, 3))):
        if world.writes and (not world.committed or data.draw(st.booleans())):
            world.commit(0)
        elif world.committed:
            world.returned(0)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_the_view_is_the_last_snapshot_plus_the_runners_own_outcomes(data: st.DataObject,
                                                                    ) -> None:
    world = World()
    for lead in range(8):
        world.store.finished[lead] = False
    for _ in range(data.draw(st.integers(0, 6))):
        step_past = data.draw(st.sampled_from([DAY, DAY - LOOKAHEAD_SECONDS, MONTH, 3600.0]))
        started = T0 - step_past + data.draw(st.floats(-3 * INTERVAL, 3 * INTERVAL))
        world.store.attempts[world.new_id()] = Attempt(
            -1, started, data.draw(st.sampled_from([ANSWERED, ABANDONED])))
    for _ in range(data.draw(st.integers(1, 40))):
        if world.counts.due(world.now, world.midnight):
            read(world, data)
        counters, left = world.expected()
        assert world.counts.counters(world.now, world.midnight) == counters
        assert world.counts.leads_left() == left
        step(world, data)
