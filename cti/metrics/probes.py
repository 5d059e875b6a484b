"""Component figures read at scrape time from the parts that keep them.

The composition root names each figure and how to read it (a ``Probe``); this module
only turns readings into metric families. A probe that fails is left out of that scrape
and counted, rather than failing the whole page: a half-built part must not blind the
dashboard to the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

#: One unlabelled number, or numbers by their label values (in ``labels`` order).
Reading = float | Mapping[tuple[str, ...], float]


@dataclass(frozen=True, slots=True)
class Probe:
    name: str  # without the ``_total`` a counter is exposed with
    help: str
    read: Callable[[], Reading]
    kind: Literal["counter", "gauge"] = "gauge"
    labels: tuple[str, ...] = ()


def family(probe: Probe, reading: Reading) -> Metric:
    labels = list(probe.labels)
    metric: CounterMetricFamily | GaugeMetricFamily = (
        CounterMetricFamily(probe.name, probe.help, labels=labels) if probe.kind == "counter"
        else GaugeMetricFamily(probe.name, probe.help, labels=labels))
    if isinstance(reading, Mapping):
        for values, number in sorted(reading.items()):
            metric.add_metric(list(values), float(number))
    else:
        if probe.labels:
            raise ValueError(f"probe {probe.name} has labels but read one number")
        metric.add_metric([], float(reading))
    return metric


class ProbeCollector(Collector):
    def __init__(self, probes: Sequence[Probe] = ()) -> None:
        self._probes = list(probes)
        self.failures = 0

    def add(self, *probes: Probe) -> None:
        self._probes.extend(probes)

    def describe(self) -> list[Metric]:
        return []  # read only when scraped, never at registration

    def collect(self) -> Iterator[Metric]:
        for probe in self._probes:
            try:
                reading = probe.read()
                yield family(probe, reading)
            except Exception:
                self.failures += 1
                log.exception("metrics: could not read %s", probe.name)
        yield CounterMetricFamily("cti_metrics_probe_failures",
                                  "Figures left out of a scrape because reading them failed.",
                                  value=self.failures)
