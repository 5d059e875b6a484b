"""``WS /v1/events``: the live event stream (format in :mod:`cti.stream`).

Authentication: ``Authorization: Bearer <token>``, or ``?token=<token>`` because browsers
cannot set headers on a WebSocket. ``?since=<seq>`` resumes after the last delta a client
saw. ``?coalesce=true`` lets the server put several deltas in one WebSocket message,
one JSON object per line (split on ``\n``): fewer, larger messages for busy wallboards.
Refusals happen before the handshake completes, as HTTP problem documents (401
unknown token, 422 bad ``since``, 503 no stream); a server without the WebSocket denial
extension closes with code 1008 (1013 for 503) and the message as reason instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, WebSocket

from cti.api.auth import MAX_TOKEN_LENGTH, Authenticator, Caller, Role
from cti.api.errors import ApiError, InvalidInput, Unauthenticated, Unavailable, problem
from cti.config import Settings
from cti.stream.audience import Viewer

if TYPE_CHECKING:  # cti.stream renders with cti.api.schemas, which imports this package
    from cti.stream.hub import EventHub, Subscription

log = logging.getLogger(__name__)

router = APIRouter(tags=["events"])

SLOW_CONSUMER_CLOSE = 1013  # "try again later": reconnect without since
POLICY_CLOSE = 1008
TOKEN_GONE = "the bearer token is unknown, expired or revoked"


def parse_since(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("since", "must be a sequence number (a non-negative integer)")
    return int(raw)


def parse_flag(name: str, raw: str | None) -> bool:
    if raw is None or raw in ("false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise InvalidInput(name, "must be true or false")


# Coalesced messages stay below this size (a delta larger than it goes alone).
COALESCE_MAX_BYTES = 256 * 1024


def token_of(websocket: WebSocket) -> str:
    header = websocket.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = credentials.strip() if scheme.lower() == "bearer" else ""
    token = token or websocket.query_params.get("token", "")
    if not token:
        raise Unauthenticated()
    if len(token) > MAX_TOKEN_LENGTH or not token.isprintable():
        raise Unauthenticated("the bearer token is malformed")
    return token


_TOKEN_IN_QUERY = re.compile(r"([?&]token=)[^&\s\"']*")


class RedactQueryTokens(logging.Filter):
    """Masks ``?token=`` values in log records: uvicorn logs each WebSocket handshake
    with its full query string, and browsers can only send the token there."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(
                _TOKEN_IN_QUERY.sub(r"\1***", a) if isinstance(a, str) else a
                for a in record.args
            )
        elif isinstance(record.msg, str):
            record.msg = _TOKEN_IN_QUERY.sub(r"\1***", record.msg)
        return True


def redact_tokens_in(*logger_names: str) -> None:
    for name in logger_names:
        target = logging.getLogger(name)
        if not any(isinstance(f, RedactQueryTokens) for f in target.filters):
            target.addFilter(RedactQueryTokens())


def viewer_of(caller: Caller) -> Viewer:
    return Viewer(sees_all=caller.role.allows(Role.SUPERVISOR), seat_id=caller.seat_id)


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    log.info("event stream refused: %s %s", error.status, error.code)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = problem(error.status, error.code, error.message, error.details,
                           error.headers)
        await websocket.send_denial_response(response)
        return
    code = SLOW_CONSUMER_CLOSE if error.status == 503 else POLICY_CLOSE
    await websocket.close(code=code, reason=error.message[:120])


@router.websocket("/events")
async def events(websocket: WebSocket) -> None:
    hub: EventHub | None = getattr(websocket.app.state, "hub", None)
    try:
        token = token_of(websocket)
        authenticator: Authenticator = websocket.app.state.authenticator
        caller = await authenticator.authenticate(token)  # Unavailable while the DB is down
        if caller is None:
            raise Unauthenticated(TOKEN_GONE)
        since = parse_since(websocket.query_params.get("since"))
        coalesce = parse_flag("coalesce", websocket.query_params.get("coalesce"))
        if hub is None:
            raise Unavailable("event stream")
    except ApiError as error:
        await _refuse(websocket, error)
        return
    await websocket.accept()
    viewer = viewer_of(caller)
    sub = await hub.open(viewer, since)  # snapshot and position, atomically
    log.info("event stream opened for %s (%s)", caller.username, caller.role.value)
    settings: Settings = websocket.app.state.settings
    grace = settings.stream.cutoff_grace
    still_admitted = _while_admitted(authenticator, token, caller, settings.stream.token_recheck)
    try:
        if not await _serve(websocket, sub, grace, coalesce, still_admitted):
            log.info("event stream of %s closed: its token no longer admits it",
                     caller.username)
            with contextlib.suppress(Exception):  # the client may be gone already
                await websocket.close(code=POLICY_CLOSE, reason=TOKEN_GONE)
    finally:
        hub.unsubscribe(sub)
        log.info("event stream closed for %s", caller.username)


async def _serve(
    websocket: WebSocket, sub: Subscription, grace: float, coalesce: bool,
    still_admitted: Coroutine[Any, Any, None],
) -> bool:
    """Send until the client leaves or is cut off; read only to notice it leaving. False
    when it ended because the token no longer admits the client."""
    admitted = asyncio.create_task(still_admitted, name="events-token")
    tasks = [
        asyncio.create_task(_send(websocket, sub, coalesce), name="events-send"),
        asyncio.create_task(_until_disconnect(websocket), name="events-receive"),
        asyncio.create_task(_after_cut_off(sub, grace), name="events-watchdog"),
        admitted,
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        return admitted not in done
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def coalesced(texts: list[str], limit: int = COALESCE_MAX_BYTES) -> list[str]:
    """Join consecutive messages with newlines into messages of at most ``limit`` chars
    (JSON text never holds a raw newline, so splitting on it gives the messages back)."""
    out: list[str] = []
    group: list[str] = []
    size = 0
    for text in texts:
        if group and size + len(text) + 1 > limit:
            out.append("\n".join(group))
            group, size = [], 0
        group.append(text)
        size += len(text) + 1
    if group:
        out.append("\n".join(group))
    return out


async def _send(websocket: WebSocket, sub: Subscription, coalesce: bool) -> None:
    try:
        while True:
            texts = await sub.take()
            for text in coalesced(texts) if coalesce else texts:
                await websocket.send_text(text)
            if sub.resync_text is not None:
                await websocket.send_text(sub.resync_text)
                await websocket.close(code=SLOW_CONSUMER_CLOSE, reason="resync")
                return
    except Exception as exc:  # the client went away mid-send: nothing left to tell it
        log.debug("event stream send ended: %r", exc)


async def _until_disconnect(websocket: WebSocket) -> None:
    # Clients have nothing to say; anything they send is read and dropped.
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return


async def _while_admitted(authenticator: Authenticator, token: str, caller: Caller,
                          every: float) -> None:
    """Return once the token no longer admits the caller as it did at the handshake
    (revoked, expired, another role or seat). While the database is away the stream goes
    on: the live state is Asterisk's, and the token was good when last checked."""
    while True:
        await asyncio.sleep(every)
        try:
            now = await authenticator.authenticate(token)
        except Unavailable:
            continue
        if now != caller:
            return


async def _after_cut_off(sub: Subscription, grace: float) -> None:
    """A cut-off client gets ``grace`` seconds to take its resync, then is dropped."""
    await sub.wait_cut_off()
    await asyncio.sleep(grace)
