"""A call's timeline: history's entries completed with the writer's (cti/api/timeline.py).

Given/when/then examples, and the property the detail relies on: whichever leading part
of the writer's entries history has committed by the time it is read, the merge is the
timeline history shows once it has them all.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from cti.api.schemas import TimelineEntryOut
from cti.api.timeline import merge_timeline

T0 = 1_717_200_000.0  # 2024-06-01T00:00:00Z


def e(kind: str, seconds: float, **detail: object) -> TimelineEntryOut:
    return TimelineEntryOut(
        kind=kind, at=datetime.fromtimestamp(T0 + seconds, UTC), detail=dict(detail)
    )


def history_order(entries: list[TimelineEntryOut]) -> list[TimelineEntryOut]:
    """``call_events`` ``ORDER BY at, id``: ids follow arrival."""
    return sorted(entries, key=lambda x: x.at)


def test_without_unwritten_entries_history_is_the_timeline() -> None:
    stored = [e("started", 0), e("answered", 5)]
    assert merge_timeline(stored, []) == stored


def test_the_entries_not_written_yet_come_after_historys() -> None:
    stored = [e("started", 0), e("answered", 5)]
    unwritten = [e("ended", 60, cause="Normal Clearing")]
    assert merge_timeline(stored, unwritten) == [*stored, *unwritten]


def test_an_entry_committed_between_the_two_reads_counts_once() -> None:
    """Given the writer's entries read first, when it commits the first of them before
    history is read, then that entry is in both and shown once."""
    unwritten = [e("ended", 60, cause="Normal Clearing"), e("completed", 61, talk_seconds=55)]
    stored = [e("started", 0), e("ended", 60, cause="Normal Clearing")]
    assert merge_timeline(stored, unwritten) == [
        e("started", 0),
        e("ended", 60, cause="Normal Clearing"),
        e("completed", 61, talk_seconds=55),
    ]


def test_entries_take_their_place_by_time_arrival_breaking_ties() -> None:
    """A late entry older than one history has, and one as old as a stored one, sit where
    ``ORDER BY at, id`` will put them once written."""
    stored = [e("started", 0), e("ended", 60)]
    unwritten = [e("completed", 59), e("wrap_up", 60)]
    assert merge_timeline(stored, unwritten) == [
        e("started", 0),
        e("completed", 59),
        e("ended", 60),
        e("wrap_up", 60),
    ]


def test_detail_key_order_does_not_make_another_entry() -> None:
    """jsonb hands a detail back with its keys in its own order: still the same entry."""
    held = TimelineEntryOut(kind="completed", at=e("x", 1).at, detail={"a": 1, "b": "x"})
    read = TimelineEntryOut(kind="completed", at=e("x", 1).at, detail={"b": "x", "a": 1})
    assert merge_timeline([read], [held]) == [read]


@st.composite
def a_gap(draw: st.DrawFn) -> tuple[list[TimelineEntryOut], int, int]:
    """A call's entries in arrival order (times in any order, ties included), how many
    history had when the writer was read, and how many more it had when history was."""
    times = draw(st.lists(st.integers(0, 5), min_size=0, max_size=12))
    entries = [e("k", t, seq=i) for i, t in enumerate(times)]
    written = draw(st.integers(0, len(entries)))
    more = draw(st.integers(0, len(entries) - written))
    return entries, written, more


@given(a_gap())
def test_the_merge_is_the_timeline_history_will_show(
    gap: tuple[list[TimelineEntryOut], int, int],
) -> None:
    entries, written, more = gap
    unwritten = entries[written:]  # the writer's, read first
    stored = history_order(entries[: written + more])  # then history, a little later
    assert merge_timeline(stored, unwritten) == history_order(entries)
