"""The records the AMI adapter hands to the rest of the service.

An event is a plain ``dict`` of header -> value exactly as Asterisk sent it (repeated
headers such as ``ChanVariable`` become lists). Plain dicts keep the ingest path cheap;
the tracker reads the few headers it needs by name.
"""

from __future__ import annotations

from dataclasses import dataclass

AmiEvent = dict[str, "str | list[str]"]


@dataclass(frozen=True, slots=True)
class EventBatch:
    """Events read from one node in one socket read, in arrival order.

    ``first_seq`` numbers the first event; the rest follow consecutively. Sequence
    numbers let a resync snapshot say which events it already accounts for.
    """

    node: str
    first_seq: int
    events: list[AmiEvent]
    received_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Asterisk's own view of one node, taken after a (re)connect.

    ``seq`` is the number of events received before the last list completed: events
    numbered at or below it are already reflected in the snapshot.
    """

    node: str
    seq: int
    taken_at: float
    queue_status: list[AmiEvent]
    channels: list[AmiEvent]
    device_states: list[AmiEvent]
