"""panoramisk's AMIProtocol, with its 1.4 defects worked around.

What changes against the stock protocol, and why:

- Bytes are decoded with an incremental UTF-8 decoder, so a character split across two
  TCP reads (a caller name) is not lost (defect 6).
- Events never go through panoramisk's ``dispatch``: callbacks there run inside
  ``data_received`` and an exception closes the transport (defect 4). Instead each read's
  events are handed, as one batch, to a sink that only enqueues.
- Responses still go through panoramisk's correlation (``handle_message``), but an
  ``Error`` reply to a list action resolves it at once; stock 1.4 waits for a ``Complete``
  event that never comes.
- Events are numbered, and each completed action records how many events preceded its
  last reply, so a resync snapshot knows which events it already accounts for.
- ``Shutdown`` from Asterisk closes the connection so the supervisor reconnects.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
from collections.abc import Callable
from typing import Any, cast

from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami.errors import AmiLostWhileWaiting
from cti.ami.events import AmiEvent

log = logging.getLogger(__name__)

_EOM = "\r\n\r\n"
EventSink = Callable[[int, list[AmiEvent]], None]


def parse_message(raw: str) -> AmiEvent:
    """Parse one AMI message (headers separated by CR LF) into a dict.

    Lines without ``": "`` (the banner, command output in old versions) are skipped.
    A repeated header becomes a list of its values, in order.
    """
    lines = raw.split("\r\n")
    try:
        # Fast path: every line is one distinct "Key: value" (the vast majority of events).
        headers = dict([line.split(": ", 1) for line in lines])
    except ValueError:
        return _parse_lines(lines)
    if len(headers) != len(lines):
        return _parse_lines(lines)  # a repeated header, such as ChanVariable
    return cast(AmiEvent, headers)


def _parse_lines(lines: list[str]) -> AmiEvent:
    headers: AmiEvent = {}
    for line in lines:
        key, sep, value = line.partition(": ")
        if not sep:
            continue
        if key in headers:
            prior = headers[key]
            if isinstance(prior, list):
                prior.append(value)
            else:
                headers[key] = [prior, value]
        else:
            headers[key] = value
    return headers


class CtiProtocol(AMIProtocol):  # type: ignore[misc]
    """One AMI TCP connection. Built by ``AmiConnection``, which acts as its factory."""

    def __init__(self, sink: EventSink, on_lost: Callable[[Exception | None], None]) -> None:
        super().__init__()
        self._sink = sink
        self._on_lost = on_lost
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._tail = ""
        self.event_seq = 0
        self.completed_seq: dict[str, int] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        # panoramisk reads these from its Manager; the connection object plays that role.
        self.factory = self
        self.forgetable_actions: tuple[str, ...] = ()
        self.awaiting_actions: list[Any] = []
        self.encoding = "utf-8"

    def data_received(self, data: bytes) -> None:
        text = self._tail + self._decoder.decode(data)
        parts = text.split(_EOM)
        self._tail = parts.pop()
        events: list[AmiEvent] = []
        first = self.event_seq
        responses = self.responses
        for raw in parts:
            headers = parse_message(raw)
            action_id = headers.get("ActionID")
            if isinstance(action_id, str) and action_id in responses:
                self._handle_reply(action_id, raw, headers)
            elif "Event" in headers:
                events.append(headers)
                self.event_seq += 1
                if headers["Event"] == "Shutdown":
                    log.warning("Asterisk announced shutdown: %s", headers.get("Shutdown", ""))
                    self.transport.close()
            elif "Response" in headers:
                log.debug("reply to an action nobody waits for: %s", headers)
        if events:
            self._sink(first, events)

    def _handle_reply(self, action_id: str, raw: str, headers: AmiEvent) -> None:
        action = self.responses[action_id]
        content = ""
        if raw.startswith(("Response: Follows", "Response: Fail")):
            content = raw.rsplit("\r\n", 1)[-1]
        message = Message(headers, content)
        if headers.get("Response") == "Error" and not action.future.done():
            # Stock 1.4 keeps waiting for a *Complete event after an error to a list action.
            self.responses.pop(action_id, None)
            action.responses.append(message)
            action.future.set_result(message)
        else:
            self.handle_message(message)
        if action.future.done():
            self.completed_seq[action_id] = self.event_seq

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        for action in self.responses.values():
            if not action.future.done():
                action.future.set_exception(AmiLostWhileWaiting("connection lost"))
        self.responses.clear()
        self._on_lost(exc)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.transport.close()
