"""``GET /v1/campaigns/{id}/live``: what the campaign's runner sees and does right now.

The pacer's view (agents free, talking, wrapping up, paused; calls ringing and answered
customers waiting for an agent), what it placed since it started, the abandon rate over
the rolling 24 hours and 30 days the regulators measure, and why it placed what it did
on its last tick, and what its pacer has learned (answer rate and times, talk and
wrap-up times, the abandon risk its loop allows): the why behind how hard it dials.
404 when the campaign has no runner (not running, or preview mode).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request

from cti.api.auth import Caller, Role, require
from cti.api.errors import NotFound
from cti.api.schemas import problems
from cti.outbound.dialer import Dialer
from cti.outbound.runner import RunnerStatus

router = APIRouter(prefix="/campaigns", tags=["campaigns"])


@router.get("/{campaign_id}/live", response_model=RunnerStatus, responses=problems(404))
async def campaign_live(
    campaign_id: Annotated[int, Path(ge=1)],
    request: Request,
    _: Annotated[Caller, Depends(require(Role.SUPERVISOR))],
) -> RunnerStatus:
    dialer: Dialer | None = getattr(request.app.state, "dialer", None)
    status = dialer.status(campaign_id) if dialer is not None else None
    if status is None:
        raise NotFound("running campaign", str(campaign_id))
    return status
