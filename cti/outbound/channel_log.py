"""A call's rows of Asterisk's channel event log, read once the call has ended (I/O).

The runner and click-to-dial follow their calls from AMI events; a call that was up when
the AMI connection dropped may have lost some (its answer, its agent's connect, its
customer leg's DialEnd). When such a call ends they complete what they heard from the
log (``settle.heard``) before writing its outcome. cel_pgsql writes behind the call, in
order: once the call's own HANGUP row is there, every row before it is too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy.ext.asyncio import AsyncSession

from cti.db import dialer_repository as repo
from cti.outbound.settle import Heard, heard

#: How long to wait for the log to reach an ended call's HANGUP (milliseconds behind
#: when PostgreSQL is well), and how often to look.
LOG_WAIT = 3.0
LOG_POLL = 0.25


async def heard_to_end(sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
                       channel_id: str, trunk: str, clock: Callable[[], float]) -> Heard:
    """What the log says of the call whose first channel is ``channel_id``, once it has
    written the call's end, or what it has after ``LOG_WAIT`` seconds."""
    deadline = clock() + LOG_WAIT
    while True:
        async with sessions() as session:
            events = (await repo.channel_events(session, [channel_id]))[channel_id]
        said = heard(channel_id, events, trunk)
        if said.ended_at is not None or clock() >= deadline:
            return said
        await asyncio.sleep(LOG_POLL)
