"""The calls report: one row per call started in the period, as the history has it."""

from __future__ import annotations

from cti.reports.table import Column, integer, moment, text

COLUMNS: tuple[Column, ...] = (
    text("call_id", "Call"),
    text("direction", "Direction"),
    text("state", "State"),
    text("customer_number", "Customer number"),
    text("skill_group", "Skill group"),
    text("seat_id", "Seat"),
    integer("campaign_id", "Campaign id"),
    moment("started_at", "Started"),
    moment("queued_at", "Queued"),
    moment("answered_at", "Answered"),
    moment("ended_at", "Ended"),
    integer("wait_s", "Wait (s)"),
    integer("talk_s", "Talk (s)"),
    integer("abandoned", "Abandoned (1 yes, 0 no)"),
    text("hangup_cause", "Hangup cause"),
)
