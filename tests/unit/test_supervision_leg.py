"""A supervisor's listening leg is followed by the mirror (the supervision service needs
its start and end) but is no call of the centre's: not streamed, not counted, not stored
(the composition root filters history with the same rule)."""

from __future__ import annotations

from cti.domain.events import CallTimelineEntry, CallUpdated, about_supervision_leg
from cti.domain.model import Call, CallDirection, CallState, is_supervision_leg
from cti.metrics.live import call_families
from cti.stream.audience import Viewer
from cti.stream.deltas import DeltaEncoder
from tests.unit._api_fakes import FakeLiveView

SPY = "node1:cti-spy-0f3c"


def leg(call_id: str) -> Call:
    return Call(id=call_id, node="node1", linkedid=call_id.split(":")[1],
                direction=CallDirection.INTERNAL, state=CallState.DIALING,
                customer_number="s", started_at=1.0)


def test_only_the_supervision_prefix_after_the_node_marks_a_leg() -> None:
    assert is_supervision_leg(SPY)
    assert not is_supervision_leg("node1:1700.1")
    assert not is_supervision_leg("cti-spy-node:1700.1")  # a node's name is not the call


def test_a_listening_leg_is_neither_streamed_nor_counted() -> None:
    spy, customer = leg(SPY), leg("node1:1700.1")
    assert about_supervision_leg(CallUpdated(spy, 1.0))
    assert about_supervision_leg(CallTimelineEntry(SPY, "started", 1.0))
    encoder = DeltaEncoder(FakeLiveView(call_map={SPY: spy, customer.id: customer}))
    assert encoder.encode(CallUpdated(spy, 1.0)) == []
    assert encoder.encode(CallUpdated(customer, 1.0)) != []
    everyone = encoder.snapshot(Viewer(sees_all=True))
    assert [c["id"] for c in everyone["calls"]] == [customer.id]
    (active,) = call_families([spy, customer])
    assert [s.value for s in active.samples] == [1]
