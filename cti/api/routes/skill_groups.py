"""``/v1/skill-groups``: queues with their members (skill level = penalty) and waiting calls."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from cti.api.routes.deps import Services, services
from cti.api.schemas import SKILL_GROUP_PATTERN, SkillGroupOut, problems

router = APIRouter(prefix="/skill-groups", tags=["skill groups"])


@router.get("", response_model=list[SkillGroupOut])
async def list_skill_groups(svc: Annotated[Services, Depends(services)]) -> list[SkillGroupOut]:
    return await svc.skill_groups.list()


@router.get("/{name}", response_model=SkillGroupOut, responses=problems(404))
async def get_skill_group(
    name: Annotated[str, Path(pattern=SKILL_GROUP_PATTERN)],
    svc: Annotated[Services, Depends(services)],
) -> SkillGroupOut:
    return await svc.skill_groups.get(name)
