"""Gauges of what is happening now, computed from the live mirror at scrape time.

Pure: plain data in, metric families out. Every seat state and every known skill group
gets a sample even at zero, so a dashboard's series do not vanish when a count drops to 0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from cti.domain.model import Call, CallState, Seat, SeatState, SkillGroup, is_supervision_leg

#: Calls that are still waiting for a seat: queued, or being offered to one.
WAITING = frozenset({CallState.QUEUED, CallState.RINGING})


def seat_families(seats: Iterable[Seat]) -> list[Metric]:
    by_state: Counter[SeatState] = Counter()
    by_reason: Counter[str] = Counter()
    for seat in seats:
        by_state[seat.state] += 1
        if seat.state is SeatState.PAUSED:
            by_reason[seat.pause_reason or ""] += 1
    states = GaugeMetricFamily("cti_seats", "Seats by state, now.", labels=["state"])
    for state in SeatState:
        states.add_metric([state.value], by_state[state])
    paused = GaugeMetricFamily("cti_seats_paused", "Paused seats by pause reason, now.",
                               labels=["reason"])
    for reason, count in sorted(by_reason.items()):
        paused.add_metric([reason], count)
    return [states, paused]


def group_families(groups: Mapping[str, SkillGroup], seats: Mapping[str, Seat],
                   calls: Iterable[Call], now: float) -> list[Metric]:
    waiting = GaugeMetricFamily(
        "cti_skill_group_calls_waiting", "Callers waiting in the skill group, as Asterisk "
        "counts them.", labels=["group"])
    oldest = GaugeMetricFamily(
        "cti_skill_group_oldest_wait_seconds", "How long the longest-waiting caller of the "
        "skill group has waited (0: nobody waits).", labels=["group"])
    agents = GaugeMetricFamily(
        "cti_skill_group_agents", "Members of the skill group by their seat's state.",
        labels=["group", "state"])
    longest: dict[str, float] = {}
    for call in calls:
        if call.state in WAITING and call.skill_group and call.queued_at is not None:
            waited = max(0.0, now - call.queued_at)
            longest[call.skill_group] = max(longest.get(call.skill_group, 0.0), waited)
    for name in sorted(groups):
        group = groups[name]
        waiting.add_metric([name], group.calls_waiting)
        oldest.add_metric([name], longest.get(name, 0.0))
        states = Counter(seats[m].state if m in seats else SeatState.OFFLINE
                         for m in group.members)
        for state in SeatState:
            agents.add_metric([name, state.value], states[state])
    return [waiting, oldest, agents]


def call_families(calls: Iterable[Call]) -> list[Metric]:
    counts = Counter((c.direction.value, c.state.value) for c in calls
                     if not is_supervision_leg(c.id))
    active = GaugeMetricFamily("cti_calls_active", "Calls in progress by direction and state.",
                               labels=["direction", "state"])
    for (direction, state), count in sorted(counts.items()):
        active.add_metric([direction, state], count)
    return [active]
