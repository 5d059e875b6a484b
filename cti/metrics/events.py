"""Counters fed by the bus: what happened since the service started.

Prometheus derives rates and windows from them (``increase(...[15m])``); the wait
histograms give a service level over any window: answered within 20 s is the
``le="20"`` bucket of ``cti_skill_group_answer_wait_seconds`` over all calls queued.
Runs on the bus, so it only counts: no I/O, nothing that can block.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram

from cti.domain.events import CallEnded, CallTimelineEntry, DomainEvent, SeatStateChanged

#: Seconds; the usual service-level thresholds (10, 15, 20, 30, 60 s) are all edges.
WAIT_BUCKETS = (5.0, 10.0, 15.0, 20.0, 30.0, 45.0, 60.0, 90.0, 120.0, 180.0, 300.0, 600.0)


class EventCounters:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.queued = Counter(
            "cti_skill_group_calls_queued", "Calls that joined the skill group.",
            ["group"], registry=registry)
        self.answered = Counter(
            "cti_skill_group_calls_answered", "Queued calls an agent of the group answered.",
            ["group"], registry=registry)
        self.abandoned = Counter(
            "cti_skill_group_calls_abandoned", "Callers who hung up while waiting in the group.",
            ["group"], registry=registry)
        self.unanswered_offers = Counter(
            "cti_skill_group_offers_unanswered", "Times a seat rang for a queued call and "
            "did not answer.", ["group"], registry=registry)
        self.talk = Counter(
            "cti_skill_group_talk_seconds", "Talk time of the group's completed calls.",
            ["group"], registry=registry)
        self.answer_wait = Histogram(
            "cti_skill_group_answer_wait_seconds", "How long answered callers waited.",
            ["group"], buckets=WAIT_BUCKETS, registry=registry)
        self.abandon_wait = Histogram(
            "cti_skill_group_abandon_wait_seconds", "How long callers waited before "
            "hanging up.", ["group"], buckets=WAIT_BUCKETS, registry=registry)
        self.calls_ended = Counter(
            "cti_calls_ended", "Calls that ended, by direction and whether anyone answered.",
            ["direction", "answered"], registry=registry)
        self.seat_changes = Counter(
            "cti_seat_state_changes", "Seat state changes, by the state entered.",
            ["state"], registry=registry)

    def on_events(self, events: Sequence[DomainEvent]) -> None:
        for event in events:
            if isinstance(event, CallTimelineEntry):
                self._timeline(event)
            elif isinstance(event, CallEnded):
                answered = "yes" if event.call.answered_at is not None else "no"
                self.calls_ended.labels(event.call.direction.value, answered).inc()
            elif isinstance(event, SeatStateChanged):
                self.seat_changes.labels(event.seat.state.value).inc()

    def _timeline(self, entry: CallTimelineEntry) -> None:
        group = entry.skill_group
        if not group:  # outbound and internal legs: not a queue's figure
            return
        detail = entry.detail or {}
        if entry.kind == "queued":
            self.queued.labels(group).inc()
        elif entry.kind == "answered":
            self.answered.labels(group).inc()
            _observe(self.answer_wait, group, detail.get("wait_seconds"))
        elif entry.kind == "abandoned":
            self.abandoned.labels(group).inc()
            _observe(self.abandon_wait, group, detail.get("wait_seconds"))
        elif entry.kind == "no_answer":
            self.unanswered_offers.labels(group).inc()
        elif entry.kind == "completed":
            talk = detail.get("talk_seconds")
            if isinstance(talk, int | float) and talk >= 0:
                self.talk.labels(group).inc(talk)


def _observe(histogram: Histogram, group: str, value: object) -> None:
    # app_queue leaves HoldTime out of some events; a call with no wait is not a 0 s wait.
    if isinstance(value, int | float) and value >= 0:
        histogram.labels(group).observe(value)
