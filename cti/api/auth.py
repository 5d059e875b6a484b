"""Bearer-token authentication and role checks.

Roles are ordered: agent < supervisor < admin; a route that needs ``supervisor`` admits
supervisors and admins. A route declares the role it needs with ``require(Role.X)`` among
its dependencies. Every ``/v1`` route depends first on :func:`authorize`, which finds the
strictest role the route declares and refuses a caller below it (401, 403) before
anything looks at the request's parameters or body: a caller the route does not admit
learns nothing about what it accepts. FastAPI parses a JSON body before any dependency
runs; for its parse errors the error handler asks :func:`authorize_first` first.

Tokens are resolved by a lookup function (in the running service, the repository's
``authenticate`` through :class:`cti.api.store.Store`). Successful lookups are cached for a
short TTL, keyed by the SHA-256 of the token, so the plaintext is never kept. Failures are
never cached: a token created a moment ago works at once. A revoked token keeps working
until its cache entry expires (at most ``ttl`` seconds).

While the database is away (PostgreSQL restarting, failing over), a token that was valid
within the last ``stale_for`` seconds keeps working: the live state the agents and
supervisors watch comes from Asterisk, not the database, and must not go dark with it. A
token revoked meanwhile is refused once the database answers again.
"""

from __future__ import annotations

import enum
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from cti.api.errors import Forbidden, InvalidInput, Unauthenticated, Unavailable


class Role(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True if this role may do what ``required`` may do."""
        return self.rank >= required.rank


_RANKS = {Role.AGENT: 0, Role.SUPERVISOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling the API, as the routes see it."""

    user_id: int | str
    username: str
    role: Role
    seat_id: str | None
    token_id: int | None = None  # the token it came with, when known (a revocation)


TokenLookup = Callable[[str], Awaitable[Caller | None]]


class Authenticator:
    """Resolve bearer tokens to callers, caching successes for ``ttl`` seconds (and
    ``stale_for`` more while the database is away)."""

    def __init__(
        self,
        lookup: TokenLookup,
        *,
        ttl: float = 30.0,
        stale_for: float = 3600.0,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lookup = lookup
        self._ttl = ttl
        self._stale_for = stale_for
        self._max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, Caller]] = OrderedDict()
        self._revoked: set[int] = set()  # tokens revoked through this process

    async def authenticate(self, token: str) -> Caller | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        hit = self._cache.get(key)
        if hit is not None and now < hit[0]:
            return hit[1]
        try:
            found = await self._lookup(token)
        except Unavailable:
            if hit is not None and now < hit[0] + self._stale_for:
                return hit[1]  # checked within the hour; the database is away
            raise
        if found is None or found.token_id in self._revoked:
            # (A lookup that began before a revocation here committed answers for a token
            # revoked since: it is not kept, nor believed.)
            self._cache.pop(key, None)
            return None
        self._cache[key] = (now + self._ttl, found)
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)  # the oldest entry
        return found

    def forget(self, token_id: int) -> None:
        """A token was revoked: its cached entry goes (the next request with it asks the
        database), and every other token keeps its own, the fallback of an outage
        included."""
        self._revoked.add(token_id)
        for key in [k for k, (_, c) in self._cache.items() if c.token_id == token_id]:
            del self._cache[key]


_bearer = HTTPBearer(auto_error=False, description="An API token from `cti token create`.")

# Tokens are short opaque strings; do not hash megabytes sent by a confused client.
MAX_TOKEN_LENGTH = 512


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    """The authenticated caller, or 401 with ``WWW-Authenticate: Bearer``."""
    if credentials is None or not credentials.credentials:
        raise Unauthenticated()
    token = credentials.credentials
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        raise Unauthenticated("the bearer token is malformed")
    authenticator: Authenticator = request.app.state.authenticator
    caller = await authenticator.authenticate(token)
    if caller is None:
        raise Unauthenticated("the bearer token is unknown, expired or revoked")
    return caller


