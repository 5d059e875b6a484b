"""The re-read schedule the campaign runner's counters and callbacks share
(cti/outbound/reread.py); each one's own schedule is checked in test_outbound_counts.py
and test_outbound_callbacks.py."""

from __future__ import annotations

from cti.outbound.reread import reread_due

T0 = 1_750_000_000.0


def test_a_read_is_due_first_then_each_interval_and_when_the_clock_goes_back() -> None:
    assert reread_due(None, 60.0, T0)  # never read
    assert not reread_due(T0, 60.0, T0)
    assert not reread_due(T0, 60.0, T0 + 59.999)
    assert reread_due(T0, 60.0, T0 + 60.0)  # the interval gone by, to the instant
    assert reread_due(T0, 60.0, T0 - 0.001)  # the clock went back
