"""Reconnect delays: exponential with full jitter, so many services do not stampede."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    initial: float
    maximum: float
    rng: random.Random = field(default_factory=random.Random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * (2**self.attempt))
        self.attempt += 1
        # Full jitter, but never below a tenth of the initial delay.
        return max(self.initial / 10, self.rng.uniform(0, ceiling))

    def reset(self) -> None:
        self.attempt = 0
