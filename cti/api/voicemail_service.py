"""Voicemail for the REST API: listing from the spool, moves and deletes through AMI.

Who may do what:

- supervisors and admins: every box; mark heard; delete.
- agents: read (list, get, download) the boxes of the skill groups their seat is a
  configured member of (PostgreSQL), nothing else: a sales agent calls back sales
  customers, and support's messages are not theirs to hear. They cannot change a box.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cti.ami import actions
from cti.ami.connection import AmiConnection
from cti.ami.errors import AmiActionFailed, AmiError, AmiNotConnected, AmiTimeout
from cti.api.auth import Caller, Role
from cti.api.errors import ApiError, NotFound, Unavailable
from cti.api.media_schemas import VoicemailOut
from cti.api.schemas import Page
from cti.api.store import Store
from cti.telephony.voicemail import Message, MessageNotFound, VoicemailSpool

log = logging.getLogger(__name__)

ConnectionFor = Callable[[], AmiConnection | None]


class BoxForbidden(ApiError):
    code = "forbidden"
    status = 403

    def __init__(self, box: str) -> None:
        super().__init__(
            f"voicemail box {box!r} is not the box of one of your skill groups",
            details={"box": box},
        )


class VoicemailService:
    def __init__(self, spool: VoicemailSpool, store: Store, connection: ConnectionFor,
                 node: str) -> None:
        self._spool = spool
        self._store = store
        self._connection = connection
        self._node = node

    async def _boxes_for(self, caller: Caller) -> set[str] | None:
        """The boxes ``caller`` may read; None means all."""
        if caller.role.allows(Role.SUPERVISOR):
            return None
        if caller.seat_id is None:
            return set()
        groups = await self._store.skill_groups()
        # a group's messages are in its box, which need not bear the group's name
        return {g.box for g in groups if caller.seat_id in g.penalties}

    async def list(self, caller: Caller, *, box: str | None, heard: bool | None, limit: int,
                   offset: int) -> Page[VoicemailOut]:
        allowed = await self._boxes_for(caller)
        if box is not None and allowed is not None and box not in allowed:
            raise BoxForbidden(box)
        boxes: list[str] | None
        if box is not None:
            boxes = [box]
        elif allowed is not None:
            boxes = sorted(allowed)
        else:
            boxes = None
        found = await asyncio.to_thread(self._spool.messages, boxes)
        if heard is not None:
            found = [m for m in found if m.heard == heard]
        page = found[offset:offset + limit]
        return Page(items=[VoicemailOut.from_message(m) for m in page], total=len(found),
                    limit=limit, offset=offset)

    async def message(self, caller: Caller, message_id: str) -> Message:
        try:
            found = await asyncio.to_thread(self._spool.get, message_id)
        except MessageNotFound:
            raise NotFound("voicemail message", message_id) from None
        allowed = await self._boxes_for(caller)
        if allowed is not None and found.box not in allowed:
            raise BoxForbidden(found.box)
        return found

    async def get(self, caller: Caller, message_id: str) -> VoicemailOut:
        return VoicemailOut.from_message(await self.message(caller, message_id))

    async def audio(self, caller: Caller, message_id: str) -> Message:
        found = await self.message(caller, message_id)
        if found.audio is None:
            raise NotFound("voicemail audio", message_id)
        return found

    async def mark_heard(self, caller: Caller, message_id: str) -> VoicemailOut:
        found = await self.message(caller, message_id)
        if found.heard:
            return VoicemailOut.from_message(found)
        await self._ami(message_id, lambda conn: actions.voicemail_move(
            conn, context=found.context, mailbox=found.box, folder=found.folder,
            msg_id=found.msg_id, to_folder="Old"))
        log.info("voicemail %s marked heard by %s", message_id, caller.username)
        return await self.get(caller, message_id)

    async def delete(self, caller: Caller, message_id: str) -> None:
        found = await self.message(caller, message_id)
        await self._ami(message_id, lambda conn: actions.voicemail_remove(
            conn, context=found.context, mailbox=found.box, folder=found.folder,
            msg_id=found.msg_id))
        log.info("voicemail %s deleted by %s", message_id, caller.username)

    async def _ami(self, message_id: str,
                   action: Callable[[AmiConnection], Awaitable[None]]) -> None:
        conn = self._connection()
        if conn is None:
            raise Unavailable(f"Asterisk node {self._node}")
        try:
            await action(conn)
        except (AmiNotConnected, AmiTimeout) as exc:
            log.warning("voicemail %s: node %s unreachable: %s", message_id, self._node, exc)
            raise Unavailable(f"Asterisk node {self._node}") from exc
        except AmiActionFailed as exc:
            log.warning("voicemail %s: %s", message_id, exc)
            # Most likely the message went between our read and the action (another
            # supervisor, or the phone menu *98): then it is a message that is not there.
            try:
                await asyncio.to_thread(self._spool.get, message_id)
            except MessageNotFound:
                raise NotFound("voicemail message", message_id) from exc
            raise ApiError(f"Asterisk refused: {exc.message.strip()}", code="asterisk_refused",
                           status=502, details={"action": exc.action}) from exc
        except AmiError as exc:
            raise ApiError(f"Asterisk refused: {exc}", code="asterisk_refused",
                           status=502) from exc
