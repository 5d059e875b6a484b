"""What telephony commands refuse, in their own terms; the REST layer maps these to
HTTP (404, 409, 422, 502) in :mod:`cti.api.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class TelephonyError(Exception):
    pass


class UnknownObject(TelephonyError):
    def __init__(self, kind: str, ident: str) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class WrongState(TelephonyError):
    """The command does not fit what is happening now (pause a seat not logged in...)."""


class InvalidRequest(TelephonyError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"invalid {field}: {message}")
        self.field = field
        self.message = message


class AsteriskRefused(TelephonyError):
    """Asterisk answered the action with an error, or did not answer. ``details`` says
    what was done anyway when a command of several actions failed part-way."""

    def __init__(self, message: str, *, details: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = dict(details or {})
