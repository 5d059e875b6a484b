"""Running campaigns' figures, read from their runners once per scrape.

The counts are since the runner started (Prometheus reads a restart as a counter reset);
the abandon rates are the regulators' windows the pacer holds, so an alert on
``cti_campaign_abandon_rate > cti_campaign_abandon_target`` is the compliance alarm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from cti.outbound.runner import RunnerStatus

COUNTS = {
    "placed": "Calls the runner placed.",
    "answered": "Placed calls a person answered.",
    "connected": "Answered calls connected to an agent.",
    "abandoned": "Answered calls no agent took within the abandon limit.",
}


def campaign_families(statuses: Mapping[int, RunnerStatus]) -> list[Metric]:
    ids = sorted(statuses)
    dialing = GaugeMetricFamily("cti_campaign_dialing", "1 while the campaign's runner is "
                                "placing calls, 0 while it holds back (no agents, outside "
                                "hours, a problem).", labels=["campaign"])
    agents = GaugeMetricFamily("cti_campaign_agents", "The campaign's agents as its pacer "
                               "saw them on its last tick.", labels=["campaign", "state"])
    ringing = GaugeMetricFamily("cti_campaign_calls_ringing", "Customer calls ringing.",
                                labels=["campaign"])
    waiting = GaugeMetricFamily("cti_campaign_customers_waiting", "Answered customers "
                                "waiting for an agent.", labels=["campaign"])
    rate = GaugeMetricFamily("cti_campaign_abandon_rate", "Abandoned over live answers in "
                             "the rolling window.", labels=["campaign", "window"])
    target = GaugeMetricFamily("cti_campaign_abandon_target", "The abandon rate the "
                               "campaign must stay at or under.", labels=["campaign"])
    counts = {name: CounterMetricFamily(f"cti_campaign_calls_{name}", text,
                                        labels=["campaign"])
              for name, text in COUNTS.items()}
    for cid in ids:
        s, label = statuses[cid], str(cid)
        dialing.add_metric([label], 1.0 if s.dialing else 0.0)
        for state, count in (("free", s.agents_free), ("talking", s.agents_talking),
                             ("wrapping_up", s.agents_wrapping), ("paused", s.agents_paused)):
            agents.add_metric([label, state], count)
        ringing.add_metric([label], s.ringing)
        waiting.add_metric([label], s.waiting)
        rate.add_metric([label, "24h"], s.abandon_rate_24h)
        rate.add_metric([label, "30d"], s.abandon_rate_30d)
        target.add_metric([label], s.abandon_target)
        for name, family in counts.items():
            family.add_metric([label], getattr(s, name))
    return [dialing, agents, ringing, waiting, rate, target, *counts.values()]


class CampaignCollector(Collector):
    def __init__(self, statuses: Callable[[], Mapping[int, RunnerStatus]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        yield from campaign_families(self._statuses())

    def describe(self) -> list[Metric]:
        return []
