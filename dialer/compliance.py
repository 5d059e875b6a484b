"""The one compliance gate every dial passes through.

:func:`check` is pure: given the lead, the campaign's rules, what the store knows about the
number (its recent dials across every campaign, DNC membership) and ``now``, it allows the
dial or names every reason it may not happen. It never answers "allow" by omission: each
rule is checked on every call, and the reasons are all reported (not just the first), so
supervisors see why a lead is stuck.

Reasons (stable codes):

- ``dnc_global``: the number is on the global do-not-call list;
- ``dnc_campaign``: on this campaign's do-not-call list;
- ``outside_window``: not inside a calling window in the lead's local time;
- ``cap_day`` / ``cap_week``: the number was dialed ``cap_per_day`` times in the last 24
  hours / ``cap_per_week`` times in the last 7 days, across all campaigns (a callback the
  customer asked for, once its time has come, is not held back by the caps: they keep a
  number from unsolicited calls; it still counts toward them for the calls after it);
- ``max_attempts``: the lead used up its attempts (a callback the customer asked for is
  not held back by it, as by the caps);
- ``abandoned_72h``: the number got an abandoned call in the last 72 hours and no agent is
  reserved for this call (Ofcom's rule);
- ``grade_c``: grade C leads get no agent calls;
- ``not_due``: a retry delay, grade cadence or callback time has not come yet.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dialer.schedule import Cadence, Grade, Window, in_window, next_opening

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
ABANDON_QUIET = timedelta(hours=72)
DEFAULT_CAP_PER_DAY = 1
DEFAULT_CAP_PER_WEEK = 3


class Reason(enum.StrEnum):
    DNC_GLOBAL = "dnc_global"
    DNC_CAMPAIGN = "dnc_campaign"
    OUTSIDE_WINDOW = "outside_window"
    CAP_DAY = "cap_day"
    CAP_WEEK = "cap_week"
    MAX_ATTEMPTS = "max_attempts"
    ABANDONED_72H = "abandoned_72h"
    GRADE_C = "grade_c"
    NOT_DUE = "not_due"


@dataclass(frozen=True, slots=True)
class FrequencyCap:
    """At most ``per_day`` dials in 24 hours and ``per_week`` in 7 days to one number."""

    per_day: int = DEFAULT_CAP_PER_DAY
    per_week: int = DEFAULT_CAP_PER_WEEK

    def __post_init__(self) -> None:
        # A cap of zero would silently stop a campaign; it is a configuration error.
        if self.per_day < 1:
            raise ValueError("per_day must be at least 1")
        if self.per_week < self.per_day:
            raise ValueError("per_week must be at least per_day")


@dataclass(frozen=True, slots=True)
class CampaignRules:
    cadence: Cadence
    cap: FrequencyCap = FrequencyCap()


@dataclass(frozen=True, slots=True)
class LeadState:
    e164: str
    zones: tuple[str, ...]
    grade: Grade | None
    attempts: int
    next_eligible_at: datetime | None  # None: never again (finished)
    callback_at: datetime | None = None  # a callback the customer asked for


@dataclass(frozen=True, slots=True)
class NumberHistory:
    """A read-only view of one number, as the store sees it at ``now``.

    ``recent_dials``: start times of dials to the number within the last 7 days, every
    campaign and manual dials included. ``last_abandoned_at``: the latest abandoned call.
    """

    in_global_dnc: bool = False
    in_campaign_dnc: bool = False
    recent_dials: Sequence[datetime] = ()
    last_abandoned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    reasons: tuple[Reason, ...]

    @property
    def allowed(self) -> bool:
        return not self.reasons


def check(
    lead: LeadState,
    rules: CampaignRules,
    history: NumberHistory,
    now: datetime,
    *,
    agent_reserved: bool = False,
) -> Decision:
    """Allow the dial, or name every reason against it."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    reasons: list[Reason] = []
    if history.in_global_dnc:
        reasons.append(Reason.DNC_GLOBAL)
    if history.in_campaign_dnc:
        reasons.append(Reason.DNC_CAMPAIGN)
    if not in_window(rules.cadence.windows, lead.zones, now):
        reasons.append(Reason.OUTSIDE_WINDOW)
    # A dial stamped in the future (clock skew between nodes) still counts.
    # A callback the customer asked for is not an unsolicited call: a same-day callback
    # under the default cap of one call a day would otherwise wait until tomorrow.
    asked = lead.callback_at is not None and lead.callback_at <= now
    day = sum(1 for t in history.recent_dials if t > now - DAY)
    week = sum(1 for t in history.recent_dials if t > now - WEEK)
    if day >= rules.cap.per_day and not asked:
        reasons.append(Reason.CAP_DAY)
    if week >= rules.cap.per_week and not asked:
        reasons.append(Reason.CAP_WEEK)
    if lead.attempts >= rules.cadence.max_attempts and not asked:
        reasons.append(Reason.MAX_ATTEMPTS)
    if (
        history.last_abandoned_at is not None
        and history.last_abandoned_at > now - ABANDON_QUIET
        and not agent_reserved
    ):
        reasons.append(Reason.ABANDONED_72H)
    if lead.grade is Grade.C:
        reasons.append(Reason.GRADE_C)
    elif lead.next_eligible_at is not None and lead.next_eligible_at > now:
        reasons.append(Reason.NOT_DUE)
    elif lead.next_eligible_at is None and lead.attempts < rules.cadence.max_attempts:
        reasons.append(Reason.NOT_DUE)  # finished for another reason: nothing scheduled
    return Decision(tuple(reasons))


