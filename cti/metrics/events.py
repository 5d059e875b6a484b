"""Counters fed by the bus: what happened since the service started.

Prometheus derives rates and windows from them (``increase(...[15m])``); the wait
histograms give a service level over any window: answered within 20 s is the
``le="20.0"`` bucket of ``cti_skill_group_answer_wait_seconds`` over all calls queued.

This runs on the event path, for every event the tracker emits, so it keeps plain
counts (a dict increment) and builds metric families only when scraped: prometheus
client's own counters take two locks per increment, which cost the AMI pipeline a
measurable share of its throughput (bench/RESULTS.md, ``ami_ingest``).
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent, SeatStateChanged

#: Seconds; the usual service-level thresholds (10, 15, 20, 30, 60 s) are all edges.
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)

#: Per-group counters: metric name (without ``_total``) -> help.
GROUP_COUNTS = {
    "cti_skill_group_calls_queued": "Calls that joined the skill group.",
    "cti_skill_group_calls_answered": "Queued calls an agent of the group answered.",
    "cti_skill_group_calls_abandoned": "Callers who hung up while waiting in the group.",
    "cti_skill_group_offers_unanswered": "Times a seat rang for a queued call and did not "
                                         "answer.",
    "cti_skill_group_talk_seconds": "Talk time of the group's completed calls.",
}
#: Timeline kinds counted once per entry, by the counter they add to.
COUNTED = {"queued": "cti_skill_group_calls_queued",
           "answered": "cti_skill_group_calls_answered",
           "abandoned": "cti_skill_group_calls_abandoned",
           "no_answer": "cti_skill_group_offers_unanswered"}


@dataclass(slots=True)
class Waits:
    """One group's histogram: counts per bucket (not cumulative), their sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(WAIT_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(WAIT_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        running, out = 0, []
        for edge, count in zip((*WAIT_BUCKETS, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if edge == float("inf") else str(edge), float(running)))
        return out


class EventCounters(Collector):
    def __init__(self) -> None:
        self.groups: dict[str, Counter[str]] = {name: Counter() for name in GROUP_COUNTS}
        self.answer_wait: dict[str, Waits] = {}
        self.abandon_wait: dict[str, Waits] = {}
        self.calls_ended: Counter[tuple[str, str]] = Counter()
        self.seat_changes: Counter[str] = Counter()

    # -- the bus ------------------------------------------------------------------------
    def on_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallTimelineEntry):
                if event.skill_group:  # outbound and internal legs are no queue's figure
                    self._timeline(event, event.skill_group)
            elif isinstance(event, CallEnded):
                answered = "yes" if event.call.answered_at is not None else "no"
                self.calls_ended[(event.call.direction.value, answered)] += 1
            elif isinstance(event, SeatStateChanged):
                self.seat_changes[event.seat.state.value] += 1

    def _timeline(self, entry: CallTimelineEntry, group: str) -> None:
        kind = entry.kind
        counter = COUNTED.get(kind)
        if counter is not None:
            self.groups[counter][group] += 1
        if kind == "answered":
            _observe(self.answer_wait, group, entry.detail)
        elif kind == "abandoned":
            _observe(self.abandon_wait, group, entry.detail)
        elif kind == "completed":
            talk = (entry.detail or {}).get("talk_seconds")
            if isinstance(talk, int | float) and talk >= 0:
                self.groups["cti_skill_group_talk_seconds"][group] += int(talk)

    # -- the scrape ---------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        for name, text in GROUP_COUNTS.items():
            family = CounterMetricFamily(name, text, labels=["group"])
            for group, count in sorted(self.groups[name].items()):
                family.add_metric([group], count)
            yield family
        for name, text, waits in (
                ("cti_skill_group_answer_wait_seconds", "How long answered callers waited.",
                 self.answer_wait),
                ("cti_skill_group_abandon_wait_seconds", "How long callers waited before "
                 "hanging up.", self.abandon_wait)):
            histogram = HistogramMetricFamily(name, text, labels=["group"])
            for group, found in sorted(waits.items()):
                histogram.add_metric([group], found.buckets(), sum_value=found.total)
            yield histogram
        ended = CounterMetricFamily("cti_calls_ended", "Calls that ended, by direction and "
                                    "whether anyone answered.", labels=["direction", "answered"])
        for labels, count in sorted(self.calls_ended.items()):
            ended.add_metric(list(labels), count)
        yield ended
        changes = CounterMetricFamily("cti_seat_state_changes", "Seat state changes, by the "
                                      "state entered.", labels=["state"])
        for state, count in sorted(self.seat_changes.items()):
            changes.add_metric([state], count)
        yield changes

    def describe(self) -> list[Metric]:
        return []


def _observe(waits: dict[str, Waits], group: str, detail: dict[str, object] | None) -> None:
    # app_queue leaves HoldTime out of some events; a call with no wait is not a 0 s wait.
    seconds = (detail or {}).get("wait_seconds")
    if isinstance(seconds, int | float) and seconds >= 0:
        found = waits.get(group)
        if found is None:
            found = waits[group] = Waits()
        found.observe(seconds)
