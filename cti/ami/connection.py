"""One supervised AMI connection per Asterisk node.

The supervisor task owns the whole life of the connection:

    connect -> login -> resync -> watch (keepalive) -> lost -> back off -> connect ...

- A refused login is an error the service reports (``health()``), retried with backoff.
- Backoff is exponential with full jitter; it resets after a successful login.
- The keepalive sends Ping and checks the reply under a timeout, so a half-open TCP
  connection is detected and torn down instead of going silent.
- After every (re)connect ``on_ready`` is awaited (the runtime takes a snapshot and
  rebuilds the mirror) before the connection counts as up.
- Every action runs under a timeout, and panoramisk's re-send of unanswered actions on
  reconnect is off: an Originate must never be dialled twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from panoramisk.actions import Action
from panoramisk.message import Message

from cti.ami.backoff import Backoff
from cti.ami.errors import (
    AmiActionFailed,
    AmiError,
    AmiLoginFailed,
    AmiNotConnected,
    AmiReplyTimedOut,
    AmiTimeout,
)
from cti.ami.events import AmiEvent, EventBatch
from cti.ami.protocol import CtiProtocol
from cti.ami.values import ActionValue, check_action
from cti.config import AmiNode, AmiSettings
from cti.health import ComponentStatus

log = logging.getLogger(__name__)

BatchSink = Callable[[EventBatch], None]


class Reply:
    """The outcome of one action: its response headers and, for list actions, the events."""

    __slots__ = ("events", "headers", "seq")

    def __init__(self, headers: AmiEvent, events: list[AmiEvent], seq: int) -> None:
        self.headers = headers
        self.events = events
        self.seq = seq  # events received on this connection before the reply completed


def _headers(message: Message) -> AmiEvent:
    return {key: message[key] for key in message if key != "content"}


class AmiConnection:
    """Login, keepalive, reconnect and actions for one node."""

    def __init__(
        self,
        node: AmiNode,
        settings: AmiSettings,
        sink: BatchSink,
        on_ready: Callable[[AmiConnection], Awaitable[None]],
        on_lost: Callable[[AmiConnection, str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.node = node
        self.name = node.name
        self._settings = settings
        self._sink = sink
        self._on_ready = on_ready
        self._on_lost = on_lost
        self.clock = clock
        self._protocol: CtiProtocol | None = None
        self._lost: asyncio.Event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._backoff = Backoff(settings.reconnect_initial, settings.reconnect_max)
        self.logged_in = False
        self.ready = False
        self.last_error = ""
        self.connects = 0

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name=f"ami-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    def health(self) -> ComponentStatus:
        return ComponentStatus(
            name=f"ami:{self.name}",
            ok=self.ready,
            detail={
                "host": self.node.host,
                "port": self.node.port,
                "logged_in": self.logged_in,
                "mirror_synced": self.ready,
                "connects": self.connects,
                "last_error": self.last_error,
            },
        )

    async def _supervise(self) -> None:
        while True:
            try:
                await self._connect()
                await self._login()
                await self._on_ready(self)
                # Reset only now: a node that logs in and then refuses the snapshot (an AMI
                # user without a class it needs) must back off, not retry twice a second.
                self._backoff.reset()
                self.ready = True
                self.connects += 1
                log.info("AMI %s: ready (connection #%d)", self.name, self.connects)
                await self._watch()
            except asyncio.CancelledError:
                raise
            except AmiLoginFailed as exc:
                self.last_error = str(exc)
                log.error("AMI %s: %s", self.name, exc)
            except (AmiError, OSError) as exc:
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.warning("AMI %s: connection failed: %s", self.name, self.last_error)
            except Exception as exc:  # a bug in on_ready must not stop reconnecting
                self.last_error = f"{type(exc).__name__}: {exc}"
                log.exception("AMI %s: unexpected error", self.name)
            # Any connection that got as far as TCP may have delivered events: the
            # runtime must drop what it held from it before the next snapshot.
            was_connected = self._protocol is not None
            self._close()
            if was_connected:
                self._on_lost(self, self.last_error)
            delay = self._backoff.next_delay()
            log.info("AMI %s: reconnecting in %.2fs", self.name, delay)
            await asyncio.sleep(delay)

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        self._lost = asyncio.Event()

        def deliver(first_seq: int, events: list[AmiEvent]) -> None:
            self._sink(EventBatch(self.name, first_seq, events, self.clock()))

        def lost(exc: Exception | None) -> None:
            if exc is not None:
                self.last_error = f"connection lost: {exc}"
            elif not self.last_error:
                self.last_error = "connection closed by Asterisk"
            self._lost.set()

        timeout = self._settings.action_timeout
        try:
            _, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: CtiProtocol(deliver, lost), self.node.host, self.node.port
                ),
                timeout,
            )
        except TimeoutError as exc:
            raise AmiTimeout(f"connect to {self.node.host}:{self.node.port}") from exc
        self._protocol = protocol
        log.info("AMI %s: connected to %s:%d", self.name, self.node.host, self.node.port)

    async def _login(self) -> None:
        secret = self.node.secret.get_secret_value()
        try:
            await self.send(
                {"Action": "Login", "Username": self.node.username, "Secret": secret,
                 "Events": "on"},
                require_ready=False,
            )
        except AmiActionFailed as exc:
            raise AmiLoginFailed(
                f"login as {self.node.username!r} refused: {exc.message}"
            ) from exc
        self.logged_in = True
        self.last_error = ""
        log.info("AMI %s: logged in as %s", self.name, self.node.username)

    async def _watch(self) -> None:
        """Ping under a timeout until the connection is lost or a ping goes unanswered."""
        interval = self._settings.ping_interval
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), interval)
            if self._lost.is_set():
                raise AmiNotConnected(self.last_error or "connection lost")
            try:
                await self.send({"Action": "Ping"}, reply_within=self._settings.ping_timeout)
            except AmiTimeout as exc:
                raise AmiNotConnected("keepalive unanswered: half-open connection") from exc

    def _close(self) -> None:
        self.ready = False
        self.logged_in = False
        if self._protocol is not None:
            self._protocol.close()
            self._protocol = None

    # --- actions -------------------------------------------------------------------

    async def send(
        self,
        action: Mapping[str, ActionValue],
        *,
        multi: bool = False,
        reply_within: float | None = None,
        require_ready: bool = True,
    ) -> Reply:
        """Send one action and wait for its reply.

        ``multi`` actions (QueueStatus, CoreShowChannels...) resolve with their events.
        Values are checked for header injection before anything is written.
        """
        checked = check_action(action)
        name = str(checked.get("Action", "?"))
        protocol = self._protocol
        if protocol is None or protocol.closed or (require_ready and not self.logged_in):
            raise AmiNotConnected(f"AMI {self.name} is not connected")
        # as_list is always explicit: panoramisk's guessing is behind defects 1-3.
        request = Action(checked, as_list=multi)
        future = protocol.send(request, as_list=multi)
        try:
            result: Any = await asyncio.wait_for(
                future, reply_within or self._settings.action_timeout
            )
        except TimeoutError as exc:
            protocol.responses.pop(request.id, None)
            raise AmiReplyTimedOut(f"{name} got no reply from {self.name}") from exc
        seq = protocol.completed_seq.pop(request.id, protocol.event_seq)
        if isinstance(result, list):
            head, events = result[0], [_headers(m) for m in result[1:]]
        else:
            head, events = result, []
        headers = _headers(head)
        if headers.get("Response") == "Error":
            raise AmiActionFailed(name, str(headers.get("Message", "")))
        return Reply(headers, events, seq)
