"""AMI errors, translated from panoramisk and socket failures at the adapter edge.

AmiError
 +-- AmiNotConnected      no logged-in connection to the node right now
 +-- AmiLoginFailed       Asterisk refused the credentials (not retried quickly)
 +-- AmiTimeout           an action got no (complete) reply in time
 +-- AmiActionFailed      Asterisk answered ``Response: Error``
 +-- AmiUnsafeValue       a value would inject headers (CR, LF, NUL) or is malformed

AmiReplyLost marks the two failures after an action was written (no reply in time, the
connection lost while waiting): Asterisk may have carried it out. A caller that must not
do twice what may have been done once (an Originate) tells them apart from the rest,
which mean the action never reached Asterisk or was refused.
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


class AmiReplyLost(AmiError):
    """The action was written, but its reply never came: it may have been carried out."""


class AmiReplyTimedOut(AmiTimeout, AmiReplyLost):
    pass


class AmiLostWhileWaiting(AmiNotConnected, AmiReplyLost):
    pass
