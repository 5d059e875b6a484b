"""When a copy kept between reads of the store is to be read again (pure).

The campaign runner keeps its abandon counters (:mod:`cti.outbound.counts`) and its due
callbacks (:mod:`cti.outbound.callbacks`) in memory and re-reads each on its own
schedule rather than every tick; both follow this rule, as do the dialer's own chores
(sweeping the channel event log, settling click-to-dial's calls nobody follows).
"""

from __future__ import annotations


def reread_due(read_at: float | None, interval: float, now: float) -> bool:
    """A read is due at `now`: never read (`read_at` None), `interval` gone by since,
    or a clock that went back (what was read may be stale, and the schedule would
    otherwise wait out the jump)."""
    return read_at is None or now >= read_at + interval or now < read_at
