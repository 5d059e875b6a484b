"""Dependencies the routers share: the services built by :func:`cti.api.app.create_app`."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from cti.api.recording_service import RecordingService
from cti.api.services import CallService, HealthService, SeatService, SkillGroupService


@dataclass(frozen=True, slots=True)
class Services:
    seats: SeatService
    skill_groups: SkillGroupService
    calls: CallService
    health: HealthService
    recordings: RecordingService | None = None  # None: recordings not configured


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found
