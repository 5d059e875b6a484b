"""``/v1/callbacks``: the callbacks agents promised customers, still to be made. Agents
see their own seat's; the dialer places each back to its seat when it is due."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cti.api.auth import Caller, Role, require
from cti.api.campaign_schemas import CallbackOut
from cti.api.routes.campaigns import MAX_LIMIT, Outbound
from cti.api.schemas import SEAT_ID_PATTERN, Page, UtcDateTime

router = APIRouter(prefix="/callbacks", tags=["campaigns"])
Agent = Annotated[Caller, Depends(require(Role.AGENT))]


@router.get("", response_model=Page[CallbackOut])
async def list_callbacks(
    caller: Agent, svc: Outbound,
    seat_id: Annotated[str | None, Query(pattern=SEAT_ID_PATTERN, description=(
        "Agents: only their own (the default)."))] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    until: Annotated[UtcDateTime | None, Query(description=(
        "Only those due before it (ISO-8601), e.g. the end of today."))] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[CallbackOut]:
    """Callbacks still to be made, soonest first (overdue ones flagged), each with the
    customer's free fields and what was noted when it was booked."""
    return await svc.leads.callbacks(caller, seat_id=seat_id, campaign_id=campaign_id,
                                     until=until, limit=limit, offset=offset)
