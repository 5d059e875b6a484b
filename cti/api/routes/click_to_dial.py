"""``POST /v1/calls/click-to-dial``: ring the agent's phone, then the customer.

Agents dial from their own seat; supervisors and admins for any seat. Send an
``Idempotency-Key`` header to make retries safe: a request repeated with the same key
answers 200 with the call the first one placed (201) and dials nothing.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from cti.api.auth import Caller, Role, acting_seat, require
from cti.api.campaign_schemas import MAX_CAMPAIGN_ID
from cti.api.errors import ApiError
from cti.api.schemas import SEAT_ID_PATTERN, problems
from cti.outbound import errors
from cti.outbound.click_to_dial import ClickRequest, ClickResult, ClickToDial

router = APIRouter(prefix="/calls", tags=["outbound"])

IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{8,128}$"

Agent = Annotated[Caller, Depends(require(Role.AGENT))]


class ClickToDialIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=1, max_length=40, description=(
        "The customer: E.164 (+8613812345678) or national in the campaign's region (or "
        "the service's default region). Normalised to E.164."))
    seat: str | None = Field(default=None, pattern=SEAT_ID_PATTERN,
                             description="The seat whose phone rings first; default: yours.")
    campaign_id: StrictInt | None = Field(default=None, ge=1, le=MAX_CAMPAIGN_ID, description=(
        "Dial for this campaign: its caller ID, calling windows, caps and recording "
        "policy; a number that is one of its leads counts as that lead's attempt."))
    auto_answer: StrictBool = Field(default=False, description=(
        "Ask the agent's phone to answer by itself (headsets): adds Call-Info "
        "answer-after=0 and Alert-Info alert-autoanswer to the INVITE."))


class ClickToDialOut(BaseModel):
    call_id: str
    attempt_id: int
    seat: str
    number: str = Field(description="E.164")
    campaign_id: int | None
    replayed: bool = Field(description="True: an earlier request with this "
                                       "Idempotency-Key placed this call.")


def click_to_dial(request: Request) -> ClickToDial:
    service: ClickToDial | None = getattr(request.app.state, "click_to_dial", None)
    if service is None:
        raise ApiError("click-to-dial is not available", code="unavailable", status=503)
    return service


_STATUS: dict[type[errors.OutboundError], tuple[int, str]] = {
    errors.NumberInvalid: (422, "invalid_number"),
    errors.CampaignNotFound: (404, "not_found"),
    errors.SeatNotReady: (409, "seat_not_ready"),
    errors.CampaignNotRunnable: (409, "campaign_not_runnable"),
    errors.DialRefused: (409, "dial_refused"),
    errors.IdempotencyConflict: (409, "idempotency_conflict"),
    errors.DialUnavailable: (503, "unavailable"),
}


def _problem(exc: errors.OutboundError) -> ApiError:
    code_status, code = _STATUS.get(type(exc), (500, "internal"))
    return ApiError(exc.message, code=code, status=code_status, details=exc.details)


def _out(result: ClickResult) -> ClickToDialOut:
    return ClickToDialOut(call_id=result.call_id, attempt_id=result.attempt_id,
                          seat=result.seat_id, number=result.number,
                          campaign_id=result.campaign_id, replayed=result.replayed)


@router.post("/click-to-dial", status_code=status.HTTP_201_CREATED,
             response_model=ClickToDialOut,
             responses={200: {"model": ClickToDialOut,
                              "description": "A retry: the call its key placed."},
                        **problems(403, 404, 409, 422, 503)})
async def place_call(
    body: ClickToDialIn,
    caller: Agent,
    response: Response,
    service: Annotated[ClickToDial, Depends(click_to_dial)],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY_PATTERN)
    ] = None,
) -> ClickToDialOut:
    seat = acting_seat(caller, body.seat)
    try:
        result = await service.dial(ClickRequest(
            seat_id=seat, number=body.number, campaign_id=body.campaign_id,
            auto_answer=body.auto_answer, key=idempotency_key))
    except errors.OutboundError as exc:
        raise _problem(exc) from exc
    if result.replayed:
        response.status_code = status.HTTP_200_OK
    return _out(result)