def check_manual(
    history: NumberHistory,
    cap: FrequencyCap,
    now: datetime,
    *,
    windows: Sequence[Window] | None = None,
    zones: tuple[str, ...] = (),
) -> Decision:
    """The gate for an agent's own dial (click-to-dial) of a number that is not a lead.

    The agent is on the line, so the 72-hour abandon rule does not apply; attempts,
    grades and cadences belong to leads. DNC and the frequency cap always apply, and a
    campaign's calling windows when the dial is made for a campaign.
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    now = now.astimezone(UTC)
    reasons: list[Reason] = []
    if history.in_global_dnc:
        reasons.append(Reason.DNC_GLOBAL)
    if history.in_campaign_dnc:
        reasons.append(Reason.DNC_CAMPAIGN)
    if windows is not None and not in_window(windows, zones, now):
        reasons.append(Reason.OUTSIDE_WINDOW)
    if sum(1 for t in history.recent_dials if t > now - DAY) >= cap.per_day:
        reasons.append(Reason.CAP_DAY)
    if sum(1 for t in history.recent_dials if t > now - WEEK) >= cap.per_week:
        reasons.append(Reason.CAP_WEEK)
    return Decision(tuple(reasons))


#: Refusals that end a lead for good: no later time makes the dial allowed.
FINAL_REFUSALS = frozenset({Reason.DNC_GLOBAL, Reason.DNC_CAMPAIGN, Reason.MAX_ATTEMPTS,
                            Reason.GRADE_C})
#: How long a lead refused by a cap or the 72-hour rule waits before the gate is asked
#: again (the gate, not this, decides: this only keeps the runner off the lead meanwhile).
RECHECK_AFTER = timedelta(hours=1)


def retry_after_refusal(
    decision: Decision, windows: Sequence[Window], zones: Sequence[str], now: datetime
) -> datetime | None:
    """When a lead the gate refused is due again: None (never) after a final refusal,
    else the first calling-window instant after the recheck delay (or after now, for a
    lead refused only for being outside its window)."""
    reasons = set(decision.reasons)
    if reasons & FINAL_REFUSALS:
        return None
    start = now if reasons <= {Reason.OUTSIDE_WINDOW, Reason.NOT_DUE} else now + RECHECK_AFTER
    return next_opening(windows, zones, start)
