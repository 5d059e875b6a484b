"""Outbound dials searched by customer (number or what the lead says about them), by
campaign, seat, outcome or disposition: the telemarketing records of REQUIREMENTS.

Agents see their own seat's dials; supervisors and admins everyone's.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Caller, listed_seat
from cti.api.campaign_schemas import DialOut, DispositionEntryOut
from cti.api.errors import InvalidInput
from cti.api.schemas import Page
from cti.api.sessions import db_session
from cti.config import DialerSettings
from cti.db import dial_history
from cti.db.campaign_records import AttemptRecord
from cti.db.dial_history import DialQuery
from dialer.numbers import InvalidNumber, parse_number


def typed_number(phone: str, region: str, field: str, location: str) -> str:
    """A number as a person typed it (national in `region`, or E.164) in E.164, or a
    422 naming `field`."""
    try:
        return parse_number(phone, region).e164
    except InvalidNumber as exc:
        raise InvalidInput(field, str(exc), location=location) from exc


def dial_out(dial: AttemptRecord) -> DialOut:
    return DialOut(
        id=dial.id, call_id=dial.call_id, phone=dial.phone, campaign_id=dial.campaign_id,
        campaign_name=dial.campaign_name, lead_id=dial.lead_id, customer=dial.customer,
        seat_id=dial.seat_id, started_at=dial.started_at, ended_at=dial.ended_at,
        outcome=dial.outcome, agent_reserved=dial.agent_reserved,
        dispositions=[DispositionEntryOut(
            code=d.code, notes=d.notes, grade=d.grade, callback_at=d.callback_at,
            seat_id=d.seat_id, user_id=d.user_id, created_at=d.created_at,
        ) for d in dial.dispositions],
    )


class DialService:
    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], settings: DialerSettings
    ) -> None:
        self._sessions = sessionmaker
        self._settings = settings

    async def search(
        self, caller: Caller, query: DialQuery, *, phone: str | None, limit: int, offset: int
    ) -> Page[DialOut]:
        """`phone` as typed (national in the service's region, or E.164)."""
        if phone is not None:
            e164 = typed_number(phone, self._settings.default_region, "phone", "query")
            query = dataclasses.replace(query, phone=e164)
        query = dataclasses.replace(query, seat_id=listed_seat(caller, query.seat_id))
        async with db_session(self._sessions) as session:
            dials, total = await dial_history.search(session, query, limit=limit,
                                                     offset=offset)
        return Page[DialOut](items=[dial_out(d) for d in dials], total=total, limit=limit,
                             offset=offset)
