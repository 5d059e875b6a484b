"""Pure judgements of one load step: does the mirror match Asterisk, and did the step hold?

The mirror and Asterisk cannot be read at the same instant, so each sample brackets the
mirror's read between two reads of Asterisk (``before`` and ``after``): a call Asterisk
had both times existed all along and must be in the mirror (else *missing*: the service
lost it or lags by more than the bracket); a call the mirror has must be in at least one
of Asterisk's reads (else a *ghost*: a call the service still shows but Asterisk ended
before the bracket began, or never had).

A state shorter than the bracket (a caller queued for a few milliseconds while an idle seat
is rung) can be seen by the mirror alone, and a mirror a few milliseconds behind can miss
a call that began just before the bracket: neither is a divergence anyone could see. So a
divergence counts when the same call diverges the same way in two consecutive samples
(``confirmed``), i.e. it lasted at least the sampling interval (2 s by default).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Divergence:
    missing: frozenset[str]
    ghosts: frozenset[str]

    @property
    def matched(self) -> bool:
        return not self.missing and not self.ghosts


def bracket(before: Set[str], mirror: Set[str], after: Set[str]) -> Divergence:
    return Divergence(
        missing=frozenset((before & after) - mirror),
        ghosts=frozenset(mirror - (before | after)),
    )


def confirmed(previous: Divergence, current: Divergence) -> Divergence:
    """What diverged in both of two consecutive samples."""
    return Divergence(missing=previous.missing & current.missing,
                      ghosts=previous.ghosts & current.ghosts)


NO_DIVERGENCE = Divergence(frozenset(), frozenset())


@dataclass
class StepResult:
    """What one step of the load did; filled in by the runner, judged by ``problems``."""

    rate: float
    placed: int = 0  # calls the customers' SIPp started
    sipp_ok: int = 0  # customers' calls SIPp counts as successful
    sipp_failed: int = 0
    agents_answered: int = 0  # calls the agents' SIPp answered and completed in this step
    peak_asterisk_calls: int = 0
    peak_asterisk_channels: int = 0
    peak_mirror_calls: int = 0
    peak_waiting: int = 0  # callers in Asterisk's queues at once
    samples: int = 0
    samples_matched: int = 0  # samples where the bracket found nothing at all
    confirmed_divergences: int = 0  # samples where a divergence of the previous persisted
    worst_missing: int = 0  # most confirmed missing calls/waiting callers in one sample
    worst_ghosts: int = 0
    mirror_emptied: bool = True  # the mirror showed no calls once Asterisk had drained
    stuck_seats: list[str] = field(default_factory=list)  # "id:state" not available after
    drained: bool = True  # Asterisk had no channels left after the step's calls ended
    in_history: int = 0  # calls of this step in PostgreSQL
    answered_in_history: int = 0
    history_lag_seconds: float | None = None  # Asterisk drained -> the last call in history
    recordings: int = 0  # non-empty MixMonitor files of this step
    service_cpu: float = 0.0  # seconds
    asterisk_cpu: float = 0.0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    @property
    def service_cpu_per_call_ms(self) -> float:
        return 1000 * self.service_cpu / self.placed if self.placed else 0.0

    @property
    def asterisk_cpu_per_call_ms(self) -> float:
        return 1000 * self.asterisk_cpu / self.placed if self.placed else 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.service_cpu / self.asterisk_cpu if self.asterisk_cpu else 0.0


def problems(step: StepResult, expected: int) -> list[str]:
    """Why the step did not hold (empty: it held). ``expected``: calls it should place."""
    found: list[str] = []
    if step.placed < expected:
        found.append(f"SIPp placed {step.placed} of {expected} calls")
    if step.sipp_failed:
        found.append(f"{step.sipp_failed} customer calls failed in SIPp")
    if step.answered_in_history < step.placed:
        found.append(f"{step.placed - step.answered_in_history} calls not answered by a seat")
    if step.confirmed_divergences:
        found.append(f"mirror diverged from Asterisk for 2+ samples in "
                     f"{step.confirmed_divergences} of {step.samples} samples (worst: "
                     f"{step.worst_missing} missing, {step.worst_ghosts} ghosts)")
    if step.stuck_seats:
        found.append(f"seats still not available in the mirror after the step: "
                     f"{', '.join(step.stuck_seats[:10])}")
    if not step.mirror_emptied:
        found.append("the mirror still showed calls after Asterisk had none")
    if step.in_history != step.placed:
        found.append(f"{step.in_history} of {step.placed} calls in history")
    if step.recordings < step.answered_in_history:
        found.append(f"{step.recordings} recordings for {step.answered_in_history} answered")
    if not step.drained:
        found.append("Asterisk still had channels after the step")
    return found + step.notes
