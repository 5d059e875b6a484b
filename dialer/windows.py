"""The rolling windows a campaign's abandon rate is measured over: 24 hours and 30 days.

What the regulator measures, and so what the pacing rules guard (``day`` and ``month``
of :class:`dialer.pacing.AbandonCounters`). The store counts a campaign's attempts over
them (``cti/db/dialer_repository.py``, datetimes) and the campaign runner keeps those
counts between re-reads (``cti/outbound/counts.py``, epoch seconds): one definition in
both forms, so the two can never disagree on where a window starts.
"""

from __future__ import annotations

from datetime import timedelta

DAY_SECONDS = 24 * 3600.0
MONTH_SECONDS = 30 * DAY_SECONDS

DAY = timedelta(seconds=DAY_SECONDS)
MONTH = timedelta(seconds=MONTH_SECONDS)
