"""A standby replica refuses the API: a pure ASGI middleware.

A standby follows no Asterisk node, so its seats, calls and queues would be empty, and a
change made through it would reach no one. ``/v1`` answers 503 naming the leader (with
``Retry-After``, for a client that retries), WebSockets close with 1013 "try again
later". ``/healthz``, ``/readyz`` (which says ``standby``: a load balancer sends traffic
elsewhere), ``/metrics`` and the docs stay open.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from cti.api.errors import problem

GUARDED = "/v1"
RETRY_AFTER_SECONDS = 1  # a standby looks at the leader lock every second


class StandbyGate:
    def __init__(self, app: ASGIApp, *, leads: Callable[[], bool],
                 leader: Callable[[], str | None]) -> None:
        self.app = app
        self._leads = leads
        self._leader = leader

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (scope["type"] not in ("http", "websocket") or self._leads()
                or not (path == GUARDED or path.startswith(GUARDED + "/"))):
            await self.app(scope, receive, send)
            return
        leader = self._leader()
        message = ("this replica is a standby: " +
                   (f"replica {leader} leads" if leader else "no replica leads right now"))
        if scope["type"] == "websocket":
            # Closed after the handshake: a close before it reaches the client as a bare
            # HTTP 403, which reads as "your token is wrong".
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": 1013, "reason": message[:120]})
            return
        response = problem(503, "standby", message, {"leader": leader},
                           headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
        await response(scope, receive, send)
