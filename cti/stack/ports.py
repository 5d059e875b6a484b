"""Free loopback ports for bench services, so parallel runs do not collide.

A port found free can be taken by someone else before it is used; the window is short
and ranges start at random offsets, which is enough for a test bench.
"""

from __future__ import annotations

import random
import socket

LOOPBACK = "127.0.0.1"

# Ephemeral ports (the kernel's 32768-60999) are avoided for ranges, so outgoing
# connections do not land in an RTP range.
_RANGE_LOW = 10000
_RANGE_HIGH = 32000

# Ranges handed out by this process. An RTP range is free until Asterisk binds a port of
# it for a call, so "free now" is not enough: a SIPp media port picked inside it later
# collides with Asterisk's own RTP (seen as a missing flow in the supervision test).
_handed_out: list[tuple[int, int]] = []


def _clear_of_ranges(first: int, last: int) -> bool:
    return all(last < low or first > high for low, high in _handed_out)


def free_port(host: str = LOOPBACK, *, udp: bool = False) -> int:
    """A TCP (or UDP) port that nothing is bound to right now; the kernel picks it."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether both the TCP and the UDP port can be bound on ``host``."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                return False
    return True


def port_taken(port: int, host: str = LOOPBACK, *, udp: bool = False) -> bool:
    """Whether something listens on the TCP (or is bound to the UDP) port: what a server
    about to bind it would fail on. TCP is tried with SO_REUSEADDR, as servers bind, so a
    port whose last connections linger in TIME_WAIT counts as free."""
    kind = socket.SOCK_DGRAM if udp else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        if not udp:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def free_port_range(
    count: int, host: str = LOOPBACK, *, even_start: bool = True, attempts: int = 200
) -> tuple[int, int]:
    """A block of ``count`` consecutive free ports as ``(first, last)``, both inclusive.

    RTP wants an even first port. Raises ``RuntimeError`` if no block is found.
    """
    if count < 1:
        raise ValueError("count must be positive")
    rng = random.SystemRandom()
    for _ in range(attempts):
        first = rng.randrange(_RANGE_LOW, _RANGE_HIGH - count)
        if even_start:
            first -= first % 2
        last = first + count - 1
        if _clear_of_ranges(first, last) and all(
            port_is_free(p, host) for p in range(first, last + 1)
        ):
            _handed_out.append((first, last))
            return first, last
    raise RuntimeError(f"no block of {count} free ports on {host}")


def free_port_pair(host: str = LOOPBACK) -> int:
    """An even UDP port ``p`` with ``p`` and ``p + 2`` free (SIPp audio and video)."""
    rng = random.SystemRandom()
    for _ in range(500):
        port = rng.randrange(_RANGE_LOW, _RANGE_HIGH - 4) & ~1
        if _clear_of_ranges(port, port + 3) and all(
            port_is_free(p, host) for p in (port, port + 1, port + 2, port + 3)
        ):
            _handed_out.append((port, port + 3))
            return port
    raise RuntimeError(f"no free media port pair on {host}")
