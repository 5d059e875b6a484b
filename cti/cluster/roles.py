"""Which replica drives Asterisk: the leader's role as a pure state machine.

Replicas of the service share one PostgreSQL database. The one holding the database's
leader lock (a session-level advisory lock, :mod:`cti.cluster.lock`) drives Asterisk:
AMI connections, history, campaigns, configuration, recordings. The others stand by and
take over when the leader's database session ends (a crash, a stop, a lost network).

    STANDBY --Acquired--> LEADING --Unreachable--> ORPHANED --Acquired--> LEADING
                                                        \\--HeldBy--> DEPOSED (stops)

A leader that loses its database session keeps leading (ORPHANED): Asterisk still needs
following while PostgreSQL restarts (history spills to disk), and the session's end is
also what lets a standby in. It takes the lock back as soon as the database answers; if
another replica took it first, it is DEPOSED and stops, so two replicas drive Asterisk
only until the old leader hears from the database again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    STANDBY = "standby"  # another replica leads, or the database cannot be asked yet
    LEADING = "leading"
    ORPHANED = "orphaned"  # led, then lost the database session; leads until told not to
    DEPOSED = "deposed"  # another replica took the lock while this one was orphaned


@dataclass(frozen=True, slots=True)
class Acquired:
    """This replica took the lock."""


@dataclass(frozen=True, slots=True)
class Held:
    """This replica's session, which holds the lock, still answers."""


@dataclass(frozen=True, slots=True)
class HeldBy:
    """Another session holds the lock; ``holder`` is its replica's name, if it gave one."""

    holder: str | None


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The database did not answer (down, restarting, cut off, too slow)."""

    error: str


Observation = Acquired | Held | HeldBy | Unreachable


def leads(role: Role) -> bool:
    """Whether this replica drives Asterisk and answers the API."""
    return role in (Role.LEADING, Role.ORPHANED)


def confirms(role: Role) -> bool:
    """Whether the next look at the lock confirms the session holding it (else it tries
    to take the lock)."""
    return role is Role.LEADING


def step(role: Role, seen: Observation) -> Role:
    """The role after ``seen``. Only a leader can be deposed, and only after losing its
    session: while its session answers, nobody else can hold the lock."""
    match role, seen:
        case Role.DEPOSED, _:
            return Role.DEPOSED
        case Role.STANDBY | Role.ORPHANED, Acquired():
            return Role.LEADING
        case Role.ORPHANED, HeldBy():
            return Role.DEPOSED
        case Role.LEADING, Unreachable():
            return Role.ORPHANED
        case Role.LEADING, HeldBy() | Acquired():
            # The session was lost and a new one asked between two looks: the lock this
            # replica holds now (Acquired) or not (HeldBy) is what counts.
            return Role.LEADING if isinstance(seen, Acquired) else Role.DEPOSED
        case _:
            return role
