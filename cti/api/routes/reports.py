"""``/v1/reports/{kind}``: the workload and outbound reports, for a period, as JSON, CSV,
Excel or SPSS (supervisors and admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from cti.api.auth import Caller, Role, require
from cti.api.report_service import ReportKind, ReportService
from cti.api.schemas import problems
from cti.reports.formats import Format

router = APIRouter(prefix="/reports", tags=["reports"])
Supervisor = Annotated[Caller, Depends(require(Role.SUPERVISOR))]


def reports(request: Request) -> ReportService:
    found: ReportService = request.app.state.reports
    return found


@router.get("/{kind}", response_class=StreamingResponse, responses={
    200: {"content": {"application/json": {}, "text/csv": {}, "application/vnd.openxml"
                      "formats-officedocument.spreadsheetml.sheet": {},
                      "application/x-spss-sav": {}}},
    **problems(422, 503)})
async def report(
    kind: Annotated[ReportKind, Path(description=(
        "agents: each seat (its agent's name too) with its time by state (pauses by "
        "reason), calls answered and rung out, average handle time, occupancy. "
        "skill-groups: each group's inbound calls queued, answered, abandoned, service "
        "level, waits and talk. campaigns: each campaign's dials by outcome, live answers, "
        "abandon and contact rates, talk, dispositions (click-to-dial outside campaigns as "
        "one more row). Every seat, group and campaign of the period is a row, zeros "
        "included. calls: every call started in the period, one row each (31 days at "
        "most, counted on tz's calendar)."))],
    _: Supervisor,
    svc: Annotated[ReportService, Depends(reports)],
    start: Annotated[str | None, Query(alias="from", max_length=40, description=(
        "A date (midnight in tz) or an ISO 8601 time; default: today."))] = None,
    end: Annotated[str | None, Query(alias="to", max_length=40, description=(
        "Exclusive, like from; default: a day after from."))] = None,
    tz: Annotated[str, Query(max_length=64, description=(
        "IANA zone the dates are in and the times are written in."))] = "UTC",
    format: Annotated[Format, Query(description=(
        "json, csv (UTF-8 with BOM), xlsx (Excel) or sav (SPSS)."))] = Format.JSON,
    sl_seconds: Annotated[int, Query(ge=1, le=3600, description=(
        "skill-groups: the service level's answer time."))] = 20,
) -> StreamingResponse:
    """A report over [from, to). Times in the file are in `tz`."""
    made = await svc.report(kind, format, start, end, tz, sl_seconds)
    headers = {} if format is Format.JSON else {
        "Content-Disposition": f'attachment; filename="{made.filename}"'}
    return StreamingResponse(made.body, media_type=made.media_type, headers=headers)
