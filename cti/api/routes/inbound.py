"""Inbound configuration and agent control routes:

- ``/v1/skill-groups`` writes (create, change, delete; members with skill levels),
- ``/v1/ivr-menus`` (auto-attendant menus), ``/v1/pause-reasons``,
- ``/v1/seats/{id}/login|logout|pause|unpause|wrap-up/end``, ``PUT|DELETE /v1/seats/{id}``,
- ``/v1/calls/{id}/transfer`` (blind or attended; ``/complete``, ``/cancel``).

Supervisors change configuration; agents act on their own seat and calls.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request, Response, status

from cti.api.auth import Caller, Role, require
from cti.api.inbound_schemas import (
    GroupCreate,
    GroupPatch,
    GroupSettingsOut,
    HangupOut,
    LoginIn,
    MemberIn,
    MenuIn,
    MenuOut,
    PauseIn,
    PauseReasonOut,
    SeatActionOut,
    SeatIn,
    TransferIn,
    TransferOut,
)
from cti.api.inbound_service import InboundService
from cti.api.schemas import CALL_ID_PATTERN, SEAT_ID_PATTERN, SKILL_GROUP_PATTERN, problems

router = APIRouter()

Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
Admin = Annotated[Caller, Depends(require(Role.ADMIN))]
Agent = Annotated[Caller, Depends(require(Role.AGENT))]
GroupName = Annotated[str, Path(pattern=SKILL_GROUP_PATTERN)]
SeatId = Annotated[str, Path(pattern=SEAT_ID_PATTERN)]
CallId = Annotated[str, Path(pattern=CALL_ID_PATTERN)]
MenuName = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_-]{1,39}$")]
CHANGES = problems(404, 409, 422, 502)


def inbound(request: Request) -> InboundService:
    found: InboundService = request.app.state.inbound
    return found


Svc = Annotated[InboundService, Depends(inbound)]


# --- skill groups ----------------------------------------------------------------------

@router.post("/skill-groups", tags=["skill groups"], status_code=201,
             response_model=GroupSettingsOut, responses=CHANGES)
async def create_skill_group(body: GroupCreate, svc: Svc, _: Supervisor) -> GroupSettingsOut:
    return await svc.create_group(body)


@router.get("/skill-groups/{name}/settings", tags=["skill groups"],
            response_model=GroupSettingsOut, responses=problems(404))
async def get_skill_group_settings(name: GroupName, svc: Svc) -> GroupSettingsOut:
    return await svc.group(name)


@router.patch("/skill-groups/{name}", tags=["skill groups"], response_model=GroupSettingsOut,
              responses=CHANGES)
async def update_skill_group(name: GroupName, body: GroupPatch, svc: Svc,
                             _: Supervisor) -> GroupSettingsOut:
    return await svc.update_group(name, body)


@router.delete("/skill-groups/{name}", tags=["skill groups"], status_code=204,
               responses=CHANGES)
async def delete_skill_group(name: GroupName, svc: Svc, _: Supervisor) -> Response:
    await svc.delete_group(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/skill-groups/{name}/members/{seat_id}", tags=["skill groups"],
            response_model=GroupSettingsOut, responses=CHANGES)
async def put_member(name: GroupName, seat_id: SeatId, body: MemberIn, svc: Svc,
                     _: Supervisor) -> GroupSettingsOut:
    return await svc.set_member(name, seat_id, body.level)


@router.delete("/skill-groups/{name}/members/{seat_id}", tags=["skill groups"],
               status_code=204, responses=CHANGES)
async def delete_member(name: GroupName, seat_id: SeatId, svc: Svc, _: Supervisor) -> Response:
    await svc.remove_member(name, seat_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- IVR menus -------------------------------------------------------------------------

@router.get("/ivr-menus", tags=["ivr"], response_model=list[MenuOut])
async def list_menus(svc: Svc) -> list[MenuOut]:
    return await svc.menus()


@router.get("/ivr-menus/{name}", tags=["ivr"], response_model=MenuOut, responses=problems(404))
async def get_menu(name: MenuName, svc: Svc) -> MenuOut:
    return await svc.menu(name)


@router.put("/ivr-menus/{name}", tags=["ivr"], response_model=MenuOut, responses=CHANGES)
async def put_menu(name: MenuName, body: MenuIn, svc: Svc, _: Supervisor,
                   response: Response) -> MenuOut:
    menu, created = await svc.put_menu(name, body)
    response.status_code = 201 if created else 200
    return menu


@router.delete("/ivr-menus/{name}", tags=["ivr"], status_code=204, responses=CHANGES)
async def delete_menu(name: MenuName, svc: Svc, _: Supervisor) -> Response:
    await svc.delete_menu(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- agents ----------------------------------------------------------------------------

@router.get("/pause-reasons", tags=["seats"], response_model=list[PauseReasonOut])
async def list_pause_reasons(svc: Svc) -> list[PauseReasonOut]:
    return await svc.pause_reasons()


@router.put("/seats/{seat_id}", tags=["seats"], status_code=204, responses=problems(422))
async def register_seat(seat_id: SeatId, body: SeatIn, svc: Svc, _: Admin) -> Response:
    """Register a seat, or change its name or node. Its id must be an endpoint Asterisk
    has (``PJSIP/<id>``) on the node, else a 422 naming ``seat_id``; while the node is
    not connected it cannot be asked, and the seat is registered as given."""
    await svc.register_seat(seat_id, body.display_name, body.node)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.delete("/seats/{seat_id}", tags=["seats"], status_code=204,
               responses=problems(404, 409, 422))
async def delete_seat(seat_id: SeatId, svc: Svc, _: Admin) -> Response:
    """Remove a registered seat (one registered by mistake). A 409 names what holds it:
    logged in, on a call, a skill group's member, a campaign's seat; or the endpoint
    Asterisk still has for it, which would register the seat again at the next connect.
    While Asterisk is not connected that last cannot be checked: such a seat comes back
    when it connects."""
    await svc.delete_seat(seat_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


SEAT_ACTION = {"response_model": SeatActionOut, "status_code": 202,
               "responses": problems(403, 404, 409, 422, 502), "tags": ["seats"]}


@router.post("/seats/{seat_id}/login", **SEAT_ACTION)  # type: ignore[arg-type]
async def login(seat_id: SeatId, svc: Svc, caller: Agent,
                body: Annotated[LoginIn | None, Body()] = None) -> SeatActionOut:
    return await svc.seat_action(caller, seat_id, "login", body)


@router.post("/seats/{seat_id}/logout", **SEAT_ACTION)  # type: ignore[arg-type]
async def logout(seat_id: SeatId, svc: Svc, caller: Agent,
                 body: Annotated[LoginIn | None, Body()] = None) -> SeatActionOut:
    return await svc.seat_action(caller, seat_id, "logout", body)


@router.post("/seats/{seat_id}/pause", **SEAT_ACTION)  # type: ignore[arg-type]
async def pause(seat_id: SeatId, body: PauseIn, svc: Svc, caller: Agent) -> SeatActionOut:
    return await svc.seat_action(caller, seat_id, "pause", reason=body.reason)


@router.post("/seats/{seat_id}/unpause", **SEAT_ACTION)  # type: ignore[arg-type]
async def unpause(seat_id: SeatId, svc: Svc, caller: Agent) -> SeatActionOut:
    return await svc.seat_action(caller, seat_id, "unpause")


@router.post("/seats/{seat_id}/wrap-up/end", **SEAT_ACTION)  # type: ignore[arg-type]
async def end_wrap_up(seat_id: SeatId, svc: Svc, caller: Agent) -> SeatActionOut:
    return await svc.seat_action(caller, seat_id, "end_wrap_up")


# --- transfers -------------------------------------------------------------------------

TRANSFER = {"response_model": TransferOut, "status_code": 202,
            "responses": problems(403, 404, 409, 422, 502), "tags": ["calls"]}


@router.post("/calls/{call_id}/transfer", **TRANSFER)  # type: ignore[arg-type]
async def transfer(call_id: CallId, body: TransferIn, svc: Svc, caller: Agent) -> TransferOut:
    return await svc.transfer(caller, call_id, body)


@router.post("/calls/{call_id}/transfer/complete", **TRANSFER)  # type: ignore[arg-type]
async def complete_transfer(call_id: CallId, svc: Svc, caller: Agent) -> TransferOut:
    return await svc.finish_transfer(caller, call_id, complete=True)


@router.post("/calls/{call_id}/hangup", response_model=HangupOut, status_code=202,
             responses=problems(403, 404, 409, 502), tags=["calls"])
async def hang_up(call_id: CallId, svc: Svc, caller: Agent) -> HangupOut:
    """End a live call (every channel of it): agents their own, supervisors any."""
    return await svc.hang_up(caller, call_id)


@router.post("/calls/{call_id}/transfer/cancel", **TRANSFER)  # type: ignore[arg-type]
async def cancel_transfer(call_id: CallId, svc: Svc, caller: Agent) -> TransferOut:
    return await svc.finish_transfer(caller, call_id, complete=False)
