"""Rules every policy obeys, applied after the policy has had its say.

- Nothing is placed while no agent is logged in and unpaused.
- Calls ring at least MIN_RING_SECONDS (FTC TSR, Ofcom); predictive campaigns ring
  `predictive_ring_timeout`, the others `ring_timeout`.
- Progressive mode never abandons: at most one call per free agent not already
  covered by a ringing call or a waiting customer.
- Never more calls ringing than `max_lines_per_agent` per working agent.
"""

from __future__ import annotations

import math

from dialer.pacing.snapshot import MIN_RING_SECONDS, Decision, Mode, PacingSettings, Snapshot


def ring_timeout(snapshot: Snapshot) -> float:
    return campaign_ring_timeout(snapshot.settings)


def campaign_ring_timeout(settings: PacingSettings) -> float:
    """How long a campaign of `settings` rings each customer."""
    wanted = (
        settings.predictive_ring_timeout
        if settings.mode is Mode.PREDICTIVE
        else settings.ring_timeout
    )
    return max(wanted, MIN_RING_SECONDS)


def uncovered_free_agents(snapshot: Snapshot) -> int:
    """Free agents that no ringing call or waiting customer is already headed for."""
    return snapshot.agents.free - len(snapshot.ringing) - snapshot.waiting


def line_headroom(snapshot: Snapshot) -> int:
    cap = math.floor(snapshot.settings.max_lines_per_agent * snapshot.agents.working)
    return cap - len(snapshot.ringing)


def enforce(snapshot: Snapshot, wanted: int, reason: str) -> Decision:
    """Clamp a policy's wish to the rules; the reason says which rule cut it."""
    timeout = ring_timeout(snapshot)
    if snapshot.agents.working <= 0:
        return Decision(0, timeout, "no agent logged in and unpaused")
    place = max(0, wanted)
    if snapshot.settings.mode is Mode.PROGRESSIVE and place > uncovered_free_agents(snapshot):
        place = max(0, uncovered_free_agents(snapshot))
        reason = f"{reason}; progressive cap {place}"
    headroom = line_headroom(snapshot)
    if place > headroom:
        place = max(0, headroom)
        reason = f"{reason}; line cap {place}"
    return Decision(place, timeout, reason)
