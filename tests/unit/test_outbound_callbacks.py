"""Callbacks read on a schedule and placed every tick (cti/outbound/runner.py, DueCallbacks).

Examples first (given a read, when ticks pass and seats free up, then what is placed),
then the runner's wiring with the store's query faked (no database, no sockets), then a
property: whatever the seats and the dials' failures, when nothing but the runner's own
placements changes the store, reading every few seconds places the same callbacks, at
the same ticks, to the same seats, as reading the store every tick did.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cti.config import DialerSettings
from cti.db import campaign_repository, dialer_repository
from cti.db.campaign_records import CampaignRecord, LeadRecord
from cti.domain.model import Seat, SeatState
from cti.outbound.callbacks import Callback, DueCallbacks
from cti.outbound.errors import DialRefused
from cti.outbound.runner import CampaignRunner
from dialer.campaign import windows_to_json
from dialer.schedule import DEFAULT_WINDOWS

T0 = 1_750_000_000.0
INTERVAL = 5.0
AVAILABLE, ON_CALL, WRAP_UP = SeatState.AVAILABLE, SeatState.ON_CALL, SeatState.WRAP_UP


def seats(**states: SeatState) -> dict[str, Seat]:
    return {seat: Seat(seat, "node1", f"PJSIP/{seat}", state) for seat, state in states.items()}


def callback(lead: int, seat: str, at: float, number: str = "") -> Callback:
    return Callback(lead, seat, number or f"+86138001380{lead:02d}", at)


def read(cache: DueCallbacks, now: float, store: Iterable[Callback]) -> None:
    """What the runner does when a read is due: the store's query, up to the horizon."""
    horizon = cache.horizon(now)
    cache.reset(now, sorted((c for c in store if c.at <= horizon),
                            key=lambda c: (c.at, c.lead_id)))


# --- examples ---------------------------------------------------------------------------


def test_a_read_is_due_on_start_then_every_interval_and_when_the_clock_goes_back() -> None:
    cache = DueCallbacks(INTERVAL)
    assert cache.due(T0)
    cache.reset(T0, [])
    assert not cache.due(T0) and not cache.due(T0 + INTERVAL - 0.001)
    assert cache.due(T0 + INTERVAL)
    assert cache.due(T0 - 1)  # the clock went back: what was read may be stale
    assert cache.horizon(T0) == T0 + INTERVAL


def test_a_callback_whose_time_has_not_come_waits_then_goes_at_the_first_tick_after() -> None:
    cache = DueCallbacks(INTERVAL)
    booked = callback(1, "1001", T0 + 2.5)
    read(cache, T0, [booked])
    free = seats(**{"1001": AVAILABLE})
    assert cache.ready(T0 + 2, free, set()) == []
    assert cache.ready(T0 + 3, free, set()) == [booked]


def test_a_callback_waits_for_its_own_seat_not_any_free_one() -> None:
    cache = DueCallbacks(INTERVAL)
    booked = callback(1, "1001", T0)
    read(cache, T0, [booked])
    for state in (ON_CALL, WRAP_UP, SeatState.PAUSED, SeatState.OFFLINE):
        assert cache.ready(T0 + 1, seats(**{"1001": state, "1002": AVAILABLE}), set()) == []
    assert cache.ready(T0 + 1, seats(**{"1002": AVAILABLE}), set()) == []  # no such seat
    assert cache.ready(T0 + 1, seats(**{"1001": AVAILABLE}), set()) == [booked]


def test_a_number_the_runner_is_dialing_is_not_called_back_meanwhile() -> None:
    cache = DueCallbacks(INTERVAL)
    booked = callback(1, "1001", T0)
    read(cache, T0, [booked])
    free = seats(**{"1001": AVAILABLE})
    assert cache.ready(T0 + 1, free, {booked.number}) == []
    assert cache.ready(T0 + 2, free, set()) == [booked]


