"""``/healthz`` (the process answers) and ``/readyz`` (every component is up). No auth."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from cti.api.routes.deps import Services, services
from cti.api.schemas import LivenessOut, ReadinessOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=LivenessOut)
async def healthz() -> LivenessOut:
    return LivenessOut()


@router.get(
    "/readyz",
    response_model=ReadinessOut,
    responses={503: {"model": ReadinessOut, "description": "A component is down."}},
)
async def readyz(svc: Annotated[Services, Depends(services)]) -> JSONResponse:
    readiness = svc.health.readiness()
    return JSONResponse(readiness.model_dump(mode="json"), status_code=200 if readiness.ok else 503)
