"""The API's error taxonomy and the one place that turns errors into problem documents.

Every error response has the same JSON shape::

    {"code": "not_found", "message": "seat '1009' not found", "details": {...}}

``code`` is stable and meant for programs; ``message`` is for people; ``details`` carries
the specifics (the offending fields, the missing resource...).

Hierarchy::

    ApiError                      base: code, status, message, details
     +-- InvalidInput             422 invalid_input   (bad query/path/body values)
     +-- Unauthenticated          401 unauthenticated (no/unknown bearer token)
     +-- Forbidden                403 forbidden       (role too low)
     +-- NotFound                 404 not_found       (names the resource and its id)
     +-- Unavailable              503 unavailable     (a backing store is down)

Other packages keep their own exceptions; the API services translate them into these at
the boundary. Anything else that escapes a route is a 500 ``internal``: logged with its
traceback under an incident id, and only that id is returned to the client.

:func:`refuse_unstorable_text` is the input side of the same boundary: every ``/v1``
request's query string, path and JSON body are screened, once, for text PostgreSQL cannot
store (the NUL character), so a route never has to think of it.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cti.telephony.configurator import ApplyFailed, ConfigRejected
from cti.telephony.errors import (
    AsteriskRefused,
    InvalidRequest,
    TelephonyError,
    UnknownObject,
    WrongState,
)

logger = logging.getLogger(__name__)


class ApiError(Exception):
    """Base of every error the API reports on purpose."""

    code: str = "error"
    status: int = 400

    def __init__(
        self,
        message: str,
        *,
        details: Mapping[str, Any] | None = None,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details: dict[str, Any] = dict(details or {})
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.headers: dict[str, str] = dict(headers or {})


class InvalidInput(ApiError):
    code = "invalid_input"
    status = 422

    def __init__(self, field: str, message: str, *, location: str = "query") -> None:
        super().__init__(
            f"invalid {field}: {message}",
            details={"fields": [{"field": field, "in": location, "message": message}]},
        )


class Unauthenticated(ApiError):
    code = "unauthenticated"
    status = 401

    def __init__(self, message: str = "a valid bearer token is required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    code = "forbidden"
    status = 403

    def __init__(self, required_role: str, actual_role: str, message: str | None = None
                 ) -> None:
        super().__init__(
            message or f"this needs the {required_role} role",
            details={"required_role": required_role, "role": actual_role},
        )


class NotFound(ApiError):
    code = "not_found"
    status = 404

    def __init__(self, resource: str, resource_id: str) -> None:
        super().__init__(
            f"{resource} {resource_id!r} not found",
            details={"resource": resource, "id": resource_id},
        )


class Conflict(ApiError):
    code = "conflict"
    status = 409


def invalid_fields(fields: Sequence[tuple[str, str]], *, location: str = "body") -> ApiError:
    """A 422 naming every field that is wrong (``(field, message)`` pairs)."""
    return ApiError(
        "invalid " + ", ".join(f for f, _ in fields) + ": "
        + "; ".join(f"{f}: {m}" for f, m in fields),
        code="invalid_input",
        status=422,
        details={"fields": [{"field": f, "in": location, "message": m} for f, m in fields]},
    )


class Unavailable(ApiError):
    code = "unavailable"
    status = 503

    def __init__(self, component: str) -> None:
        super().__init__(
            f"{component} is unavailable, try again later", details={"component": component}
        )


# PostgreSQL text (and jsonb) cannot hold U+0000. (An unpaired surrogate, which JSON's
# \uD800 escape can produce, never gets this far: pydantic refuses it as a string.)
_NUL = "\x00"
_NUL_WHY = "holds a NUL character (U+0000), which cannot be stored"
_JSON_TYPE = re.compile(r"application/(?:[^;\s]+\+)?json", re.IGNORECASE)


def first_unstorable(document: Any) -> tuple[str, str] | None:
    """``(path, why)`` of the first string in a parsed JSON document (object keys too)
    that holds a NUL character, in document order; None when none does.

    The path is dotted as the validation errors' (``fields.note``, ``seats.0``); an empty
    path is the body itself. The walk keeps its own stack: the document may be as deep as
    the JSON parser allows.
    """
    stack: list[tuple[str, Any]] = [("", document)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _NUL in value:
                return path, _NUL_WHY
        elif isinstance(value, dict):
            children = []
            for key, item in value.items():
                if _NUL in key:
                    return path, f"the name {key!r} {_NUL_WHY}"
                children.append((f"{path}.{key}" if path else key, item))
            stack.extend(reversed(children))
        elif isinstance(value, list):
            stack.extend(reversed([(f"{path}.{i}" if path else str(i), item)
                                   for i, item in enumerate(value)]))
    return None


async def refuse_unstorable_text(request: Request) -> None:
    """A dependency of every ``/v1`` route: 422 naming the first query parameter, path
    parameter or JSON body value that holds a NUL character, which PostgreSQL cannot
    store (nor search for), and 415 for a body sent to a JSON route as something else.

    Only bodies the route takes as JSON are looked at, and FastAPI has parsed those
    already (``Request.json`` keeps what it parsed): uploads that a route streams itself
    (lead imports, recordings) are not read here.
    """
    for location, items in (("query", request.query_params.multi_items()),
                            ("path", list(request.path_params.items()))):
        for name, value in items:
            if _NUL in name or (isinstance(value, str) and _NUL in value):
                raise InvalidInput(name.replace(_NUL, "\\x00"), _NUL_WHY, location=location)
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or route.body_field is None or isinstance(
            route.body_field.field_info, params.Form):
        return
    if not await request.body():
        return  # no body: the route's own validation says whether it needs one
    if not _JSON_TYPE.fullmatch(
            request.headers.get("content-type", "").partition(";")[0].strip()):
        raise ApiError("send the body as application/json", status=415,
                       code="unsupported_media_type",
                       details={"field": "Content-Type", "accepted": ["application/json"]})
    found = first_unstorable(await request.json())
    if found is not None:
        raise InvalidInput(found[0] or "body", found[1], location="body")


def problem(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "details": dict(details or {})},
        status_code=status,
        headers=dict(headers) if headers else None,
    )


# Starlette raises HTTPException itself for unknown routes (404) and wrong methods (405).
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


def _field_name(loc: Sequence[int | str]) -> tuple[str, str]:
    """``("query", "limit")`` -> ``("limit", "query")``; body paths are dotted."""
    if not loc:
        return "", "request"
    location = str(loc[0])
    if location in {"query", "path", "header", "cookie", "body"}:
        rest = loc[1:]
    else:
        location, rest = "request", loc
    return ".".join(str(part) for part in rest) or location, location


async def _api_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return problem(exc.status, exc.code, exc.message, exc.details, exc.headers)


async def _validation_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    fields = []
    for error in exc.errors():
        if error.get("type") == "json_invalid":
            # FastAPI puts the character position where a field name would be.
            loc, why = error.get("loc", ()), (error.get("ctx") or {}).get("error")
            at = f" at character {loc[1]}" if len(loc) > 1 else ""
            fields.append({"field": "body", "in": "body",
                           "message": f"not valid JSON{at}" + (f": {why}" if why else "")})
            continue
        name, location = _field_name(error.get("loc", ()))
        fields.append({"field": name, "in": location, "message": str(error.get("msg", ""))})
    names = ", ".join(dict.fromkeys(f["field"] for f in fields))
    return problem(422, "invalid_input", f"invalid {names}", {"fields": fields})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    code = _HTTP_CODES.get(status, "http_error")
    details: dict[str, Any] = {}
    if status == 404:
        message = f"no resource at {request.url.path}"
        details = {"resource": "route", "id": request.url.path}
    elif status == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        try:
            message = str(exc.detail) if exc.detail else HTTPStatus(status).phrase
        except ValueError:
            message = "error"
    return problem(status, code, message, details, exc.headers)


async def _telephony_error(_: Request, exc: Exception) -> Response:
    """Telephony commands' refusals, mapped here at the HTTP boundary."""
    assert isinstance(exc, TelephonyError)
    if isinstance(exc, UnknownObject):
        return problem(404, "not_found", str(exc), {"resource": exc.kind, "id": exc.ident})
    if isinstance(exc, InvalidRequest):
        return problem(422, "invalid_input", str(exc),
                       {"fields": [{"field": exc.field, "in": "body", "message": exc.message}]})
    if isinstance(exc, WrongState):
        return problem(409, "conflict", str(exc))
    if isinstance(exc, AsteriskRefused):
        return problem(502, "asterisk_refused", str(exc), exc.details)
    return problem(400, "telephony_error", str(exc))