def test_ready_callbacks_come_oldest_first() -> None:
    cache = DueCallbacks(INTERVAL)
    late, early = callback(1, "1001", T0 + 1), callback(2, "1002", T0 - 60)
    read(cache, T0, [late, early])
    free = seats(**{"1001": AVAILABLE, "1002": AVAILABLE})
    assert cache.ready(T0 + 1, free, set()) == [early, late]


def test_a_callback_placed_is_not_placed_again_before_the_next_read() -> None:
    cache = DueCallbacks(INTERVAL)
    booked = callback(1, "1001", T0)
    read(cache, T0, [booked])
    free = seats(**{"1001": AVAILABLE})
    [placed] = cache.ready(T0, free, set())
    cache.placed(placed)
    for tick in range(1, int(INTERVAL)):
        assert not cache.due(T0 + tick)
        assert cache.ready(T0 + tick, free, set()) == []


def test_a_callback_not_placed_is_kept_and_tried_again() -> None:
    cache = DueCallbacks(INTERVAL)
    booked = callback(1, "1001", T0)
    read(cache, T0, [booked])
    free = seats(**{"1001": AVAILABLE})
    assert cache.ready(T0, free, set()) == [booked]  # the dial fails: placed() not called
    assert cache.ready(T0 + 1, free, set()) == [booked]


def test_what_changes_in_the_store_is_seen_at_the_next_read() -> None:
    cache = DueCallbacks(INTERVAL)
    moved = callback(1, "1001", T0 + 3)
    read(cache, T0, [moved])
    free = seats(**{"1001": AVAILABLE})
    # Booked at T0 + 1 for T0 + 2, and the other moved to an hour later: both unseen
    # until the read at T0 + 5 (up to an interval late; the old time may still be used).
    store = [callback(2, "1001", T0 + 2), replace(moved, at=T0 + 3600)]
    assert cache.ready(T0 + 2, free, set()) == []
    assert cache.ready(T0 + 3, free, set()) == [moved]
    assert cache.due(T0 + INTERVAL)
    read(cache, T0 + INTERVAL, store)
    assert cache.ready(T0 + INTERVAL, free, set()) == [store[0]]


def test_a_callback_due_just_after_the_read_horizon_comes_with_the_next_read() -> None:
    cache = DueCallbacks(INTERVAL)
    later = callback(1, "1001", T0 + INTERVAL + 0.5)
    read(cache, T0, [later])
    assert cache.ready(T0 + INTERVAL + 1, seats(**{"1001": AVAILABLE}), set()) == []
    read(cache, T0 + INTERVAL, [later])  # the read due at T0 + 5, before that tick places
    assert cache.ready(T0 + INTERVAL + 1, seats(**{"1001": AVAILABLE}), set()) == [later]


def test_a_lead_becomes_a_callback_only_with_a_seat_and_a_time() -> None:
    lead = lead_record(4, "1001", T0 + 30)
    assert Callback.of(lead) == Callback(4, "1001", lead.phone, T0 + 30)
    assert Callback.of(replace(lead, callback_seat_id=None)) is None
    assert Callback.of(replace(lead, next_eligible_at=None)) is None


# --- the runner's wiring, the store's query faked ---------------------------------------


def lead_record(lead_id: int, seat: str | None, at: float) -> LeadRecord:
    when = datetime.fromtimestamp(at, UTC)
    return LeadRecord(
        id=lead_id, campaign_id=7, phone=f"+86138001380{lead_id:02d}", timezones=(),
        grade=None, attempts=1, last_attempt_at=None, last_outcome="answered",
        next_eligible_at=when, callback_at=when, callback_user_id=None,
        callback_seat_id=seat, fields={}, created_at=when,
    )


def campaign() -> CampaignRecord:
    now = datetime.fromtimestamp(T0, UTC)
    return CampaignRecord(
        id=7, name="acme", state="running", mode="progressive", caller_id="+862161234567",
        skill_group="sales", seats=(), default_region="CN", default_timezone="Asia/Shanghai",
        windows=[], max_attempts=3, retry_delays={}, grade_cadences={}, cap_per_day=1,
        cap_per_week=3, script="", abandon_message=None, created_at=now, updated_at=now,
    )


