"""``/v1/dials``: every outbound dial (campaigns' and click-to-dial's), searched by
customer, campaign, seat, outcome or disposition. Agents see their own seat's."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from cti.api.auth import Caller, Role, require
from cti.api.campaign_schemas import PHONE_INPUT_MAX, DialOut
from cti.api.errors import InvalidInput
from cti.api.routes.campaigns import MAX_LIMIT, Outbound
from cti.api.schemas import SEAT_ID_PATTERN, Page, UtcDateTime
from cti.db.dial_history import DialQuery
from dialer.dispositions import DispositionCode
from dialer.schedule import Outcome

router = APIRouter(prefix="/dials", tags=["campaigns"])
Agent = Annotated[Caller, Depends(require(Role.AGENT))]


@router.get("", response_model=Page[DialOut])
async def search_dials(
    caller: Agent, svc: Outbound,
    phone: Annotated[str | None, Query(min_length=1, max_length=PHONE_INPUT_MAX, description=(
        "The customer's number, national (the service's region) or E.164."))] = None,
    customer: Annotated[str | None, Query(min_length=1, max_length=100, description=(
        "Text in any of the lead's free fields (a name, an e-mail; one character is a "
        "Chinese surname), any case."))] = None,
    campaign_id: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    seat_id: Annotated[str | None, Query(pattern=SEAT_ID_PATTERN, description=(
        "Agents: only their own (the default)."))] = None,
    outcome: Annotated[Outcome | None, Query()] = None,
    disposition: Annotated[DispositionCode | None, Query(
        description="A disposition code recorded on the call.")] = None,
    since: Annotated[UtcDateTime | None, Query(
        description="Started at or after (ISO-8601).")] = None,
    until: Annotated[UtcDateTime | None, Query(description="Started before (ISO-8601).")
                     ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> Page[DialOut]:
    """Outbound dials, newest first, each with its campaign, the lead's free fields, the
    seat, the outcome and the dispositions recorded on it: the telemarketing records,
    searchable by customer."""
    if since is not None and until is not None and since > until:
        raise InvalidInput("until", "must not be before since")
    query = DialQuery(
        customer=customer, campaign_id=campaign_id, seat_id=seat_id,
        outcome=None if outcome is None else outcome.value,
        disposition=None if disposition is None else disposition.value,
        since=since, until=until,
    )
    return await svc.dials.search(caller, query, phone=phone, limit=limit, offset=offset)
