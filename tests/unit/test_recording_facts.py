"""What the tracker learns for recordings and supervision (MixMonitorStart, DTMFEnd), and
how the catalogue turns it into a recording's facts and its stream event."""

from __future__ import annotations

from datetime import UTC, datetime

from cti.ami.events import AmiEvent
from cti.domain.events import CallEnded, DtmfReceived
from cti.tracker.tracker import Tracker
from recordings import repository as repo
from recordings.catalogue import catalogued, facts_from_call

T0 = 1_717_200_000.0


def event(name: str, at: float, **headers: str) -> AmiEvent:
    out: AmiEvent = {"Event": name, "Timestamp": f"{at:.6f}"}
    out.update(headers)
    return out


def channel(uniqueid: str, at: float) -> AmiEvent:
    return event("Newchannel", at, Uniqueid=uniqueid, Linkedid="1.1",
                 Channel=f"PJSIP/trunk-{uniqueid}", Context="from-trunk",
                 CallerIDNum="0612345678", Exten="200")


def test_a_recorded_call_ends_with_its_recording_start_and_the_recorded_length() -> None:
    tracker = Tracker("node1")
    tracker.apply(channel("1.1", T0), T0)
    tracker.apply(event("MixMonitorStart", T0 + 2, Uniqueid="1.1"), T0 + 2)
    tracker.apply(event("MixMonitorStart", T0 + 5, Uniqueid="1.1"), T0 + 5)  # first wins
    out = tracker.apply(event("Hangup", T0 + 14.5, Uniqueid="1.1", Cause="16"), T0 + 14.5)
    ended = next(e for e in out if isinstance(e, CallEnded))
    assert ended.call.recording_started_at == T0 + 2
    facts = facts_from_call(ended)
    assert facts.call_seconds == 12.5


def test_a_call_never_recorded_has_no_recorded_length() -> None:
    tracker = Tracker("node1")
    tracker.apply(channel("1.1", T0), T0)
    out = tracker.apply(event("Hangup", T0 + 3, Uniqueid="1.1", Cause="16"), T0 + 3)
    ended = next(e for e in out if isinstance(e, CallEnded))
    assert facts_from_call(ended).call_seconds is None


def test_only_digits_a_phone_sent_on_a_known_channel_become_events() -> None:
    tracker = Tracker("node1")
    tracker.apply(channel("1.1", T0), T0)
    got = tracker.apply(event("DTMFEnd", T0 + 1, Uniqueid="1.1", Digit="5",
                              Direction="Received", DurationMs="120"), T0 + 1)
    assert list(got) == [DtmfReceived("node1", "node1:1.1", "1.1", "5", T0 + 1)]
    assert not tracker.apply(event("DTMFEnd", T0 + 2, Uniqueid="1.1", Digit="5",
                                   Direction="Sent"), T0 + 2)
    assert not tracker.apply(event("DTMFEnd", T0 + 3, Uniqueid="9.9", Digit="5",
                                   Direction="Received"), T0 + 3)


def row(duration: float, call_seconds: float | None) -> repo.Recording:
    return repo.Recording(
        id=7, call_id="node1:1.1", node="node1", direction="inbound", seat_id="1001",
        customer_number="0612345678", skill_group="sales", campaign=None,
        started_at=datetime.fromtimestamp(T0, tz=UTC), duration_seconds=duration,
        size_bytes=1000, sha256="0" * 64, channels=1, path="2024/06/01/1.1.wav",
        status="ready", legal_hold=False, legal_hold_reason=None, call_seconds=call_seconds)


def test_the_audio_gap_is_what_the_audio_lacks_of_the_recorded_call() -> None:
    assert row(7.25, 12.5).audio_gap_seconds == 5.25
    assert row(12.6, 12.5).audio_gap_seconds == 0.0  # never negative
    assert row(7.25, None).audio_gap_seconds is None


def test_a_catalogued_row_becomes_its_stream_event() -> None:
    e = catalogued(row(7.25, 12.5), T0 + 20)
    assert (e.recording_id, e.call_id, e.seat_id, e.skill_group, e.started_at) == \
        (7, "node1:1.1", "1001", "sales", T0)
    assert (e.duration_seconds, e.call_seconds, e.at) == (7.25, 12.5, T0 + 20)