async def _config_rejected(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConfigRejected)
    fields = [{"field": p.where, "in": "body", "message": p.message} for p in exc.problems]
    return problem(422, "invalid_configuration", f"invalid configuration: {exc}",
                   {"fields": fields})


async def _apply_failed(_: Request, exc: Exception) -> Response:
    return problem(502, "asterisk_refused", f"{exc}; nothing was changed")


class UnhandledErrors:
    """Turn anything that escaped the routes into a 500 ``internal`` problem document.

    A plain ASGI middleware rather than an ``Exception`` handler: Starlette re-raises after
    running such a handler, so the error would be logged twice and test clients would see
    the exception instead of the response.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            if started:
                raise  # too late to answer with a problem document
            incident = uuid.uuid4().hex
            logger.exception(
                "unhandled error in %s %s (incident %s)",
                scope.get("method"),
                scope.get("path"),
                incident,
            )
            response = problem(500, "internal", "internal error", {"incident": incident})
            await response(scope, receive, send)


#: Refuses (raises :class:`Unauthenticated` or :class:`Forbidden`) a caller the request's
#: route does not admit, if that was not decided yet (``cti.api.auth.authorize_first``).
Authorize = Callable[[Request], Awaitable[None]]


def install_error_handlers(app: FastAPI, *, authorize: Authorize | None = None) -> None:
    """Register the one set of handlers: every error leaves as a problem document.

    ``authorize``: asked before a validation error is reported, so a caller the route does
    not admit hears that rather than what is wrong with its input (FastAPI reports a body
    that is not JSON before the route's authorization dependency has run).
    """

    async def validation_error(request: Request, exc: Exception) -> Response:
        if authorize is not None:
            try:
                await authorize(request)
            except ApiError as refused:
                return await _api_error(request, refused)
        return await _validation_error(request, exc)

    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(TelephonyError, _telephony_error)
    app.add_exception_handler(ConfigRejected, _config_rejected)
    app.add_exception_handler(ApplyFailed, _apply_failed)
    app.add_middleware(UnhandledErrors)
