"""``GET /metrics``: the Prometheus page (see :mod:`cti.metrics`).

Outside ``/v1`` and its database-checked tokens: a scraper must still get in while
PostgreSQL is down, which is when its figures matter most. ``CTI_API__METRICS_TOKEN``
puts it behind a fixed bearer token instead.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from cti.api.errors import Unauthenticated
from cti.metrics import Metrics
from cti.metrics.registry import CONTENT_TYPE

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}},
                     "description": "Prometheus text exposition format 0.0.4."}},
)
async def metrics(request: Request) -> Response:
    token = request.app.state.settings.api.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), token.get_secret_value().encode()):
            raise Unauthenticated("/metrics takes the bearer token set in "
                                  "CTI_API__METRICS_TOKEN")
    found: Metrics = request.app.state.metrics
    return Response(found.render(), media_type=CONTENT_TYPE)
