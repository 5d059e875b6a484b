"""Prometheus metrics (``GET /metrics``): what is happening now, and counts since start.

- ``live``: gauges read from the live mirror at scrape time (seats by state, calls
  waiting per skill group and the oldest wait, active calls); pure functions.
- ``events``: counters and wait histograms fed by the bus (calls queued, answered and
  abandoned per skill group, seat transitions), so a dashboard can compute a service
  level over any window with ``rate()``.
- ``probes``: component figures the composition root names (AMI connections, history
  writer backlog, event stream clients, running campaigns' abandon rates...).
- ``http``: requests per route template and status, with their latency.

``Metrics`` (``registry``) owns one registry per app, so several apps in one process
(the tests) never share figures.
"""

from cti.metrics.registry import Metrics

__all__ = ["Metrics"]
