"""``/v1/calls``: active calls from the live mirror and finished ones from history; agents
see their own seat's calls only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from cti.api.auth import Caller, current_caller
from cti.api.errors import InvalidInput
from cti.api.routes.deps import Services, services
from cti.api.schemas import (
    CALL_ID_PATTERN,
    CUSTOMER_NUMBER_MAX_LENGTH,
    CUSTOMER_NUMBER_PATTERN,
    SEAT_ID_PATTERN,
    CallDetailOut,
    CallOut,
    CallStatusFilter,
    Page,
    UtcDateTime,
    problems,
)
from cti.api.store import CallFilter

router = APIRouter(prefix="/calls", tags=["calls"])
AnyCaller = Annotated[Caller, Depends(current_caller)]

MAX_LIMIT = 500
MAX_OFFSET = 1_000_000_000


def call_filter(
    customer_number: Annotated[
        str | None,
        Query(
            pattern=CUSTOMER_NUMBER_PATTERN,
            max_length=CUSTOMER_NUMBER_MAX_LENGTH,
            description="Exact customer number: digits with an optional leading +.",
        ),
    ] = None,
    seat_id: Annotated[str | None, Query(
        pattern=SEAT_ID_PATTERN,
        description="Calls of this seat. Agents get their own seat's calls only (another "
                    "seat, or a token without a seat, is a 403)."),
    ] = None,
    since: Annotated[
        UtcDateTime | None,
        Query(description="ISO-8601; calls started at or after it. Naive times are UTC."),
    ] = None,
    until: Annotated[
        UtcDateTime | None,
        Query(description="ISO-8601; calls started before it. Naive times are UTC."),
    ] = None,
) -> CallFilter:
    if since is not None and until is not None and since > until:
        raise InvalidInput("until", "must not be before since")
    return CallFilter(customer_number=customer_number, seat_id=seat_id, since=since, until=until)


@router.get("", response_model=Page[CallOut], responses=problems(403))
async def list_calls(
    where: Annotated[CallFilter, Depends(call_filter)],
    caller: AnyCaller,
    svc: Annotated[Services, Depends(services)],
    status: Annotated[CallStatusFilter, Query()] = "all",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[CallOut]:
    return await svc.calls.list(caller, where, status, limit=limit, offset=offset)


@router.get("/{call_id}", response_model=CallDetailOut, responses=problems(403, 404))
async def get_call(
    call_id: Annotated[str, Path(pattern=CALL_ID_PATTERN)],
    caller: AnyCaller,
    svc: Annotated[Services, Depends(services)],
) -> CallDetailOut:
    return await svc.calls.get(caller, call_id)