class FakeSession:
    async def __aenter__(self) -> FakeSession:
        return self

    async def __aexit__(self, *_: object) -> None:
        return None


@dataclass
class Store:
    """The leads holding callbacks; a dial that is placed clears its lead's, as the claim
    does."""

    leads: dict[int, LeadRecord] = field(default_factory=dict)
    reads: list[tuple[float, float]] = field(default_factory=list)  # (at, until)
    clock: list[float] = field(default_factory=lambda: [T0])

    async def due_callbacks(self, session: object, campaign_id: int, until: datetime,
                            limit: int = 20) -> list[LeadRecord]:
        self.reads.append((self.clock[0], until.timestamp()))
        due = [lead for lead in self.leads.values()
               if lead.next_eligible_at is not None and lead.next_eligible_at <= until]
        return sorted(due, key=lambda lead: (lead.next_eligible_at, lead.id))[:limit]


class Live:
    def __init__(self) -> None:
        self.states: dict[str, SeatState] = {"1001": AVAILABLE, "1002": AVAILABLE}

    def seats(self) -> Mapping[str, Seat]:
        return seats(**self.states)


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> Store:
    fake = Store()
    monkeypatch.setattr(dialer_repository, "due_callbacks", fake.due_callbacks)
    return fake


async def test_the_runner_reads_on_schedule_and_places_each_callback_once(store: Store) -> None:
    live = Live()
    placed: list[tuple[float, str, str]] = []
    failing: set[str] = set()

    async def dial(seat: str, number: str, campaign_id: int) -> None:
        if number in failing:
            raise RuntimeError("Asterisk did not place the call")
        placed.append((store.clock[0], seat, number))
        store.leads = {i: lead for i, lead in store.leads.items()
                       if lead.phone != number}  # the claim clears the callback

    runner = CampaignRunner(campaign(), cast(Any, live), cast(Any, FakeSession),
                            DialerSettings(callbacks_reread_seconds=INTERVAL), "node1",
                            lambda coro: coro.close(), lambda *_: None,
                            clock=lambda: store.clock[0], callback=dial)
    store.leads = {1: lead_record(1, "1001", T0 + 2.5), 2: lead_record(2, "1002", T0 + 1),
                   3: lead_record(3, "1001", T0 + 7)}
    live.states["1002"] = ON_CALL
    failing.add(store.leads[1].phone)
    for tick in range(12):
        now = store.clock[0] = T0 + tick
        if tick == 4:
            failing.clear()
        if tick == 6:
            live.states["1002"] = AVAILABLE
        if tick == 8:  # booked between reads, due at once: seen at the read at T0 + 10
            store.leads[4] = lead_record(4, "1002", now)
        await runner._callbacks(now)
    assert store.reads == [(T0 + t, T0 + t + INTERVAL) for t in (0, 5, 10)]
    assert placed == [
        (T0 + 4, "1001", store_phone(1)),  # due at 2.5; failed at 3, kept, placed at 4
        (T0 + 6, "1002", store_phone(2)),  # due at 1: waited for its own seat
        (T0 + 7, "1001", store_phone(3)),  # read at 5, due at 7
        (T0 + 10, "1002", store_phone(4)),  # booked at 8, seen at the read at 10
    ]
    assert runner.callbacks == 4


