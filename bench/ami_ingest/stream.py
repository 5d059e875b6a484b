"""A synthetic AMI stream shaped like real queue-call traffic on Asterisk 22.

Each inbound call produces the events Asterisk 22 sends for a caller who joins a queue, is
offered to a seat, is answered, talks and hangs up, with the full channel snapshot headers
(and the ``Dest`` copy on agent events). ``raw`` mode adds what the shipped manager.conf
filters out (VarSet, Newexten, RTCPSent/Received) in the proportions seen on the bench
(about a third VarSet, a tenth RTCP); ``filtered`` mode is what the service really reads.
Many calls are interleaved, as under load.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

EOL = "\r\n"


def _snapshot(prefix: str, channel: str, state: str, desc: str, num: str, name: str,
              context: str, exten: str, uid: str, linked: str) -> list[tuple[str, str]]:
    return [
        (f"{prefix}Channel", channel),
        (f"{prefix}ChannelState", state),
        (f"{prefix}ChannelStateDesc", desc),
        (f"{prefix}CallerIDNum", num),
        (f"{prefix}CallerIDName", name),
        (f"{prefix}ConnectedLineNum", "<unknown>"),
        (f"{prefix}ConnectedLineName", "<unknown>"),
        (f"{prefix}Language", "en"),
        (f"{prefix}AccountCode", ""),
        (f"{prefix}Context", context),
        (f"{prefix}Exten", exten),
        (f"{prefix}Priority", "1"),
        (f"{prefix}Uniqueid", uid),
        (f"{prefix}Linkedid", linked),
    ]


def _event(name: str, ts: float, privilege: str, fields: list[tuple[str, str]]) -> str:
    head = [("Event", name), ("Privilege", privilege), ("Timestamp", f"{ts:.6f}")]
    return EOL.join(f"{k}: {v}" for k, v in head + fields) + EOL + EOL


def call_events(i: int, t0: float, raw: bool) -> list[str]:
    """All events of one answered queue call, customer i, seat 1000 + i % 200."""
    seat = f"{1000 + i % 200}"
    cuid, auid = f"{int(t0)}.{2 * i}", f"{int(t0)}.{2 * i + 1}"
    cchan, achan = f"PJSIP/trunk-{2 * i:08x}", f"PJSIP/{seat}-{2 * i + 1:08x}"
    num = f"+8613{i:09d}"
    cust = lambda st, d: _snapshot("", cchan, st, d, num, "Customer", "from-trunk", "200",  # noqa: E731
                                   cuid, cuid)
    agent = lambda p, st, d: _snapshot(p, achan, st, d, seat, f"Seat {seat}",  # noqa: E731
                                       "from-queue", "200", auid, cuid)
    member = [("Queue", "sales"), ("MemberName", f"PJSIP/{seat}"),
              ("Interface", f"PJSIP/{seat}")]

    def mstatus(status: str, incall: str) -> list[tuple[str, str]]:
        return [*member, ("StateInterface", f"PJSIP/{seat}"), ("Membership", "dynamic"),
                ("Penalty", "0"), ("CallsTaken", "3"), ("LastCall", str(int(t0))),
                ("LastPause", "0"), ("LoginTime", str(int(t0) - 3600)), ("InCall", incall),
                ("Status", status), ("Paused", "0"), ("PausedReason", ""),
                ("Ringinuse", "0"), ("Wrapuptime", "0")]

    t = t0
    out: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("Newchannel", "call,all", cust("4", "Ring")),
        ("Newstate", "call,all", cust("6", "Up")),
        ("QueueCallerJoin", "agent,all", [*cust("6", "Up"), ("Queue", "sales"),
                                          ("Position", "1"), ("Count", "1")]),
        ("Newchannel", "call,all", agent("", "0", "Down")),
        ("DialBegin", "call,all", [*cust("6", "Up"), *agent("Dest", "0", "Down"),
                                   ("DialString", seat)]),
        ("AgentCalled", "agent,all", [*cust("6", "Up"), *agent("Dest", "0", "Down"), *member]),
        ("DeviceStateChange", "call,all", [("Device", f"PJSIP/{seat}"), ("State", "RINGING")]),
        ("QueueMemberStatus", "agent,all", mstatus("6", "0")),
        ("Newstate", "call,all", agent("", "5", "Ringing")),
        ("Newstate", "call,all", agent("", "6", "Up")),
        ("DialEnd", "call,all", [*cust("6", "Up"), *agent("Dest", "6", "Up"),
                                 ("DialStatus", "ANSWER")]),
        ("DeviceStateChange", "call,all", [("Device", f"PJSIP/{seat}"), ("State", "INUSE")]),
        ("QueueMemberStatus", "agent,all", mstatus("2", "1")),
        ("QueueCallerLeave", "agent,all", [*cust("6", "Up"), ("Queue", "sales"),
                                           ("Position", "1"), ("Count", "0")]),
        ("BridgeEnter", "call,all", [("BridgeUniqueid", f"b{i}"), ("BridgeType", "basic"),
                                     *cust("6", "Up")]),
        ("BridgeEnter", "call,all", [("BridgeUniqueid", f"b{i}"), ("BridgeType", "basic"),
                                     *agent("", "6", "Up")]),
        ("AgentConnect", "agent,all", [*cust("6", "Up"), *agent("Dest", "6", "Up"), *member,
                                       ("HoldTime", "4"), ("RingTime", "2")]),
        ("BridgeLeave", "call,all", [("BridgeUniqueid", f"b{i}"), *cust("6", "Up")]),
        ("AgentComplete", "agent,all", [*cust("6", "Up"), *agent("Dest", "6", "Up"), *member,
                                        ("HoldTime", "4"), ("TalkTime", "63"),
                                        ("Reason", "caller")]),
        ("BridgeLeave", "call,all", [("BridgeUniqueid", f"b{i}"), *agent("", "6", "Up")]),
        ("Hangup", "call,all", [*cust("6", "Up"), ("Cause", "16"),
                                ("Cause-txt", "Normal Clearing")]),
        ("Hangup", "call,all", [*agent("", "6", "Up"), ("Cause", "16"),
                                ("Cause-txt", "Normal Clearing")]),
        ("DeviceStateChange", "call,all", [("Device", f"PJSIP/{seat}"), ("State", "NOT_INUSE")]),
        ("QueueMemberStatus", "agent,all", mstatus("1", "0")),
    ]
    if raw:
        noisy: list[tuple[str, str, list[tuple[str, str]]]] = []
        for n, (name, priv, fields) in enumerate(out):
            noisy.append((name, priv, fields))
            if name in ("Newchannel", "Newstate", "DialEnd", "Hangup", "BridgeEnter"):
                for v in range(3):
                    noisy.append(("VarSet", "dialplan,all", [*cust("6", "Up"),
                                  ("Variable", f"VAR{n}_{v}"), ("Value", "x")]))
                noisy.append(("Newexten", "dialplan,all", [*cust("6", "Up"),
                              ("Extension", "200"), ("Application", "Set"),
                              ("AppData", "x=1")]))
            if name == "AgentConnect":
                for _ in range(5):
                    noisy.append(("RTCPSent", "reporting,all", [*cust("6", "Up"),
                                  ("To", "127.0.0.1:20000"), ("From", "127.0.0.1:10000"),
                                  ("SSRC", "0x1"), ("PT", "200(SR)"), ("ReportCount", "1"),
                                  ("SentPackets", "250"), ("SentOctets", "40000")]))
        out = noisy
    events = []
    for name, priv, fields in out:
        t += 0.05
        events.append(_event(name, t, priv, fields))
    return events


def stream(calls: int, concurrency: int, raw: bool, t0: float = 1_764_000_000.0) -> bytes:
    """``calls`` queue calls, ``concurrency`` of them interleaved at any time."""
    chunks: list[str] = []
    ids = itertools.count()
    for start in range(0, calls, concurrency):
        batch = [call_events(next(ids), t0 + start, raw)
                 for _ in range(min(concurrency, calls - start))]
        for group in itertools.zip_longest(*batch):
            chunks.extend(e for e in group if e is not None)
    return "".join(chunks).encode()


def count_events(data: bytes) -> int:
    return data.count(b"\r\n\r\n")


def iter_chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
