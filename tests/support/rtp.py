"""Who hears what: tones played by SIPp phones, RTP captured on the loopback wire.

- ``tone_pcap`` writes a pcap of a-law RTP carrying one pure tone, for SIPp's
  ``play_pcap_audio``: each party of a call plays its own frequency.
- ``RtpCapture`` records every RTP packet on ``lo`` (an AF_PACKET socket: needs root,
  as the bench has) with the time it was seen.
- ``tone_share`` measures how much of the audio in some packets is a given tone
  (Goertzel per 20 ms packet: frequencies on exact 50 Hz bins leak nothing).

So "the supervisor hears the customer" is checked on the packets Asterisk actually sent
to the supervisor's phone, not on what Asterisk says it did.
"""

from __future__ import annotations

import math
import socket
import struct
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

SAMPLE_RATE = 8000
FRAME = 160  # samples per 20 ms packet
PCMA = 8
ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def _alaw_encode(sample: int) -> int:
    """ITU-T G.711 A-law, 16-bit linear in."""
    sign = 0x00 if sample < 0 else 0x80
    mag = min(-sample - 1 if sample < 0 else sample, 32767) >> 3
    if mag < 32:
        code = mag >> 1
    else:
        exponent = mag.bit_length() - 5
        code = (exponent << 4) | ((mag >> exponent) & 0x0F)
    return (code | sign) ^ 0x55


def _alaw_decode(byte: int) -> int:
    byte ^= 0x55
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    mag = (mantissa << 4) + 8 if exponent == 0 else ((mantissa << 4) + 0x108) << (exponent - 1)
    return mag if byte & 0x80 else -mag


ALAW_DECODE = [_alaw_decode(b) for b in range(256)]


def tone_pcap(path: Path, freq: float, seconds: float, amplitude: int = 6000) -> Path:
    """A pcap (Ethernet/IPv4/UDP/RTP, PT 8) of ``seconds`` of a ``freq`` Hz tone."""
    packets = round(seconds * SAMPLE_RATE / FRAME)
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    ssrc = int(freq) * 7919
    for n in range(packets):
        payload = bytes(
            _alaw_encode(round(amplitude * math.sin(2 * math.pi * freq * (n * FRAME + i)
                                                    / SAMPLE_RATE)))
            for i in range(FRAME)
        )
        rtp = struct.pack("!BBHII", 0x80, PCMA, n & 0xFFFF, n * FRAME, ssrc) + payload
        udp = struct.pack("!HHHH", 40000, 40000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = bytes(12) + b"\x08\x00" + ip
        at = n * FRAME / SAMPLE_RATE
        out += struct.pack("<IIII", int(at), round((at % 1) * 1e6), len(frame), len(frame))
        out += frame
    path.write_bytes(bytes(out))
    return path


@dataclass(frozen=True, slots=True)
class RtpPacket:
    at: float  # time.monotonic() when captured
    src_port: int
    dst_port: int
    payload_type: int
    payload: bytes


class RtpCapture:
    """Every RTP packet (version 2, UDP, IPv4) crossing ``lo`` while running."""

    def __init__(self) -> None:
        self.packets: list[RtpPacket] = []
        self._sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self._sock.bind(("lo", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rtp-capture", daemon=True)

    def __enter__(self) -> RtpCapture:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame, addr = self._sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            if addr[2] == PACKET_OUTGOING:  # lo shows each packet twice
                continue
            packet = _parse(frame, time.monotonic())
            if packet is not None:
                self.packets.append(packet)

    def flows(self, since: float, until: float) -> dict[tuple[int, int], list[RtpPacket]]:
        """Packets seen in [since, until), by (source port, destination port)."""
        out: dict[tuple[int, int], list[RtpPacket]] = {}
        for p in list(self.packets):
            if since <= p.at < until:
                out.setdefault((p.src_port, p.dst_port), []).append(p)
        return out


def _parse(frame: bytes, at: float) -> RtpPacket | None:
    if len(frame) < 14 + 20 + 8 + 12 or frame[12:14] != b"\x08\x00":
        return None
    ip = frame[14:]
    ihl = (ip[0] & 0x0F) * 4
    if ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    udp = ip[ihl:]
    src, dst = struct.unpack("!HH", udp[:4])
    rtp = udp[8:]
    if len(rtp) < 12 or rtp[0] >> 6 != 2:
        return None
    header = 12 + 4 * (rtp[0] & 0x0F)
    return RtpPacket(at, src, dst, rtp[1] & 0x7F, bytes(rtp[header:]))


def tone_share(packets: Iterable[RtpPacket], freq: float) -> float:
    """Share (0..1) of the audio energy at ``freq`` over a-law packets; 0 for silence."""
    tone = total = 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / SAMPLE_RATE)
    for p in packets:
        if p.payload_type != PCMA or not p.payload:
            continue
        samples = [ALAW_DECODE[b] for b in p.payload]
        s1 = s2 = 0.0
        for x in samples:
            s1, s2 = x + coeff * s1 - s2, s1
        power = s1 * s1 + s2 * s2 - coeff * s1 * s2
        tone += 2 * power / len(samples)
        total += sum(x * x for x in samples)
    return tone / total if total > 1e3 * FRAME else 0.0
