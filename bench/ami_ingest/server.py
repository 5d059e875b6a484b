"""A load generator that speaks enough AMI to feed a client a recorded-shape stream.

It runs in its own process (the other core), answers Login, Ping and the three resync
lists, and on ``UserEvent: go`` writes the whole stream as fast as the socket takes it.
It stands in for Asterisk only as a traffic source: Asterisk 22 tops out near 800 events/s
on this machine (DESIGN.md), far too slow to find where the client saturates.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import socket

from bench.ami_ingest.stream import iter_chunks

_LISTS = {"queuestatus": "QueueStatusComplete", "coreshowchannels": "CoreShowChannelsComplete",
          "devicestatelist": "DeviceStateListComplete"}


def _reply(action: dict[str, str]) -> bytes:
    aid = action.get("actionid", "")
    name = action.get("action", "").lower()
    if name in _LISTS:
        return (f"Response: Success\r\nActionID: {aid}\r\nEventList: start\r\n"
                f"Message: will follow\r\n\r\nEvent: {_LISTS[name]}\r\nActionID: {aid}\r\n"
                f"EventList: Complete\r\nListItems: 0\r\n\r\n").encode()
    if name == "ping":
        return f"Response: Success\r\nActionID: {aid}\r\nPing: Pong\r\n\r\n".encode()
    if name == "login":
        return (f"Response: Success\r\nActionID: {aid}\r\n"
                "Message: Authentication accepted\r\n\r\n").encode()
    return f"Response: Success\r\nActionID: {aid}\r\n\r\n".encode()


async def _serve(sock: socket.socket, data: bytes) -> None:
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
                    for part in iter_chunks(data):
                        writer.write(part)
                        await writer.drain()
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, sock=sock)
    async with server:
        await server.serve_forever()


def _main(sock: socket.socket, data: bytes) -> None:
    asyncio.run(_serve(sock, data))


def start(data: bytes) -> tuple[mp.Process, int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    proc = mp.get_context("fork").Process(target=_main, args=(sock, data), daemon=True)
    proc.start()
    sock.close()
    return proc, port