@dataclass(frozen=True, slots=True)
class RoleRequired:
    """A dependency admitting callers whose role is at least ``role``, else 403; a record
    (not a closure) so that :func:`route_role` can read what a route requires."""

    role: Role

    async def __call__(self, caller: Annotated[Caller, Depends(current_caller)]) -> Caller:
        return _admitted(caller, self.role)


def require(role: Role) -> RoleRequired:
    """The dependency a route declares its role with: ``Depends(require(Role.ADMIN))``."""
    return RoleRequired(role)


def _admitted(caller: Caller, role: Role) -> Caller:
    if not caller.role.allows(role):
        raise Forbidden(role.value, caller.role.value)
    return caller


def route_role(route: object) -> Role | None:
    """The strictest role ``route`` requires anywhere in its dependencies: a
    :class:`RoleRequired`, or at least an agent's when it only asks who calls
    (:func:`current_caller`); None when it asks neither."""
    dependant = getattr(route, "dependant", None)
    if not isinstance(dependant, Dependant):
        return None
    found: Role | None = None
    stack = list(dependant.dependencies)
    while stack:
        d = stack.pop()
        role = (d.call.role if isinstance(d.call, RoleRequired)
                else Role.AGENT if d.call is current_caller else None)
        if role is not None and (found is None or role.rank > found.rank):
            found = role
        stack.extend(d.dependencies)
    return found


async def authorize(
    request: Request, caller: Annotated[Caller, Depends(current_caller)]
) -> Caller:
    """The first dependency of every ``/v1`` route: the caller must hold the strictest
    role the route requires (an agent's at least), decided before the dependencies after
    it and the validation of parameters and body (a NUL in the body, a wrong media type:
    otherwise a 422 or 415 told an agent about a supervisor's route)."""
    _admitted(caller, route_role(request.scope.get("route")) or Role.AGENT)
    request.state.caller = caller
    return caller


async def authorize_first(request: Request) -> None:
    """Raise what :func:`authorize` would for a request refused before it ran: FastAPI
    parses a JSON body before any dependency, so a malformed body is reported by the
    error handler, which asks this first. Nothing when :func:`authorize` already ran, or
    the route asks for no caller."""
    if getattr(request.state, "caller", None) is not None:
        return
    role = route_role(request.scope.get("route"))
    if role is not None:
        _admitted(await current_caller(request, await _bearer(request)), role)


def own_seat_only(caller: Caller, seat_id: str) -> None:
    """Agents act on their own seat; supervisors and admins on any."""
    if not caller.role.allows(Role.SUPERVISOR) and caller.seat_id != seat_id:
        raise Forbidden(Role.SUPERVISOR.value, caller.role.value)


def listed_seat(caller: Caller, asked: str | None) -> str | None:
    """The seat a listing (recordings, dials, callbacks) is limited to: the one a
    supervisor or admin asked for (None: every seat); an agent's own, whatever it asked
    (another seat, or having none: 403)."""
    if caller.role.allows(Role.SUPERVISOR):
        return asked
    if caller.seat_id is None:
        raise Forbidden(Role.SUPERVISOR.value, caller.role.value)
    own_seat_only(caller, asked or caller.seat_id)
    return caller.seat_id


def acting_seat(caller: Caller, seat: str | None) -> str:
    """The seat a request acts for: `seat`, or the caller's own (`own_seat_only`).

    Without a seat a supervisor names one; an agent, who acts only from their own, cannot:
    their token needs one (``cti token create --seat``)."""
    acting = seat or caller.seat_id
    if acting is None:
        if not caller.role.allows(Role.SUPERVISOR):
            raise Forbidden(Role.SUPERVISOR.value, caller.role.value,
                            "agents act from their own seat, and your token has none: "
                            "ask for one bound to your seat (cti token create --seat)")
        raise InvalidInput("seat", "you have no seat: name the seat to act for",
                           location="body")
    own_seat_only(caller, acting)
    return acting
