"""Pages of ended calls merged from history and the writer's pending calls (cti/api/paging.py).

The property: whatever history holds, whichever calls are pending and whatever the page,
fetching history's rows in ``store_window`` and merging them with ``merge_page`` gives the
page of the whole merged list, and asks history for at most one row per pending call
more than the page.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from cti.api.paging import merge_page, store_window
from cti.api.schemas import CallOut
from cti.domain.model import CallDirection, CallState

T0 = 1_717_200_000.0


def ended(n: int, started: int) -> CallOut:
    return CallOut(
        id=f"node1:{n}.1",
        node="node1",
        linkedid=f"{n}.1",
        direction=CallDirection.INBOUND,
        state=CallState.ENDED,
        active=False,
        customer_number="+3312345678",
        started_at=datetime.fromtimestamp(T0 + started, tz=UTC),
    )


def newest_first(calls: list[CallOut]) -> list[CallOut]:
    return sorted(calls, key=lambda c: (c.started_at, c.id), reverse=True)


def page(history: list[CallOut], held: list[CallOut], offset: int, limit: int) -> list[str]:
    rows_offset, rows_limit = store_window(offset, limit, len(held))
    assert rows_limit <= limit + len(held)
    rows = history[rows_offset : rows_offset + rows_limit]
    return [c.id for c in merge_page(rows, rows_offset, held, offset, limit)]


def test_with_nothing_pending_history_is_asked_for_the_page_itself() -> None:
    assert store_window(40, 10, 0) == (40, 10)
    assert store_window(40, 0, 3) == (40, 0)  # only the total


def test_a_pending_call_takes_its_place_among_history_rows() -> None:
    history = newest_first([ended(n, n) for n in (80, 70, 60)])
    held = [ended(75, 75)]
    assert page(history, held, 0, 10) == ["node1:80.1", "node1:75.1", "node1:70.1", "node1:60.1"]
    assert page(history, held, 1, 2) == ["node1:75.1", "node1:70.1"]
    assert page(history, held, 3, 2) == ["node1:60.1"]
    assert page(history, held, 4, 2) == []


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[tuple[int, bool]], int, int]:
    """(start, pending) per call, starts that may tie (then the id decides); a page
    anywhere in the merged list, or just past it."""
    calls = draw(st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=25))
    return calls, draw(st.integers(0, len(calls) + 1)), draw(st.integers(0, len(calls) + 1))


@settings(max_examples=300)
@given(scenarios())
def test_merged_pages_are_slices_of_the_merged_list(
    scenario: tuple[list[tuple[int, bool]], int, int],
) -> None:
    calls, offset, limit = scenario
    history = newest_first([ended(n, start) for n, (start, held) in enumerate(calls) if not held])
    held = newest_first([ended(n, start) for n, (start, held) in enumerate(calls) if held])
    everything = [c.id for c in newest_first(history + held)]
    assert page(history, held, offset, limit) == everything[offset : offset + limit]
