"""``/v1/calls/{id}/monitor``: supervisors listen to, whisper to or barge into live calls.

    POST   /v1/calls/{call_id}/monitor                 start (rings the supervisor's phone)
    GET    /v1/calls/{call_id}/monitor                 every session on the call (the audit)
    GET    /v1/calls/{call_id}/monitor/{session_id}    one session
    PATCH  /v1/calls/{call_id}/monitor/{session_id}    change mode
    DELETE /v1/calls/{call_id}/monitor/{session_id}    stop

Supervisors and admins only. Supervision errors become problem documents here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from cti.api.auth import Caller, Role, require
from cti.api.errors import ApiError, InvalidInput, NotFound
from cti.api.schemas import CALL_ID_PATTERN, SEAT_ID_PATTERN, problems
from cti.supervision import errors
from cti.supervision.repository import SessionRecord
from cti.supervision.rules import Mode
from cti.supervision.service import SupervisionService

router = APIRouter(prefix="/calls", tags=["monitoring"])

SESSION_ID_PATTERN = r"^[0-9a-f]{32}$"

Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]
CallId = Annotated[str, Path(pattern=CALL_ID_PATTERN)]
SessionId = Annotated[str, Path(pattern=SESSION_ID_PATTERN)]


class MonitorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(description="listen: hear both parties; whisper: the agent hears "
                                   "you; barge: both parties hear you.")
    phone: str | None = Field(
        default=None, pattern=SEAT_ID_PATTERN,
        description="The seat whose phone rings; default: your own seat.",
    )


class ModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Mode


class ModeChangeOut(BaseModel):
    mode: Mode
    at: datetime
    by: str
    via: Literal["api", "phone"] = Field(
        default="api", description="api: this API; phone: keys 4/5/6 pressed on the "
        "supervisor's phone during the session.")


class MonitorSessionOut(BaseModel):
    id: str
    call_id: str
    supervisor: str
    phone_seat_id: str
    agent_seat_id: str
    agent_channel: str
    mode: Mode
    mode_changes: list[ModeChangeOut]
    started_at: datetime
    ended_at: datetime | None
    end_reason: str | None
    duration_seconds: int | None
    active: bool

    @classmethod
    def of(cls, r: SessionRecord) -> MonitorSessionOut:
        return cls(
            id=r.id, call_id=r.call_id, supervisor=r.supervisor,
            phone_seat_id=r.phone_seat_id, agent_seat_id=r.agent_seat_id,
            agent_channel=r.agent_channel, mode=Mode(r.mode),
            mode_changes=[ModeChangeOut.model_validate(c) for c in r.mode_changes],
            started_at=r.started_at, ended_at=r.ended_at, end_reason=r.end_reason,
            duration_seconds=r.duration_seconds, active=r.ended_at is None,
        )


def supervision(request: Request) -> SupervisionService:
    found: SupervisionService | None = getattr(request.app.state, "supervision", None)
    if found is None:
        raise ApiError("supervision is not running", code="unavailable", status=503,
                       details={"component": "supervision"})
    return found


Service = Annotated[SupervisionService, Depends(supervision)]

_STATUS: list[tuple[type[errors.SupervisionError], int, str]] = [
    (errors.CallNotLive, 409, "call_not_live"),
    (errors.SessionEnded, 409, "session_ended"),
    (errors.SessionNotConnected, 409, "session_not_connected"),
    (errors.PhoneBusy, 409, "phone_busy"),
    (errors.Unavailable, 503, "unavailable"),
]


@contextmanager
def _mapped() -> Iterator[None]:
    try:
        yield
    except errors.CallNotFound as exc:
        raise NotFound("call", str(exc.details.get("call_id", ""))) from exc
    except errors.SessionNotFound as exc:
        raise NotFound("monitor session", str(exc.details.get("session_id", ""))) from exc
    except errors.PhoneInvalid as exc:
        raise InvalidInput("phone", exc.message, location="body") from exc
    except errors.SupervisionError as exc:
        for kind, status, code in _STATUS:
            if isinstance(exc, kind):
                details: dict[str, Any] = dict(exc.details)
                raise ApiError(exc.message, code=code, status=status, details=details) from exc
        raise


@router.post("/{call_id}/monitor", status_code=201, response_model=MonitorSessionOut,
             responses=problems(404, 409, 503))
async def start_monitoring(call_id: CallId, body: MonitorIn, caller: Supervisor,
                           svc: Service) -> MonitorSessionOut:
    """Ring the supervisor's phone and join it to the agent's side of the call."""
    with _mapped():
        record = await svc.begin(caller.username, caller.seat_id, call_id, body.mode,
                                 body.phone)
    return MonitorSessionOut.of(record)


@router.get("/{call_id}/monitor", response_model=list[MonitorSessionOut],
            responses=problems(404, 503))
async def list_monitoring(call_id: CallId, caller: Supervisor,
                          svc: Service) -> list[MonitorSessionOut]:
    with _mapped():
        return [MonitorSessionOut.of(r) for r in await svc.sessions(call_id)]


@router.get("/{call_id}/monitor/{session_id}", response_model=MonitorSessionOut,
            responses=problems(404, 503))
async def get_monitoring(call_id: CallId, session_id: SessionId, caller: Supervisor,
                         svc: Service) -> MonitorSessionOut:
    with _mapped():
        return MonitorSessionOut.of(await svc.session(call_id, session_id))


@router.patch("/{call_id}/monitor/{session_id}", response_model=MonitorSessionOut,
              responses=problems(404, 409, 503))
async def change_mode(call_id: CallId, session_id: SessionId, body: ModeIn,
                      caller: Supervisor, svc: Service) -> MonitorSessionOut:
    with _mapped():
        record = await svc.change_mode(caller.username, call_id, session_id, body.mode)
    return MonitorSessionOut.of(record)


@router.delete("/{call_id}/monitor/{session_id}", response_model=MonitorSessionOut,
               responses=problems(404, 503))
async def stop_monitoring(call_id: CallId, session_id: SessionId, caller: Supervisor,
                          svc: Service) -> MonitorSessionOut:
    """Hang up the supervisor's phone; the session ends when Asterisk confirms."""
    with _mapped():
        record = await svc.stop(call_id, session_id)
    return MonitorSessionOut.of(record)
