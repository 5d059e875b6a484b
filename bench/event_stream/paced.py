"""A paced AMI source: the bench's queue-call stream at a fixed event rate, each event
stamped with the wall-clock time it is written, so a client of the CTI service can tell
how long an AMI event took to reach it.

It runs in its own process, answers Login, Ping and the three resync lists like
``bench.ami_ingest.server``, and on ``UserEvent: go`` starts writing.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import re
import socket
import time
from multiprocessing.process import BaseProcess

from bench.ami_ingest.server import _reply

_STAMP = re.compile(rb"Timestamp: [0-9.]+")
TICK = 0.002  # seconds between writes: events due in a tick go out together


def split_events(data: bytes) -> list[bytes]:
    return [e + b"\r\n\r\n" for e in data.split(b"\r\n\r\n") if e]


async def _play(writer: asyncio.StreamWriter, events: list[bytes], rate: float) -> None:
    start = time.monotonic()
    sent = 0
    while sent < len(events):
        due = min(len(events), int((time.monotonic() - start) * rate) + 1)
        if due > sent:
            now = f"Timestamp: {time.time():.6f}".encode()
            writer.write(b"".join(_STAMP.sub(now, e, count=1) for e in events[sent:due]))
            sent = due
            await writer.drain()
        await asyncio.sleep(TICK)


async def _serve(sock: socket.socket, events: list[bytes], rate: float) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        buf = b""
        while chunk := await reader.read(65536):
            buf += chunk
            while b"\r\n\r\n" in buf:
                raw, buf = buf.split(b"\r\n\r\n", 1)
                action = {}
                for line in raw.decode().split("\r\n"):
                    k, _, v = line.partition(": ")
                    action[k.lower()] = v
                writer.write(_reply(action))
                if action.get("action", "").lower() == "userevent":
                    await _play(writer, events, rate)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def _main(sock: socket.socket, events: list[bytes], rate: float) -> None:
    asyncio.run(_serve(sock, events, rate))


def start(events: list[bytes], rate: float) -> tuple[BaseProcess, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port: int = sock.getsockname()[1]
    proc = mp.get_context("fork").Process(target=_main, args=(sock, events, rate), daemon=True)
    proc.start()
    sock.close()
    return proc, port
