"""``WS /v1/events`` served from its own thread and event loop.

The API's event loop also runs the AMI consumer and the tracker. A wallboard-heavy
deployment has hundreds of stream clients, and every delta costs a task step and a
WebSocket frame per client: on that loop the sends delay the tracker (see
``bench/event_stream/RESULTS.md``). The worker moves them off it: a thread runs its own
event loop and a uvicorn server whose only route is ``WS /v1/events`` (the same route
code as the API's), on its own port. The hub hands it frames in batches (one
``call_soon_threadsafe`` per batch); rendering, queueing and sending happen here.

What still runs on the API's loop for a stream client: the snapshot (it reads the mirror,
which only that loop may touch) and the token lookup (the database pool lives there),
both once per connection. The API's own ``/v1/events`` keeps working; point the
wallboards (or the reverse proxy's ``/v1/events`` location) at the worker's port.

Python runs one thread at a time, so the worker does not add CPU; what it buys is that
the consumer no longer waits behind the clients' sends on one loop's ready queue: the
interpreter switches threads every few milliseconds, so the tracker's latency stays
bounded by that however many clients there are.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from typing import Protocol

import uvicorn
from fastapi import FastAPI

from cti.api.auth import Caller
from cti.api.routes import events
from cti.config import Settings
from cti.health import ComponentStatus
from cti.stream.hub import EventHub

log = logging.getLogger(__name__)

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


class TokenCheck(Protocol):
    async def authenticate(self, token: str) -> Caller | None: ...


class OnLoop:
    """A token check made from another loop: it runs on ``loop`` (its pool lives there)."""

    def __init__(self, inner: TokenCheck, loop: asyncio.AbstractEventLoop) -> None:
        self._inner = inner
        self._loop = loop

    async def authenticate(self, token: str) -> Caller | None:
        future = asyncio.run_coroutine_threadsafe(self._inner.authenticate(token), self._loop)
        return await asyncio.wrap_future(future)


def stream_app(hub: EventHub, authenticator: TokenCheck, settings: Settings) -> FastAPI:
    """An app with only ``WS /v1/events`` (no docs, no other routes)."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub
    app.state.authenticator = authenticator
    app.state.settings = settings
    app.include_router(events.router, prefix="/v1")
    return app


class StreamWorker:
    """The thread serving ``WS /v1/events`` on ``settings.stream.port``."""

    def __init__(self, hub: EventHub, settings: Settings, *, port: int,
                 host: str | None = None, ws: str = "websockets-sansio") -> None:
        self._hub = hub
        self._settings = settings
        self.host = host or settings.api.host
        self.port = port
        self._ws = ws
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._error: str | None = None

    async def start(self, authenticator: TokenCheck) -> None:
        """Start serving; returns once the port is open (raises if it cannot be)."""
        home = asyncio.get_running_loop()
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._thread = threading.Thread(
            target=self._run, args=(home, OnLoop(authenticator, home), started),
            name="event-stream", daemon=True)
        self._thread.start()
        await asyncio.wait_for(asyncio.wrap_future(started), START_TIMEOUT)
        log.info("event stream worker serving ws://%s:%d/v1/events", self.host, self.port)

    def _run(self, home: asyncio.AbstractEventLoop, authenticator: TokenCheck,
             started: concurrent.futures.Future[None]) -> None:
        try:
            asyncio.run(self._serve(home, authenticator, started))
        except BaseException as exc:  # uvicorn exits (SystemExit) when it cannot bind
            self._error = repr(exc)
            if not started.done():
                started.set_exception(RuntimeError(f"event stream worker failed: {exc!r}"))
            else:
                log.exception("event stream worker stopped")

    async def _serve(self, home: asyncio.AbstractEventLoop, authenticator: TokenCheck,
                     started: concurrent.futures.Future[None]) -> None:
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._hub.serve_from(loop, home)
        config = uvicorn.Config(
            stream_app(self._hub, authenticator, self._settings), host=self.host,
            port=self.port, ws=self._ws, lifespan="off", access_log=False,
            timeout_graceful_shutdown=5,
            # Leave logging as the service set it: uvicorn's own config would reset the
            # level of "uvicorn.error", the API server's logger too.
            log_config=None, log_level=None)
        server = self._server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve(), name="event-stream-server")
        try:
            while not server.started:
                if serving.done():
                    serving.result()  # its exception, if any
                    raise RuntimeError("the event stream server stopped before serving")
                await asyncio.sleep(0.01)
            started.set_result(None)
            await serving
        finally:
            self._hub.stop_serving(loop)

    async def stop(self) -> None:
        loop, server = self._loop, self._server
        if loop is not None and server is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop just ended by itself
                loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, STOP_TIMEOUT)
            if self._thread.is_alive():
                log.warning("event stream worker still running after %.0fs", STOP_TIMEOUT)

    def health(self) -> ComponentStatus:
        running = self._thread is not None and self._thread.is_alive()
        return ComponentStatus("event_stream", running, {
            "port": self.port, "error": self._error})
