"""API tokens for admins: list them (never their secrets) and revoke them.

A revocation is honoured at once: the token's entry leaves the token cache
(:class:`cti.api.auth.Authenticator`), so the next request with the token, and an event
stream's next token check, ask the database again; a lookup already under way is not
believed. (``cti token revoke`` runs in another process: the service sees
that once the cached entry expires.)
"""

from __future__ import annotations

import logging
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.api.auth import Authenticator, Caller
from cti.api.errors import NotFound
from cti.api.schemas import as_utc
from cti.api.sessions import db_session
from cti.db import repositories
from cti.db.repositories import TokenRecord
from cti.utc import to_utc

log = logging.getLogger(__name__)


class TokenOut(BaseModel):
    """A token as it may be shown: who it acts for and how, never its secret."""

    model_config = ConfigDict(frozen=True)

    id: int
    user: str
    role: str = Field(description="The user's, as every token of theirs has it.")
    seat_id: str | None = Field(description="The user's seat, if bound to one.")
    label: str
    prefix: str = Field(description="The token's first characters, to tell it apart.")
    created_at: datetime
    last_used_at: datetime | None = Field(description="To the minute.")
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenOut:
        return cls(id=t.id, user=t.username, role=t.role, seat_id=t.seat_id, label=t.name,
                   prefix=t.prefix, created_at=to_utc(t.created_at),
                   last_used_at=as_utc(t.last_used_at), revoked_at=as_utc(t.revoked_at))


class TokenService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession],
                 authenticator: Authenticator) -> None:
        self._sessions = sessionmaker
        self._authenticator = authenticator

    async def list(self, user: str | None) -> list[TokenOut]:
        """Tokens, revoked ones too, oldest first (``user``'s only, if given)."""
        async with db_session(self._sessions) as session:
            return [TokenOut.of(t) for t in await repositories.list_tokens(session, user)]

    async def revoke(self, caller: Caller, token_id: int) -> None:
        """Revoke a token (one revoked already: nothing to do); 404 if there is none."""
        async with db_session(self._sessions) as session:
            if not await repositories.revoke_token(session, token_id=token_id):
                if await repositories.get_token(session, token_id) is None:
                    raise NotFound("token", str(token_id))
                return
        self._authenticator.forget(token_id)
        log.info("API token %s revoked by %s", token_id, caller.username)
