"""One app's metrics: its registry, the parts that fill it, and the text page."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cti.domain.view import LiveView
from cti.health import HealthReporter, statuses
from cti.metrics import live
from cti.metrics.events import EventCounters
from cti.metrics.http import HttpMetrics
from cti.metrics.probes import Probe, ProbeCollector

#: The Prometheus text exposition format the page is written in.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Metrics:
    """Built by the app (live view, health) and fed by the composition root (bus
    counters, probes of its parts)."""

    def __init__(self, live_view: LiveView | None = None,
                 health: Sequence[HealthReporter] = (),
                 clock: Callable[[], float] = time.time) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http = HttpMetrics(self.registry)
        self.events = EventCounters()
        self.registry.register(self.events)
        self.probes = ProbeCollector()
        self.registry.register(self.probes)
        if live_view is not None:
            self.registry.register(_LiveCollector(live_view, clock))
        self.registry.register(_HealthCollector(health))

    def add(self, *probes: Probe) -> None:
        self.probes.add(*probes)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _LiveCollector(Collector):
    def __init__(self, view: LiveView, clock: Callable[[], float]) -> None:
        self._view = view
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        seats = self._view.seats()
        calls = list(self._view.active_calls().values())
        yield from live.seat_families(seats.values())
        yield from live.group_families(self._view.skill_groups(), seats, calls, self._clock())
        yield from live.call_families(calls)

    def describe(self) -> list[Metric]:
        return []  # families depend on what is live; nothing to check at registration


class _HealthCollector(Collector):
    def __init__(self, reporters: Sequence[HealthReporter]) -> None:
        self._reporters = reporters

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("cti_component_up", "1 while the component is healthy (what "
                               "/readyz reports), else 0.", labels=["component"])
        for status in statuses(self._reporters):
            up.add_metric([status.name], 1.0 if status.ok else 0.0)
        yield up

    def describe(self) -> list[Metric]:
        return []
