"""Online estimators fed from observed call outcomes.

All of them forget geometrically (a half-life counted in observations), so a campaign
whose answer rate or handle time drifts through the day is tracked, and they answer the
questions the predictive rule asks *conditioned on elapsed time*: how likely is a call
that has rung for r seconds to be answered live within the next h seconds; how likely
is an agent who has talked for e seconds (or wrapped up for w) to be free within h.

Time to answer is measured from the dial to the moment a live person can be connected,
so with answering-machine detection the AMD time is part of it (the moment that
matters for the 2-second rule is the AMD verdict, not the pick-up).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from dialer.pacing.state import State, count, floats, number, part

FloatArray = npt.NDArray[np.float64]

_RESCALE_AT = 1e200


class Outcome(StrEnum):
    """How a placed call stopped ringing, as the pacing code needs to know it."""

    LIVE = "live"  # a live person, connectable (after AMD when AMD is on)
    MACHINE = "machine"  # AMD said machine (right or wrong): no agent needed
    FAILED = "failed"  # busy, invalid, congestion
    NO_ANSWER = "no_answer"  # rang out


class DecayedHistogram:
    """A histogram on a fixed grid whose older observations weigh less.

    Instead of decaying every bin per observation, each new observation weighs
    `growth` times the previous one; bins are rescaled before they overflow.
    """

    def __init__(self, bin_width: float, bins: int, half_life: float) -> None:
        if bin_width <= 0 or bins < 2 or half_life <= 0:
            raise ValueError("bin_width, bins and half_life must be positive (bins >= 2)")
        self.bin_width = bin_width
        self.bins = bins
        self.mass: FloatArray = np.zeros(bins)
        self.count = 0
        self._weight = 1.0
        self._growth = 2.0 ** (1.0 / half_life)

    def index(self, value: float) -> int:
        return min(max(int(value / self.bin_width), 0), self.bins - 1)

    def add(self, value: float) -> None:
        self.mass[self.index(value)] += self._weight
        self.count += 1
        self._weight *= self._growth
        if self._weight > _RESCALE_AT:
            self.mass /= self._weight
            self._weight = 1.0

    def pmf(self) -> FloatArray:
        total = float(self.mass.sum())
        return self.mass / total if total > 0 else np.zeros(self.bins)

    def mean(self) -> float:
        centres = (np.arange(self.bins) + 0.5) * self.bin_width
        return float((self.pmf() * centres).sum())

    def cdf(self, value: float) -> float:
        """P(X < value), to the grid's resolution."""
        return float(self.pmf()[: self.index(value)].sum())

    def state(self) -> State:
        return {"mass": self.mass.tolist(), "count": self.count, "weight": self._weight}

    def restore(self, state: State) -> None:
        """Take back what `state` saved (same grid), or ValueError changing nothing."""
        mass = floats(state, "mass", self.bins)
        seen, weight = count(state, "count"), number(state, "weight", 1e-300)
        self.mass, self.count, self._weight = mass, seen, weight


