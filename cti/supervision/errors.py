"""Supervision errors; the REST layer maps each to a problem document.

SupervisionError
 +-- CallNotFound          404  no live or past call with that id
 +-- SessionNotFound       404  no session with that id on that call
 +-- CallNotLive           409  the call ended, or no agent is connected to it now
 +-- SessionEnded          409  the session is over
 +-- SessionNotConnected   409  the supervisor's phone has not answered (yet)
 +-- PhoneBusy             409  that phone already supervises a call
 +-- PhoneInvalid          422  no usable phone: unknown seat, none given, the agent's own
 +-- Unavailable           503  Asterisk or the database cannot be reached (``component``)
"""

from __future__ import annotations

from typing import Any


class SupervisionError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class CallNotFound(SupervisionError):
    pass


class SessionNotFound(SupervisionError):
    pass


class CallNotLive(SupervisionError):
    pass


class SessionEnded(SupervisionError):
    pass


class SessionNotConnected(SupervisionError):
    pass


class PhoneBusy(SupervisionError):
    pass


class PhoneInvalid(SupervisionError):
    pass


class Unavailable(SupervisionError):
    pass
