"""Pure conversions: domain events -> JSON-able records -> table rows for one batch.

A *record* is a flat dict that survives a JSON round trip (times as epoch floats), so
the same shape sits in memory, in spill files and in the batch builder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cti.domain.events import (
    CallEnded,
    CallTimelineEntry,
    CallUpdated,
    DomainEvent,
    SeatStateChanged,
)
from cti.domain.model import CallState

Record = dict[str, Any]

STORED_EVENTS: frozenset[type] = frozenset(
    {CallUpdated, CallEnded, CallTimelineEntry, SeatStateChanged}
)
_ENDED = CallState.ENDED.value
_CALL_TIMES = ("started_at", "queued_at", "answered_at", "ended_at")


def to_record(event: DomainEvent) -> Record | None:
    """The record history stores for ``event``, or None if history ignores it."""
    if isinstance(event, CallUpdated | CallEnded):
        call = event.call
        return {
            "t": "call",
            "id": call.id,
            "node": call.node,
            "linkedid": call.linkedid,
            "direction": call.direction.value,
            "state": _ENDED if isinstance(event, CallEnded) else call.state.value,
            "customer_number": call.customer_number,
            "skill_group": call.skill_group,
            "seat_id": call.seat_id,
            "started_at": call.started_at,
            "queued_at": call.queued_at,
            "answered_at": call.answered_at,
            "ended_at": call.ended_at,
            "wait_seconds": call.wait_seconds,
            "talk_seconds": call.talk_seconds,
            "hangup_cause": call.hangup_cause,
            "abandoned": call.abandoned,
            "campaign_id": call.campaign_id,
            "at": event.at,
        }
    if isinstance(event, CallTimelineEntry):
        return {
            "t": "event",
            "call_id": event.call_id,
            "kind": event.kind,
            "at": event.at,
            "seat_id": event.seat_id,
            "skill_group": event.skill_group,
            "detail": event.detail,
        }
    if isinstance(event, SeatStateChanged):
        seat = event.seat
        return {
            "t": "seat",
            "seat_id": seat.id,
            "node": seat.node,
            "interface": seat.interface,
            "state": seat.state.value,
            "previous": event.previous.value,
            "transition": event.transition,
            "pause_reason": seat.pause_reason,
            "call_id": seat.call_id,
            "at": event.at,
        }
    return None


def ended_call_ids(records: Iterable[Record]) -> list[str]:
    """The ids of the calls ``records`` end (a ``CallEnded``'s record each).

    Reads with ``get``: the writer asks also about records the database refused, which
    may be malformed.
    """
    return [
        rec["id"]
        for rec in records
        if rec.get("t") == "call" and rec.get("state") == _ENDED and isinstance(rec.get("id"), str)
    ]


def _ts(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def supersedes(old: Record, new: Record) -> bool:
    """Whether call record ``new`` may replace ``old``: never older, never un-ending.

    The same rule guards the SQL upsert, so a batch and the table agree.
    """
    return bool(new["at"] >= old["at"] and (old["state"] != _ENDED or new["state"] == _ENDED))


def call_event_row(rec: Record) -> dict[str, Any]:
    """The ``call_events`` row of a timeline record (``"t": "event"``).

    The API shows a call's timeline entries the writer has not written yet through this
    too (:meth:`cti.history.pending.PendingCalls.timeline`), so they read exactly as
    they will from the table.
    """
    return {
        "call_id": rec["call_id"],
        "kind": rec["kind"],
        "at": _ts(rec["at"]),
        "seat_id": rec["seat_id"],
        "skill_group": rec["skill_group"],
        "detail": rec["detail"],
    }


@dataclass(slots=True)
class Batch:
    """Rows for one transaction, built from records in submission order."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    call_events: list[dict[str, Any]] = field(default_factory=list)
    seat_log: list[dict[str, Any]] = field(default_factory=list)
    seats: list[dict[str, Any]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return len(self.calls) + len(self.call_events) + len(self.seat_log)


def build_batch(records: list[Record]) -> Batch:
    """Rows for ``records``: the latest state per call, every timeline and seat line."""
    latest: dict[str, Record] = {}
    seats: dict[str, dict[str, Any]] = {}
    batch = Batch()
    for rec in records:
        kind = rec["t"]
        if kind == "call":
            old = latest.get(rec["id"])
            if old is None or supersedes(old, rec):
                latest[rec["id"]] = rec
        elif kind == "event":
            batch.call_events.append(call_event_row(rec))
        elif kind == "seat":
            batch.seat_log.append(
                {
                    "seat_id": rec["seat_id"],
                    "node": rec["node"],
                    "state": rec["state"],
                    "previous": rec["previous"],
                    "transition": rec["transition"],
                    "pause_reason": rec["pause_reason"],
                    "call_id": rec["call_id"],
                    "at": _ts(rec["at"]),
                }
            )
            if rec["seat_id"] not in seats:
                seats[rec["seat_id"]] = {
                    "id": rec["seat_id"],
                    "node": rec["node"],
                    "interface": rec["interface"],
                }
        else:
            raise ValueError(f"unknown history record type {kind!r}")
    for rec in latest.values():
        row = {k: v for k, v in rec.items() if k not in ("t", "at")}
        row.setdefault("campaign_id", None)  # records spilled by an older version
        for name in _CALL_TIMES:
            row[name] = _ts(row[name])
        row["updated_at"] = _ts(rec["at"])
        batch.calls.append(row)
    batch.seats = list(seats.values())
    return batch