class AnswerEstimator:
    """Outcome and time-to-outcome of placed calls, on a 0.5-second grid to 60 s."""

    BIN = 0.5
    BINS = 120
    #: Observations between refreshes of the lookup tables (they move slowly).
    REFRESH = 100

    def __init__(self, half_life: float = 1500.0) -> None:
        if half_life <= 0:
            raise ValueError("half_life must be positive")
        self._ended: FloatArray = np.zeros(self.BINS)
        self._live: FloatArray = np.zeros(self.BINS)
        self._weight = 1.0
        self._growth = 2.0 ** (1.0 / half_life)
        self.count = 0
        #: Live answers among the `count` dials (plain counts, never forgotten).
        self.live_count = 0
        self._tables: tuple[FloatArray, FloatArray] | None = None
        self._stale = 0
        self._revision = 0

    @property
    def revision(self) -> int:
        """Changes whenever the lookup tables behind the answers below are refreshed."""
        self._derived()
        return self._revision

    def _index(self, seconds: float) -> int:
        return min(max(int(seconds / self.BIN), 0), self.BINS - 1)

    def _indices(self, elapsed: Sequence[float] | FloatArray) -> npt.NDArray[np.int64]:
        """`_index` of each of `elapsed`."""
        index = (np.asarray(elapsed, dtype=np.float64) / self.BIN).astype(np.int64)
        return np.clip(index, 0, self.BINS - 1)

    def observe(self, outcome: Outcome, seconds: float) -> None:
        index = self._index(seconds)
        self._ended[index] += self._weight
        if outcome is Outcome.LIVE:
            self._live[index] += self._weight
            self.live_count += 1
        self.count += 1
        self._stale += 1
        self._weight *= self._growth
        if self._weight > _RESCALE_AT:
            self._ended /= self._weight
            self._live /= self._weight
            self._weight = 1.0

    def forget(self, keep: float) -> None:
        """Let everything seen so far weigh no more than `keep` new observations.

        After a pause (overnight) the answer rate may have moved more than the half-life
        follows: the campaign then relearns it from fresh dials within `keep` or so,
        while the shape of answer times, which moves little, is kept.
        """
        total = float(self._ended.sum())
        scale = keep * self._weight / total if total > 0 else 1.0
        if scale < 1.0:
            self._ended *= scale
            self._live *= scale
            self._tables = None  # refresh the lookup tables on the next question

    def state(self) -> State:
        return {
            "ended": self._ended.tolist(),
            "live": self._live.tolist(),
            "weight": self._weight,
            "count": self.count,
            "live_count": self.live_count,
        }

    def restore(self, state: State) -> None:
        """Take back what `state` saved, or ValueError changing nothing."""
        ended, live = floats(state, "ended", self.BINS), floats(state, "live", self.BINS)
        if np.any(live > ended * (1 + 1e-9)):
            raise ValueError("live: more live answers than dials in a bin")
        weight = number(state, "weight", 1e-300)
        seen, live_count = count(state, "count"), count(state, "live_count")
        self._ended, self._live, self._weight = ended, live, weight
        self.count, self.live_count = seen, live_count
        self._tables = None  # rebuilt, with a new revision, on the next question
        self._stale = 0

    def p_live(self) -> float:
        total = float(self._ended.sum())
        return float(self._live.sum()) / total if total > 0 else 0.0

    def live_mean(self) -> float:
        """Mean seconds from the dial to a live answer (0 before any was seen)."""
        total = float(self._live.sum())
        centres = (np.arange(self.BINS) + 0.5) * self.BIN
        return float((self._live * centres).sum()) / total if total > 0 else 0.0

    def effective_count(self) -> float:
        """How many fresh observations everything seen so far weighs as (the newest
        weighs one): about 2,160 at the half-life of 1,500 once settled, `keep` plus
        the dials since right after `forget(keep)`."""
        return float(self._ended.sum()) / self._weight

    def cautious(self, z: float) -> AnswerEstimator:
        """A copy that takes the live-answer share at the top of its Wilson score
        interval (z standard errors, on `effective_count` observations), answer times
        unchanged: what the evidence so far cannot rule out, for when too few recent
        dials back the estimate (after a night) and answering more than expected is
        what abandons calls."""
        n = self.effective_count()
        p = self.p_live()
        if n <= 0 or p <= 0:
            return self
        centre = p + z * z / (2 * n)
        spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        upper = min((centre + spread) / (1 + z * z / n), 1.0)
        view = AnswerEstimator()
        # Live answers weigh `upper` of the total and the other outcomes the rest, each
        # with its own shape of times.
        view._live = self._live * (upper / p)
        view._ended = view._live + (self._ended - self._live) * ((1 - upper) / (1 - p))
        view._weight = self._weight
        view.count = self.count
        view.live_count = self.live_count
        return view

    def live_cdf(self, seconds: float) -> float:
        """P(time to live answer < seconds | answered live)."""
        return self.live_cdf_sum((seconds,))

    def live_cdf_sum(self, elapsed: Sequence[float]) -> float:
        """The sum of `live_cdf` over `elapsed`, with one pass over the histogram."""
        total = float(self._live.sum())
        if not total or not elapsed:
            return 0.0
        # From the histogram as it is now, like `live_cdf` always was: `_derived`'s
        # cumulative table lags by up to REFRESH dials.
        cum = np.concatenate(([0.0], np.cumsum(self._live)))
        return float(cum[self._indices(elapsed)].sum()) / total

    def _derived(self) -> tuple[FloatArray, FloatArray]:
        if self._tables is None or self._stale >= self.REFRESH:
            cum_live = np.concatenate(([0.0], np.cumsum(self._live)))
            still_ringing = np.concatenate((np.cumsum(self._ended[::-1])[::-1], [0.0]))
            self._tables = (cum_live, still_ringing)
            self._stale = 0
            self._revision += 1
        return self._tables

    def overtaking(self, horizons: FloatArray) -> FloatArray:
        """Expected live answers within h from calls placed at rate 1/s over the next h s.

        A call placed s seconds from now answers before h with P(live, T <= h - s), so
        the count is the integral of P(live, T <= u) for u in (0, h).
        """
        cum_live, still_ringing = self._derived()
        total = still_ringing[0]
        if total <= 0:
            return np.zeros_like(horizons)
        by = cum_live / total  # by[k] = P(live answer before k * BIN)
        integral = np.concatenate(([0.0], np.cumsum(by[:-1]) * self.BIN))
        index = np.minimum(np.rint(horizons / self.BIN).astype(np.int64), self.BINS)
        return np.asarray(integral[index], dtype=np.float64)

    def live_quantiles(self, levels: int) -> FloatArray:
        """Time to live answer of a new call at `levels` equally likely points."""
        pmf = self._live / max(float(self._live.sum()), 1e-300)
        cum = np.cumsum(pmf)
        points = (np.arange(levels) + 0.5) / levels
        bins = np.minimum(np.searchsorted(cum, points), self.BINS - 1)
        return (bins + 0.5) * self.BIN

    def answer_within(self, elapsed: FloatArray, horizons: FloatArray) -> FloatArray:
        """P(live answer in (r, r + h] | still ringing at r): rows calls, columns horizons."""
        cum_live, still_ringing = self._derived()
        start = self._indices(elapsed)
        end = np.minimum(
            start[:, None] + np.ceil(horizons / self.BIN).astype(np.int64)[None, :], self.BINS
        )
        alive = still_ringing[start]
        gained = cum_live[end] - cum_live[start][:, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(alive[:, None] > 0, gained / alive[:, None], 0.0)
        return np.clip(p, 0.0, 1.0)


class HandleEstimator:
    """Talk and wrap-up durations, and when busy agents will be free.

    Talk and wrap-up are kept apart because an agent's state says which one is under
    way; the remaining handle time of a talking agent convolves the rest of the talk
    (given it has lasted e seconds) with a whole wrap-up.
    """

    #: One second: with 2 s bins a wrap-up's chance of ending within the next 5 s (13 s)
    #: came out 0.006 (0.18) for 0.026 (0.23) sampled, and the rule placed its calls
    #: late; at 1 s the tables are within 0.01 of sampling (tests/unit/dialer).
    BIN = 1.0
    TALK_BINS = 3600  # one hour
    WRAP_BINS = 600  # ten minutes
    HORIZON_BINS = 48  # prediction horizons up to 48 s
    #: Observations (talks and wrap-ups) between refreshes of the lookup tables.
    REFRESH = 100

    def __init__(self, half_life: float = 400.0) -> None:
        self.talk = DecayedHistogram(self.BIN, self.TALK_BINS, half_life)
        self.wrap = DecayedHistogram(self.BIN, self.WRAP_BINS, half_life)
        self._tables: tuple[FloatArray, FloatArray] | None = None
        self._stale = 0
        self._revision = 0

    @property
    def revision(self) -> int:
        """Changes whenever the lookup tables behind `free_within` are refreshed."""
        self._derived()
        return self._revision

    @property
    def count(self) -> int:
        return min(self.talk.count, self.wrap.count)

    def state(self) -> State:
        return {"talk": self.talk.state(), "wrap": self.wrap.state()}

    def restore(self, state: State) -> None:
        """Take back what `state` saved (into a new estimator: `Pacer.restored`)."""
        self.talk.restore(part(state, "talk"))
        self.wrap.restore(part(state, "wrap"))
        self._tables = None
        self._stale = 0

    def observe_talk(self, seconds: float) -> None:
        self.talk.add(seconds)
        self._stale += 1

    def observe_wrap(self, seconds: float) -> None:
        self.wrap.add(seconds)
        self._stale += 1

    def _derived(self) -> tuple[FloatArray, FloatArray]:
        if self._tables is None or self._stale >= self.REFRESH:
            self._tables = (self._talk_table(), self._wrap_table())
            self._stale = 0
            self._revision += 1
        return self._tables

    def _wrap_cdf(self) -> FloatArray:
        """wrap_cdf[k] = P(wrap-up < k grid steps), k = 0..HORIZON_BINS."""
        cdf = np.concatenate(([0.0], np.cumsum(self.wrap.pmf())))
        return cdf[: self.HORIZON_BINS + 1]

    def _talk_table(self) -> FloatArray:
        horizons = self.HORIZON_BINS + 1
        talk = np.concatenate((self.talk.pmf(), np.zeros(horizons)))
        wrap_cdf = self._wrap_cdf()
        table = np.zeros((self.TALK_BINS, horizons))
        for d in range(horizons):
            shifted = np.zeros(horizons)
            shifted[d:] = wrap_cdf[: horizons - d]
            table += np.outer(talk[d : d + self.TALK_BINS], shifted)
        remaining = np.cumsum(self.talk.pmf()[::-1])[::-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            # Past every talk ever seen nothing is known: assume the agent stays busy.
            table = np.where(remaining[:, None] > 1e-12, table / remaining[:, None], 0.0)
        return np.clip(table, 0.0, 1.0)

    def _wrap_table(self) -> FloatArray:
        horizons = self.HORIZON_BINS + 1
        pmf = np.concatenate((self.wrap.pmf(), np.zeros(horizons)))
        cum = np.concatenate(([0.0], np.cumsum(pmf)))
        rows = np.arange(self.WRAP_BINS)
        # Elapsed time sits anywhere in its row's bin: ending the window one bin early
        # centres the discretisation error instead of always overshooting.
        ends = rows[:, None] + np.arange(horizons)[None, :]
        remaining = 1.0 - cum[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            table = np.where(
                remaining[:, None] > 1e-12,
                (cum[ends] - cum[rows][:, None]) / remaining[:, None],
                1.0,  # past every wrap-up ever seen: it ends now
            )
        return np.clip(table, 0.0, 1.0)

    def _horizon_index(self, horizons: FloatArray) -> npt.NDArray[np.int64]:
        return np.minimum(np.rint(horizons / self.BIN), self.HORIZON_BINS).astype(np.int64)

    def free_within(
        self, talking: FloatArray, wrapping: FloatArray, horizons: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """P(free within h) for talking and wrapping agents: rows agents, columns horizons."""
        talk_table, wrap_table = self._derived()
        columns = self._horizon_index(horizons)
        talk_rows = np.minimum((talking / self.BIN).astype(np.int64), self.TALK_BINS - 1)
        wrap_rows = np.minimum((wrapping / self.BIN).astype(np.int64), self.WRAP_BINS - 1)
        return talk_table[talk_rows][:, columns], wrap_table[wrap_rows][:, columns]

    def mean_handle(self) -> float:
        return self.talk.mean() + self.wrap.mean()


class Estimates:
    """Everything the pacing policies learn from outcomes, fed by the campaign runner."""

    def __init__(self, answer_half_life: float = 1500.0, handle_half_life: float = 400.0) -> None:
        self.answers = AnswerEstimator(answer_half_life)
        self.handle = HandleEstimator(handle_half_life)

    def state(self) -> State:
        return {"answers": self.answers.state(), "handle": self.handle.state()}

    def restore(self, state: State) -> None:
        """Take back what `state` saved (into new estimators: `Pacer.restored`)."""
        self.answers.restore(part(state, "answers"))
        self.handle.restore(part(state, "handle"))

    def observe_dial(self, outcome: Outcome, seconds: float) -> None:
        """A placed call stopped ringing `seconds` after it was placed."""
        if math.isfinite(seconds) and seconds >= 0:
            self.answers.observe(outcome, seconds)

    def observe_talk(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            self.handle.observe_talk(seconds)

    def observe_wrap(self, seconds: float) -> None:
        if math.isfinite(seconds) and seconds >= 0:
            self.handle.observe_wrap(seconds)
