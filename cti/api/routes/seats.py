"""``/v1/seats``: agent positions, live from Asterisk and configured in PostgreSQL."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from cti.api.routes.deps import Services, services
from cti.api.schemas import SEAT_ID_PATTERN, SeatOut, problems

router = APIRouter(prefix="/seats", tags=["seats"])


@router.get("", response_model=list[SeatOut])
async def list_seats(svc: Annotated[Services, Depends(services)]) -> list[SeatOut]:
    return await svc.seats.list()


@router.get("/{seat_id}", response_model=SeatOut, responses=problems(404))
async def get_seat(
    seat_id: Annotated[str, Path(pattern=SEAT_ID_PATTERN)],
    svc: Annotated[Services, Depends(services)],
) -> SeatOut:
    return await svc.seats.get(seat_id)
