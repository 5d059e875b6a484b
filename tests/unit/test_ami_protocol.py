"""The AMI adapter's pure parts: parsing, injection checks, backoff."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cti.ami.backoff import Backoff
from cti.ami.errors import AmiUnsafeValue
from cti.ami.protocol import CtiProtocol, parse_message
from cti.ami.values import check_action


def test_parse_keeps_repeated_headers_in_order() -> None:
    raw = "Event: Newchannel\r\nChanVariable: A=1\r\nChanVariable: B=2\r\nUniqueid: 1.2"
    assert parse_message(raw) == {
        "Event": "Newchannel",
        "ChanVariable": ["A=1", "B=2"],
        "Uniqueid": "1.2",
    }


def test_values_with_line_breaks_or_nul_never_reach_the_socket() -> None:
    for bad in ("1001\r\nAction: Originate", "x\nApplication: System", "a\x00b", "z\r"):
        with pytest.raises(AmiUnsafeValue) as err:
            check_action({"Action": "QueuePause", "Interface": bad})
        assert err.value.header == "Interface"
    with pytest.raises(AmiUnsafeValue):
        check_action({"Bad Header": "x"})
    with pytest.raises(AmiUnsafeValue):
        check_action({"Action": "Originate", "Variable": ["ok=1", "evil=\n"]})
    with pytest.raises(AmiUnsafeValue):
        check_action({"Action": "Originate", "CallerID": "x" * 1200})
    assert check_action({"Action": "Ping", "Timeout": 5}) == {"Action": "Ping", "Timeout": "5"}


class _Transport:
    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def write(self, data: bytes) -> None:
        pass


def _feed(chunks: list[bytes]) -> list[dict[str, object]]:
    got: list[dict[str, object]] = []
    proto = CtiProtocol(lambda first, events: got.extend(events), lambda exc: None)
    proto.connection_made(_Transport())  # type: ignore[arg-type]
    for chunk in chunks:
        proto.data_received(chunk)
    return got


def test_a_utf8_character_split_across_reads_survives() -> None:
    msg = "Event: Newchannel\r\nCallerIDName: Zhāng Wěi 张伟\r\n\r\n".encode()
    cut = msg.index("张".encode()) + 1  # inside the three bytes of 张
    events = _feed([b"Asterisk Call Manager/9.0.0\r\n", msg[:cut], msg[cut:]])
    assert events == [{"Event": "Newchannel", "CallerIDName": "Zhāng Wěi 张伟"}]


@given(st.lists(st.integers(min_value=1, max_value=200), max_size=20))
def test_events_are_the_same_however_the_stream_is_cut(cuts: list[int]) -> None:
    stream = b"".join(
        f"Event: E{i}\r\nQueue: sales\r\nName: Ünïcødé {i}\r\n\r\n".encode() for i in range(30)
    )
    chunks, pos = [], 0
    for c in cuts:
        chunks.append(stream[pos : pos + c])
        pos += c
    chunks.append(stream[pos:])
    events = _feed(chunks)
    assert [e["Event"] for e in events] == [f"E{i}" for i in range(30)]
    assert events[7]["Name"] == "Ünïcødé 7"


def test_shutdown_from_asterisk_closes_the_connection() -> None:
    got: list[dict[str, object]] = []
    transport = _Transport()
    proto = CtiProtocol(lambda first, events: got.extend(events), lambda exc: None)
    proto.connection_made(transport)  # type: ignore[arg-type]
    proto.data_received(b"Event: Shutdown\r\nShutdown: Cleanly\r\nRestart: True\r\n\r\n")
    assert transport.closed and got[0]["Event"] == "Shutdown"


def test_backoff_grows_exponentially_with_jitter_and_is_capped() -> None:
    b = Backoff(0.5, 8.0, rng=random.Random(1))
    delays = [b.next_delay() for _ in range(12)]
    assert all(0.05 <= d <= 8.0 for d in delays)
    ceilings = [min(8.0, 0.5 * 2**i) for i in range(12)]
    assert all(d <= c for d, c in zip(delays, ceilings, strict=True))
    assert max(delays[6:]) > 2.0  # it does grow
    b.reset()
    assert b.next_delay() <= 0.5
