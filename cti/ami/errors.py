"""AMI errors, translated from panoramisk and socket failures at the adapter edge.

AmiError
 +-- AmiNotConnected      no logged-in connection to the node right now
 +-- AmiLoginFailed       Asterisk refused the credentials (not retried quickly)
 +-- AmiTimeout           an action got no (complete) reply in time
 +-- AmiActionFailed      Asterisk answered ``Response: Error``
 +-- AmiUnsafeValue       a value would inject headers (CR, LF, NUL) or is malformed
"""

from __future__ import annotations


class AmiError(Exception):
    """Base of every AMI failure."""


class AmiNotConnected(AmiError):
    pass


class AmiLoginFailed(AmiError):
    pass


class AmiTimeout(AmiError):
    pass


class AmiActionFailed(AmiError):
    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message}")
        self.action = action
        self.message = message


class AmiUnsafeValue(AmiError, ValueError):
    def __init__(self, header: str, reason: str) -> None:
        super().__init__(f"AMI header {header!r}: {reason}")
        self.header = header
        self.reason = reason
