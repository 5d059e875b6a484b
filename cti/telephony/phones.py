"""What Asterisk's device states say about a seat's phone. Pure.

``LiveCore.devices()`` holds, per node, the state Asterisk last reported for each device
(``PJSIP/1001`` -> ``NOT_INUSE``). Asterisk reports every endpoint it has; one it lacks
is absent, or ``INVALID`` once something (a queue member, a dial) asked for it.
"""

from __future__ import annotations

from collections.abc import Mapping

NO_ENDPOINT = "INVALID"
#: States in which the phone cannot be rung: no such endpoint, or nothing registered.
UNREACHABLE = frozenset({NO_ENDPOINT, "UNAVAILABLE"})


def phone_state(devices: Mapping[str, Mapping[str, str]], node: str, interface: str
                ) -> str | None:
    """The state of ``interface`` on ``node``: ``INVALID`` for an endpoint Asterisk does
    not have; None while the node's devices are not known (never connected), when
    Asterisk is the one to ask."""
    known = devices.get(node)
    if not known:
        return None
    return known.get(interface, NO_ENDPOINT)
