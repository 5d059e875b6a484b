"""Checks that keep user input from injecting AMI headers or actions.

Asterisk ends a header at CR LF or a bare LF and an action at an empty line, so any value
with CR, LF or NUL could smuggle in ``Application: System``. Lines over 1024 bytes are
dropped silently by Asterisk, so they are refused here instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from cti.ami.errors import AmiUnsafeValue

_FORBIDDEN = re.compile(r"[\r\n\x00]")
_HEADER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_MAX_LINE = 1000  # bytes, header name and separator included; Asterisk's limit is 1024
_MAX_HEADERS = 120  # Asterisk accepts 128

ActionValue = str | int | Sequence[str]


def check_value(header: str, value: str) -> str:
    if _FORBIDDEN.search(value):
        raise AmiUnsafeValue(header, "contains CR, LF or NUL")
    if len(header) + 2 + len(value.encode()) > _MAX_LINE:
        raise AmiUnsafeValue(header, f"longer than {_MAX_LINE} bytes")
    return value


def check_action(action: Mapping[str, ActionValue]) -> dict[str, str | list[str]]:
    """Return the action as AMI strings, or raise AmiUnsafeValue naming the header."""
    out: dict[str, str | list[str]] = {}
    count = 0
    for header, value in action.items():
        if not _HEADER_NAME.match(header):
            raise AmiUnsafeValue(header, "is not a valid header name")
        if isinstance(value, str):
            out[header] = check_value(header, value)
            count += 1
        elif isinstance(value, int):
            out[header] = str(value)
            count += 1
        else:
            out[header] = [check_value(header, v) for v in value]
            count += len(out[header])
    if count > _MAX_HEADERS:
        raise AmiUnsafeValue("*", f"more than {_MAX_HEADERS} headers")
    return out
