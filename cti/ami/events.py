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

    Its three lists are asked one after the other, and events keep arriving meanwhile, so
    each list accounts for the events received before it completed, and only for its own
    kind: a channel that started after QueueStatus answered is in CoreShowChannels, but
    its caller's QueueCallerJoin is not in QueueStatus. ``seq`` is where the first list
    (QueueStatus) completed; ``channels_seq`` and ``devices_seq`` where the other two did
    (None: at ``seq`` too).
    """

    node: str
    seq: int
    taken_at: float
    queue_status: list[AmiEvent]
    channels: list[AmiEvent]
    device_states: list[AmiEvent]
    channels_seq: int | None = None
    devices_seq: int | None = None

    def reflects(self, number: int, event: AmiEvent) -> bool:
        """Whether event ``number`` is already in the list that shows its kind of fact
        (then applying it again would count it twice; skipping one that is not would
        lose a call, a hangup or a pause)."""
        name = event.get("Event")
        name = name if isinstance(name, str) else ""
        if name.startswith(QUEUE_EVENT_PREFIXES):
            upto = self.seq
        elif name == "DeviceStateChange":
            upto = self.seq if self.devices_seq is None else self.devices_seq
        else:  # channels, and what happens on them (dials, hangups, recordings, digits)
            upto = self.seq if self.channels_seq is None else self.channels_seq
        return number < upto


#: Events whose facts QueueStatus reports: members, callers, and offers to agents.
QUEUE_EVENT_PREFIXES = ("Queue", "Agent")
