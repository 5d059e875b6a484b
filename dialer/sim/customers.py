"""Common random numbers: the customer behind the i-th dial of a day.

Every policy's i-th dial of day d meets the same customer: the same uniform that picks
live / machine / busy / no answer, the same answer time, talk and wrap-up draws, AMD
time and false-positive draw. Draws come in blocks of 4096 dials from a generator
seeded by (seed, day, block), so they do not depend on how many dials a policy makes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from dialer.sim.scenario import Scenario, lognormal_params

BLOCK = 4096


class Kind(StrEnum):
    LIVE = "live"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"


@dataclass(frozen=True, slots=True)
class Customer:
    kind: Kind
    answer: float  # seconds from dial to pick-up (live or machine)
    amd: float  # AMD analysis time after pick-up (when AMD is on)
    false_positive: bool  # AMD would call this live person a machine
    talk_z: float  # standard normal draw behind the talk time
    wrap_z: float  # standard normal draw behind the wrap-up time

    def talk_seconds(self, mean: float, cv: float) -> float:
        mu, sigma = lognormal_params(mean, cv)
        return math.exp(mu + sigma * self.talk_z)

    def wrap_seconds(self, mean: float, cv: float) -> float:
        mu, sigma = lognormal_params(mean, cv)
        return math.exp(mu + sigma * self.wrap_z)


class CustomerStream:
    def __init__(self, scenario: Scenario, seed: int, day: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.day = day
        self._blocks: dict[int, tuple[list[float], ...]] = {}

    def _block(self, number: int) -> tuple[list[float], ...]:
        block = self._blocks.get(number)
        if block is None:
            s = self.scenario
            rng = np.random.default_rng([self.seed, self.day, number])
            answer = np.minimum(
                s.answer_base + rng.gamma(s.answer_shape, s.answer_scale, BLOCK), s.answer_cap
            )
            block = (
                rng.random(BLOCK).tolist(),
                answer.tolist(),
                rng.uniform(s.amd_min, s.amd_max, BLOCK).tolist(),
                rng.random(BLOCK).tolist(),
                rng.standard_normal(BLOCK).tolist(),
                rng.standard_normal(BLOCK).tolist(),
            )
            self._blocks[number] = block
        return block

    def customer(self, index: int, t: float) -> Customer:
        """The customer of dial `index`, placed `t` seconds into the day."""
        u, answer, amd, u_fp, talk_z, wrap_z = self._block(index // BLOCK)
        i = index % BLOCK
        s = self.scenario
        live = s.live_at(t)
        if u[i] < live:
            kind = Kind.LIVE
        elif u[i] < live + s.machines:
            kind = Kind.MACHINE
        elif u[i] < live + s.machines + s.busy:
            kind = Kind.BUSY
        else:
            kind = Kind.NO_ANSWER
        false_positive = s.amd and kind is Kind.LIVE and u_fp[i] < s.amd_false_positive
        return Customer(kind, answer[i], amd[i], false_positive, talk_z[i], wrap_z[i])
