"""Errors of the recordings package; the API maps them to problem documents.

Hierarchy::

    RecordingError               base
     +-- InvalidWav              a file is not a PCM WAV we can catalogue
     +-- RangeError              an HTTP Range header we will not serve (416)
     +-- RetentionTooShort       a retention under the legal floor (422)
     +-- RecordingBusy           a recording is being deleted (409)
"""

from __future__ import annotations


class RecordingError(Exception):
    """Base of every error raised by :mod:`recordings`."""


class InvalidWav(RecordingError):
    pass


class RangeError(RecordingError):
    """The Range header is malformed, asks for several ranges, or lies past the end."""

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


class RetentionTooShort(RecordingError):
    def __init__(self, days: int, floor: int) -> None:
        super().__init__(f"{days} days is under the {floor}-day retention floor")
        self.days = days
        self.floor = floor


class RecordingBusy(RecordingError):
    pass