async def test_a_callback_the_gate_refuses_puts_its_lead_off_and_is_not_asked_again(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its number went on the DNC list after it was booked: the lead is finished, as any
    lead the gate refuses for good, instead of the dial being asked for at every tick."""
    asked: list[float] = []
    deferred: list[tuple[int, datetime | None]] = []

    async def dial(seat: str, number: str, campaign_id: int) -> None:
        asked.append(store.clock[0])
        raise DialRefused(number, ["dnc_global"])

    async def get_lead(session: object, lead_id: int) -> LeadRecord | None:
        return store.leads.get(lead_id)

    async def defer_lead(session: object, lead_id: int, until: datetime | None, *,
                         seen: datetime | None) -> bool:
        assert seen == store.leads[lead_id].next_eligible_at
        deferred.append((lead_id, until))
        store.leads[lead_id] = replace(store.leads[lead_id], next_eligible_at=until)
        return True

    monkeypatch.setattr(campaign_repository, "get_lead", get_lead)
    monkeypatch.setattr(dialer_repository, "defer_lead", defer_lead)
    windowed = replace(campaign(), windows=windows_to_json(DEFAULT_WINDOWS))
    runner = CampaignRunner(windowed, cast(Any, Live()), cast(Any, FakeSession),
                            DialerSettings(callbacks_reread_seconds=INTERVAL), "node1",
                            lambda coro: coro.close(), lambda *_: None,
                            clock=lambda: store.clock[0], callback=dial)
    store.leads = {1: lead_record(1, "1001", T0)}
    for tick in range(12):  # two reads after the refusal
        store.clock[0] = T0 + tick
        await runner._callbacks(T0 + tick)
    assert asked == [T0] and deferred == [(1, None)]
    assert runner.counts._finished == 1 and runner.callbacks == 0


def store_phone(lead_id: int) -> str:
    return lead_record(lead_id, None, T0).phone


async def test_a_runner_without_a_callback_dialer_reads_nothing(store: Store) -> None:
    runner = CampaignRunner(campaign(), cast(Any, Live()), cast(Any, FakeSession),
                            DialerSettings(), "node1", lambda coro: coro.close(),
                            lambda *_: None, clock=lambda: T0)
    await runner._callbacks(T0)
    assert store.reads == []


# --- the property: the same placements as a read every tick -----------------------------


SEATS = ("1001", "1002", "1003")
TICKS = 40


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Callback], list[dict[str, bool]],
                                         set[tuple[int, int]], float]:
    count = draw(st.integers(0, 12))
    booked = [callback(lead, draw(st.sampled_from(SEATS)),
                       T0 + draw(st.floats(-30, TICKS, allow_nan=False)))
              for lead in range(count)]
    free = [{seat: draw(st.booleans()) for seat in SEATS} for _ in range(TICKS)]
    failures = draw(st.sets(st.tuples(st.integers(0, max(count - 1, 0)),
                                      st.integers(0, TICKS - 1)), max_size=20))
    return booked, free, failures, draw(st.sampled_from([1.0, 2.5, 5.0, 10.0]))


def run(booked: list[Callback], free: list[dict[str, bool]],
        failures: set[tuple[int, int]], interval: float | None) -> list[tuple[int, int, str]]:
    """(tick, lead, seat) placed, the store read every `interval` seconds, or every tick
    (None) as ``_callbacks`` did before: the callbacks due now, oldest first, each placed
    if its seat is available."""
    store = {c.lead_id: c for c in booked}
    cache = DueCallbacks(interval or 1.0)
    placed = []
    for tick in range(TICKS):
        now = T0 + tick
        states = seats(**{s: AVAILABLE if up else ON_CALL for s, up in free[tick].items()})
        if interval is None:
            due = sorted((c for c in store.values() if c.at <= now),
                         key=lambda c: (c.at, c.lead_id))
            ready = [c for c in due if states[c.seat_id].state is AVAILABLE]
        else:
            if cache.due(now):
                read(cache, now, store.values())
            ready = cache.ready(now, states, set())
        for c in ready:
            if (c.lead_id, tick) in failures:
                continue
            placed.append((tick, c.lead_id, c.seat_id))
            cache.placed(c)
            store.pop(c.lead_id, None)  # the claim clears the callback in the store
    return placed


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_reading_on_a_schedule_places_what_reading_every_tick_placed(
    scenario: tuple[list[Callback], list[dict[str, bool]], set[tuple[int, int]], float],
) -> None:
    booked, free, failures, interval = scenario
    every_tick = run(booked, free, failures, None)
    assert run(booked, free, failures, interval) == every_tick
    leads = [lead for _, lead, _ in every_tick]
    assert len(leads) == len(set(leads))  # none placed twice
