"""How a call ended when nobody was following Asterisk, from its channel event log (pure).

The tracker learns a call's end from AMI. Two gaps hide it:

- the AMI connection drops and comes back: a call that ended in between is closed at the
  reconnect (the resync's ``ended_unseen``), so its end, talk or wait time runs on to the
  reconnect, and a caller an agent took in the gap is an abandon;
- the service stops (a deploy, a crash, a failover to a standby): a call history holds as
  up, which ended before the next leader looked, stays up in history for ever, and out of
  every report.

Asterisk writes its channel event log (CEL) into our database whether or not the service
runs (``asterisk-conf/cel.conf``). From a call's rows (all its channels share its
Linkedid) :func:`ending` tells when its last channel ended, and, where history missed it,
the seat that took it (the first seat channel to enter a bridge). What history heard
itself stands; only what the gap cost is replaced: times that ran on to the reconnect,
and the answer history never heard.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from cti.outbound.settle import ChannelEvent
from cti.tracker.seats import seat_id_of


@dataclass(frozen=True, slots=True)
class Recorded:
    """A call as history holds it; times in epoch seconds. ``ended_at`` None: history
    still holds it as up."""

    id: str
    linkedid: str
    seat_id: str | None
    queued_at: float | None
    answered_at: float | None
    ended_at: float | None
    wait_seconds: int | None
    talk_seconds: int | None
    abandoned: bool
    inbound: bool = True
    left_queue: bool = False  # history heard the caller leave the queue unanswered


@dataclass(frozen=True, slots=True)
class Ending:
    """The call's figures as the log corrects them, and which ones changed."""

    ended_at: float
    answered_at: float | None
    seat_id: str | None
    wait_seconds: int | None
    talk_seconds: int | None
    abandoned: bool
    changed: tuple[str, ...]


def ending(call: Recorded, events: Sequence[ChannelEvent],
           trunks: Collection[str]) -> Ending | None:
    """The call's end as its channel event log tells it; None while the log does not know
    it: no rows (an Asterisk without the log, or rows swept), or a channel with no end row
    yet (still up, or cel_pgsql still writing behind)."""
    ended = {e.uniqueid: e.at for e in events if e.kind == "CHAN_END"}
    if not ended or {e.uniqueid for e in events} - ended.keys():
        return None
    end = max(ended.values())
    connect = next(((e.at, seat) for e in events if e.kind == "BRIDGE_ENTER"
                    and (seat := seat_id_of(e.channel)) is not None and seat not in trunks),
                   None)
    answered_at, seat_id = call.answered_at, call.seat_id
    # Taken in the gap: an inbound caller a seat's channel joined. (An outbound call's
    # seat is on it from the start, click-to-dial's agent before the customer answers:
    # its bridging says nothing of the customer.)
    if answered_at is None and connect is not None and call.inbound:
        answered_at, seat_id = connect[0], seat_id or connect[1]

    talk = call.talk_seconds
    if answered_at is not None and (talk is None or answered_at != call.answered_at
                                    or _ran_on(talk, answered_at, call.ended_at)):
        talk = max(0, round(end - answered_at))
    wait = call.wait_seconds
    if call.queued_at is not None:
        left = answered_at if answered_at is not None else end
        if (wait is None or answered_at != call.answered_at
                or (answered_at is None and _ran_on(wait, call.queued_at, call.ended_at))):
            wait = max(0, round(left - call.queued_at))
    # Taken by a seat: never an abandon. Closed at a reconnect: the tracker judged it (it
    # knew whether the caller left the queue for voicemail). Never closed: queued and not
    # taken is an abandon, unless history heard the caller leave the queue (voicemail);
    # a voicemail exit nobody heard the log cannot tell from an abandon.
    if call.ended_at is not None:
        abandoned = call.abandoned and answered_at is None
    else:
        abandoned = answered_at is None and call.queued_at is not None and not call.left_queue
    changed = tuple(name for name, before, after in (
        ("ended_at", call.ended_at, end), ("answered_at", call.answered_at, answered_at),
        ("seat_id", call.seat_id, seat_id), ("wait_seconds", call.wait_seconds, wait),
        ("talk_seconds", call.talk_seconds, talk), ("abandoned", call.abandoned, abandoned),
    ) if before != after)
    return Ending(end, answered_at, seat_id, wait, talk, abandoned, changed)


def _ran_on(seconds: int, since: float, closed_at: float | None) -> bool:
    """Whether a figure was counted from ``since`` to the time history closed the call (a
    reconnect), rather than heard from Asterisk (app_queue's own talk time)."""
    return closed_at is not None and seconds == max(0, round(closed_at - since))
