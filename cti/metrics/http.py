"""Requests per route and status, and their latency: a pure ASGI middleware.

Routes are labelled by their template (``/v1/seats/{seat_id}``), never the raw path, so
ids in paths cannot grow the series without bound; a path no route matched is
``unmatched``. Latency runs until the response's last byte, so a streamed recording or
report counts its whole transfer. WebSockets pass through uncounted.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HttpMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "cti_http_requests", "HTTP requests answered, by route template and status.",
            ["method", "route", "status"], registry=registry)
        self.latency = Histogram(
            "cti_http_request_duration_seconds", "Time to answer, to the last byte.",
            ["method", "route"], buckets=LATENCY_BUCKETS, registry=registry)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return _Middleware(app, self)


def route_template(scope: Scope) -> str:
    """The matched route's path template with its routers' prefixes, e.g.
    ``/v1/seats/{seat_id}``; ``unmatched`` when no route took the request.

    The route knows only its own part (``/seats/{seat_id}``); the prefixes are literal,
    so they are the real path's leading segments, as many as the route does not cover."""
    route_path: str | None = getattr(scope.get("route"), "path", None)
    if not route_path:
        return "unmatched"
    real = scope.get("path", "").strip("/").split("/")
    own = route_path.strip("/").split("/")
    prefix = len(real) - len(own)
    if prefix <= 0:  # no prefix, or a {name:path} parameter spanned several segments
        return route_path
    return "/" + "/".join(real[:prefix]) + route_path


class _Middleware:
    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self._app = app
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting a response

        async def counted_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, counted_send)
        finally:
            template = route_template(scope)
            method = scope.get("method", "")
            self._metrics.requests.labels(method, template, str(status)).inc()
            self._metrics.latency.labels(method, template).observe(
                time.perf_counter() - started)
