"""What Asterisk's channel event log says of a dial the runner no longer hears (pure).

A runner keeps its calls in flight in memory (``dials.DialBook``) and learns how each
ended from AMI events. Two things break that: the service stops while calls are up (a
deploy, a crash: the next process starts with an empty book while the customers are
still ringing, queued or talking), and AMI events are lost (a reconnect: a Hangup missed
leaves the dial in the book for ever). Without a settlement the attempt keeps no outcome:
an abandon the regulators count goes uncounted, its number is called again inside the 72
hours, and an answered call shows as never ended.

Asterisk writes its channel event log (CEL) into the service's database whether the
service runs or not (``asterisk-conf/cel.conf``). From a call's rows (all its channels
share the customer channel's Linkedid, the dial's ``channel_id``) this module tells what
happened: answered (the customer channel's ANSWER), connected (a seat's channel entered
the bridge), abandoned (the dialplan's ``cti-abandoned`` mark), ended (HANGUP with its
cause, CHAN_END). The runner then either takes the dial back into its book (still up:
its end will be heard) or records its outcome (``dials.outcome_of``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from cti.outbound.dials import Dial
from cti.tracker.seats import seat_id_of

#: The dialplan's mark on an answered call no agent took in time (extensions_outbound.conf).
ABANDON_MARK = "cti-abandoned"


@dataclass(frozen=True, slots=True)
class ChannelEvent:
    """One CEL row of a call, times in epoch seconds."""

    uniqueid: str
    kind: str  # eventtype: ANSWER, BRIDGE_ENTER, USER_DEFINED, HANGUP, CHAN_END
    at: float
    channel: str = ""  # channame: PJSIP/2001-0000000a
    mark: str | None = None  # userdeftype of a USER_DEFINED event
    extra: str | None = None  # HANGUP: {"hangupcause": 17, ...}


@dataclass(frozen=True, slots=True)
class Heard:
    """What the log says of one dial so far."""

    answered_at: float | None = None
    connected_at: float | None = None
    seat_id: str | None = None
    abandoned: bool = False
    ended_at: float | None = None  # the channel is gone
    cause: int | None = None  # its Q.850 hangup cause
    #: Click-to-dial, whose channel (the agent's side) dials the customer: whether a
    #: trunk channel (the customer's) was in the call, and the channel's DIALSTATUS.
    dialed: bool = False
    dial_status: str | None = None

    @property
    def logged(self) -> bool:
        """Whether the log knows the call at all (not: Asterisk without CEL, or lost)."""
        return (self.answered_at is not None or self.ended_at is not None
                or self.connected_at is not None or self.abandoned)


def _extra(extra: str | None, key: str) -> object:
    if not extra:
        return None
    try:
        return json.loads(extra).get(key)
    except (ValueError, AttributeError):
        return None


def _cause(extra: str | None) -> int | None:
    value = _extra(extra, "hangupcause")
    return value if isinstance(value, int) else None


def _dial_status(extra: str | None) -> str | None:
    value = _extra(extra, "dialstatus")
    return value if isinstance(value, str) and value else None


def heard(channel_id: str, events: Iterable[ChannelEvent], trunk: str) -> Heard:
    """What the log says of the dial whose customer channel is ``channel_id``, from the
    events of its call in order; ``trunk``: the customers' endpoint (not a seat)."""
    answered_at = connected_at = ended_at = None
    seat_id: str | None = None
    abandoned = dialed = False
    cause: int | None = None
    status: str | None = None
    for event in events:
        own = event.uniqueid == channel_id
        dialed = dialed or (not own and seat_id_of(event.channel) == trunk)
        if own and event.kind == "ANSWER":
            answered_at = answered_at or event.at
        elif own and event.kind == "USER_DEFINED" and event.mark == ABANDON_MARK:
            abandoned = True  # only an answered call reaches the mark
            answered_at = answered_at or event.at
        elif own and event.kind == "HANGUP":
            cause, status = _cause(event.extra), _dial_status(event.extra)
            ended_at = ended_at or event.at
        elif own and event.kind == "CHAN_END":
            ended_at = ended_at or event.at
        elif not own and event.kind == "BRIDGE_ENTER" and connected_at is None:
            seat = seat_id_of(event.channel)
            if seat is not None and seat != trunk:
                connected_at, seat_id = event.at, seat
    if connected_at is not None:
        abandoned = False  # the mark comes only from the path where Queue gave up
        answered_at = answered_at or connected_at
    return Heard(answered_at, connected_at, seat_id, abandoned, ended_at, cause, dialed,
                 status)


def add_heard(dial: Dial, said: Heard) -> None:
    """Add to ``dial`` what the log says of it. What the runner heard itself stands: the
    log only adds (cel_pgsql writes behind the call, so a row can still be on its way;
    taking the log's word over the runner's would turn a call whose connect the runner
    heard, but whose BRIDGE_ENTER row is not written yet, into an abandon)."""
    dial.answered_at = dial.answered_at or said.answered_at
    if dial.connected_at is None and said.connected_at is not None:
        dial.connected_at, dial.seat_id = said.connected_at, said.seat_id
    dial.abandoned = (dial.abandoned or said.abandoned) and dial.connected_at is None
