"""The in-memory lead-import tracker behind GET /v1/campaigns/{id}/imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cti.api.lead_imports import ImportTracker

T0 = datetime(2025, 6, 2, tzinfo=UTC)


def test_progress_then_done_or_failed() -> None:
    ticks = iter(T0 + timedelta(seconds=i) for i in range(100))
    tracker = ImportTracker(lambda: next(ticks))
    a = tracker.start(7)
    b = tracker.start(7)
    tracker.start(8)
    tracker.progress(a, rows=5000, imported=4900, rejected=100)
    running = tracker.of_campaign(7)
    assert [s.id for s in running] == [b, a]  # newest first
    assert (running[1].state, running[1].rows, running[1].imported) == ("running", 5000, 4900)
    tracker.finish(a, rows=6000, imported=5880, rejected=120)
    tracker.fail(b, "ClientDisconnect")
    done, failed = tracker.of_campaign(7)[1], tracker.of_campaign(7)[0]
    assert (done.state, done.rows) == ("done", 6000)
    assert (failed.state, failed.error) == ("failed", "ClientDisconnect")


def test_only_the_last_finished_imports_are_kept() -> None:
    tracker = ImportTracker(lambda: T0, keep=3)
    running = tracker.start(1)
    for _ in range(5):
        tracker.finish(tracker.start(1), 1, 1, 0)
    kept = tracker.of_campaign(1)
    assert len(kept) <= 4 and running in {s.id for s in kept}  # running ones are never dropped
