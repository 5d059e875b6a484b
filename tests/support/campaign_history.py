"""A campaign's previous session, written into PostgreSQL before a live run.

The predictive rule over-dials only while the rolling 24 h abandon budget is big enough
(`dialer.pacing.predictive.PredictiveConfig.min_budget`: target x live answers in the
last 24 h), so a bench campaign that starts from an empty history dials progressively
from start to end. A campaign that ran yesterday has that history: this module makes one
(`previous_session`, pure) and writes it with the project's own ORM models
(`write_session`): the leads the session called, finished so the runner never calls
them again, and one dial attempt each, which `abandon_counters` counts like any other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update

from cti.config import DatabaseSettings
from cti.db.campaign_models import Campaign, DialAttempt, LeadRow
from cti.db.engine import make_engine, make_sessionmaker
from dialer.schedule import Outcome

#: Shares of dials by outcome in the session, live answers apart (given as a count):
#: the bench's customer mix (40% answer, 10% busy, 10% failed, 40% ring out).
OTHER_OUTCOMES = {Outcome.BUSY: 0.25, Outcome.FAILED: 0.25, Outcome.NO_ANSWER: 1.0}
LIVE_SHARE = 0.40
RING_OUT_SECONDS = 25.0


@dataclass(frozen=True, slots=True)
class PastDial:
    phone: str
    outcome: Outcome
    started_at: datetime
    ended_at: datetime
    seat_id: str | None


@dataclass(frozen=True, slots=True)
class PastSession:
    dials: tuple[PastDial, ...]

    @property
    def live(self) -> int:
        return sum(d.outcome in (Outcome.ANSWERED, Outcome.ABANDONED) for d in self.dials)

    @property
    def abandoned(self) -> int:
        return sum(d.outcome is Outcome.ABANDONED for d in self.dials)

    @property
    def first(self) -> datetime:
        return min(d.started_at for d in self.dials)

    @property
    def last(self) -> datetime:
        return max(d.started_at for d in self.dials)


def previous_session(
    now: datetime,
    *,
    live: int = 1200,
    abandon_rate: float = 0.02,
    began_ago: timedelta = timedelta(hours=22),
    ended_ago: timedelta = timedelta(hours=14),
    seats: tuple[str, ...] = ("2001",),
    phone_prefix: str = "+86137",
    seed: int = 0,
) -> PastSession:
    """An 8-hour session that ended ``ended_ago``: ``live`` live answers among dials in
    the bench's customer mix, ``round(live x abandon_rate)`` of them abandoned, dials
    evenly spaced (in shuffled order of outcomes). Keep ``began_ago`` under 23 h so no
    dial leaves the rolling 24 h window within the pacer's one-hour look-ahead.

    Phones are ``phone_prefix`` + 8 digits (+86137..., China mobile): pick a prefix no
    live lead uses.
    """
    if not timedelta(0) < ended_ago < began_ago:
        raise ValueError("need 0 < ended_ago < began_ago")
    if live < 1 or not 0.0 <= abandon_rate <= 1.0 or not seats:
        raise ValueError("need live >= 1, 0 <= abandon_rate <= 1 and a seat")
    abandoned = round(live * abandon_rate)
    dials = round(live / LIVE_SHARE)
    others = dials - live
    weights = sum(OTHER_OUTCOMES.values())
    outcomes = [Outcome.ABANDONED] * abandoned + [Outcome.ANSWERED] * (live - abandoned)
    for outcome, weight in OTHER_OUTCOMES.items():
        outcomes += [outcome] * round(others * weight / weights)
    rng = random.Random(seed)
    rng.shuffle(outcomes)
    began = now - began_ago
    step = (began_ago - ended_ago) / len(outcomes)
    made: list[PastDial] = []
    for i, outcome in enumerate(outcomes):
        started = began + i * step
        seconds, seat = _duration(outcome, rng), None
        if outcome is Outcome.ANSWERED:
            seat = seats[i % len(seats)]
        made.append(PastDial(f"{phone_prefix}{i:08d}", outcome, started,
                             started + timedelta(seconds=seconds), seat))
    return PastSession(tuple(made))


def _duration(outcome: Outcome, rng: random.Random) -> float:
    """How long such a dial lasted: ring, then talk (answered) or the message (abandoned)."""
    ring = rng.uniform(3.0, 20.0)
    if outcome is Outcome.ANSWERED:
        return ring + rng.lognormvariate(4.8, 0.8)  # talk: median ~2 min
    if outcome is Outcome.ABANDONED:
        return ring + 2.0 + 9.0  # the 2 s deadline, then the information message
    if outcome is Outcome.NO_ANSWER:
        return RING_OUT_SECONDS
    return rng.uniform(0.5, 5.0)  # busy, failed


async def write_session(url: str, campaign_id: int, session: PastSession,
                        timezone: str, node: str = "node1") -> int:
    """Write the session's leads (finished: ``next_eligible_at`` null, so never due
    again) and attempts for the campaign, dating the campaign from before it; the
    highest attempt id written (the live run's attempts come after it)."""
    engine = make_engine(DatabaseSettings(url=url))
    try:
        async with make_sessionmaker(engine)() as db, db.begin():
            created = session.first - timedelta(hours=1)
            await db.execute(update(Campaign).where(Campaign.id == campaign_id)
                             .values(created_at=created, updated_at=created))
            leads = [
                LeadRow(campaign_id=campaign_id, phone=d.phone, timezones=[timezone],
                        attempts=1, last_attempt_at=d.started_at, last_outcome=d.outcome.value,
                        next_eligible_at=None, created_at=created)
                for d in session.dials
            ]
            db.add_all(leads)
            await db.flush()
            attempts = [
                DialAttempt(phone=d.phone, campaign_id=campaign_id, lead_id=lead.id,
                            call_id=f"{node}:cti-dial-{campaign_id}-history{i:06d}",
                            seat_id=d.seat_id, started_at=d.started_at, ended_at=d.ended_at,
                            outcome=d.outcome.value,
                            abandoned=d.outcome is Outcome.ABANDONED)
                for i, (d, lead) in enumerate(zip(session.dials, leads, strict=True))
            ]
            db.add_all(attempts)
            await db.flush()
            return max(a.id for a in attempts)
    finally:
        await engine.dispose()
