"""What Asterisk's app_queue timing means for the dialer (pure).

A customer who answers while no agent is free waits in ``Queue()`` (``[cti-dialer]``)
for at most ``connect_seconds``. app_queue does not hand a waiting caller an agent the
moment one frees up: the caller rechecks for a free member every RECHECK second
(app_queue.c, ``wait_our_turn``), counted from when it joined, and at the deadline the
timeout wins (bench/campaign_live: 18% of the live calls were offered exactly 1.00 s
after they joined, none later). With the 2 s deadline an agent who frees up after the
answer takes the call only if free by the 1 s recheck; the pacer must count only those
(`dialer.pacing.PacingSettings.connect_window`), or it over-dials on agents that
app_queue cannot reach in time.
"""

from __future__ import annotations

import math

#: app_queue's RECHECK: how often a waiting caller looks for a free member (seconds).
RECHECK_SECONDS = 1.0


def connect_window(connect_seconds: float, recheck: float = RECHECK_SECONDS) -> float:
    """How long after the answer an agent who frees up can still be handed the call: the
    last recheck strictly before the deadline (0: only agents free at the answer)."""
    if connect_seconds <= 0 or recheck <= 0:
        raise ValueError("connect_seconds and recheck must be positive")
    return (math.ceil(connect_seconds / recheck) - 1) * recheck
