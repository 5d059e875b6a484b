"""Our predictive rule: place calls while the marginal call's abandon risk stays small.

For the k-th extra call placed now, if it is answered live t seconds from now, it is
abandoned when at least as many *earlier* live answers (customers already waiting,
ringing calls answering within t, the other k - 1 new calls answering before it) need
an agent as there are agents free by t + w (free now, or talking / wrapping up and
finishing by then, each conditioned on its elapsed time), w the connect window: the
2 s deadline with an ideal queue, 1 s behind app_queue, which notices freed agents
only when it rechecks, every second (`PacingSettings.connect_window`). Earlier answers and freed
agents are sums of independent Bernoulli variables; their difference is taken as
normal (with a continuity correction), and t runs over equally likely quantiles of
the new call's answer time. Calls are placed while that probability stays at or under
the threshold the abandon-rate loop sets (`controller.py`).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from dialer.pacing.controller import AbandonController, ControllerConfig
from dialer.pacing.estimators import AnswerEstimator, Estimates, FloatArray, HandleEstimator
from dialer.pacing.overnight import OvernightCheck
from dialer.pacing.rules import line_headroom, uncovered_free_agents
from dialer.pacing.snapshot import CONNECT_DEADLINE_SECONDS, LOOKAHEAD_SECONDS, Snapshot
from dialer.pacing.state import State, count, flag, number, optional_number, part


@dataclass(frozen=True, slots=True)
class PredictiveConfig:
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    #: Answer-time quantiles the risk is averaged over.
    quantiles: int = 8
    #: A new campaign dials progressively until this many dials and handled calls are
    #: seen; after a pause it relearns from `min_dials` fresh dials (`resume_gap`).
    min_dials: int = 100
    min_handled: int = 30
    #: Over-dial only while a day's work allows at least this many abandons (target x
    #: live answers): with a smaller budget one abandon moves the rate by more than the
    #: loop can steer (5 agents: ~24 a day, each worth 0.13 points), so the campaign
    #: dials progressively and abandons nothing instead.
    min_budget: float = 30.0
    #: The day's work the budget is judged on: the rolling 24 h, or `shift_hours` of the
    #: agents working now at the handle time seen (no more than the leads left can
    #: answer), whichever is larger. Judged on the window alone, a new campaign of 20
    #: agents dialed progressively for its first 2.5 hours (until 1,000 live answers)
    #: although it earns ~96 abandons a day: day 1 ran at 0.83 occupancy instead of 0.89
    #: (S0 N=20). The guard still caps the window.
    shift_hours: float = 8.0
    #: After the campaign has not ticked for this long (overnight, a stop), the
    #: estimators describe another time of day (drift: 15% answers at night's end, 35%
    #: at 9): the rule relearns from the next `min_dials` outcomes, cautiously.
    resume_gap: float = 1800.0
    #: ...and the answers seen before the pause weigh as much as this many fresh dials.
    #: At the answer estimator's half-life (1,500 dials) the 100 fresh dials of the
    #: relearning barely moved it: on a drift day the first predictive tick still saw
    #: the evening's 15% answer rate in the 35% morning, placed 20 calls at once and
    #: abandoned 6 of them, which put a rolling 24 h at 3.02% (bench/dialer_sim).
    resume_weight: float = 10.0
    #: While relearning the rule over-dials only as far as the highest answer rate the
    #: evidence allows: the top of its Wilson interval at this many standard errors
    #: (`AnswerEstimator.cautious`; 46% from the night's 10 dials' worth at 15%).
    #: Relearning progressively instead, the first 3.5 minutes of every S0 N=20 day ran
    #: at 0.66-0.84 occupancy against 0.90 for the rest of it; cautiously, its first
    #: 5 minutes run at 0.83 instead of 0.75 (bench/dialer_sim).
    relearn_z: float = 2.0
    #: After a pause the rule trusts the answer rate it had (no forgetting, no cautious
    #: view) when the rate held across the last pause within `trust_z` standard errors
    #: over the first `trust_dials` fresh dials, and stops trusting it as soon as fresh
    #: dials answer more than that (`overnight.py`). Relearning every morning cost S0
    #: N=20 0.0008 of its 30-day occupancy. Drift's rate doubles every night: judged on
    #: 100 dials its rise passed for noise on 4 mornings in 30, and a trusted morning put
    #: a 24 h window at 3.13%; on 300 dials it does not pass.
    trust_z: float = 2.5
    trust_dials: int = 300
    #: Time constant (s) of the dial-rate estimate behind the overtaking term.
    rate_window: float = 60.0


IntArray = npt.NDArray[np.int64]
_RING_BIN, _RING_ROWS = AnswerEstimator.BIN, AnswerEstimator.BINS
_TALK_BIN, _TALK_ROWS = HandleEstimator.BIN, HandleEstimator.TALK_BINS
_WRAP_BIN, _WRAP_ROWS = HandleEstimator.BIN, HandleEstimator.WRAP_BINS


def _rows(elapsed: tuple[float, ...], step: float, rows: int, base: int) -> IntArray:
    """Row of each elapsed time in a stacked table whose block starts at `base`."""
    index = (np.asarray(elapsed, dtype=np.float64) * (1.0 / step)).astype(np.int64)
    return np.minimum(index, rows - 1) + base


def _agent_rows(snapshot: Snapshot) -> IntArray:
    """Rows of the talking then the wrapping agents in `RiskTables.stacked`."""
    return np.concatenate(
        (
            _rows(snapshot.agents.talking, _TALK_BIN, _TALK_ROWS, _RING_ROWS),
            _rows(snapshot.agents.wrapping, _WRAP_BIN, _WRAP_ROWS, _RING_ROWS + _TALK_ROWS),
        )
    )


def _grid(bins: int, step: float) -> FloatArray:
    return np.arange(bins, dtype=np.float64) * step


@dataclass(frozen=True, slots=True)
class RiskTables:
    """The estimators' answers on their grids at the quantiles in use, built once per
    estimator refresh so a tick is a handful of table lookups.

    ring[k, g]: a call ringing for k answer-grid steps answers live within answer_at[g];
    talk[e, g] / wrap[w, g]: an agent e (w) grid steps into talk (wrap-up) is free
    within answer_at[g] + the connect window (`PacingSettings.connect_window`, 2 s with
    an ideal queue); q0[g]: a new call answers live within answer_at[g];
    overtaking[g]: live answers within answer_at[g] per unit dial rate from later calls.
    """

    answer_at: FloatArray
    ring: FloatArray
    talk: FloatArray
    wrap: FloatArray
    q0: FloatArray
    overtaking: FloatArray
    #: ring, talk and wrap rows stacked as [+q | q(1-q)] and [-f | f(1-f)], so that one
    #: gather and one sum give a tick's mean and variance of (earlier answers - free).
    stacked: FloatArray

    @classmethod
    def build(
        cls,
        answers: AnswerEstimator,
        handle: HandleEstimator,
        quantiles: int,
        connect_window: float,
    ) -> RiskTables:
        answer_at = answers.live_quantiles(quantiles)
        ring = answers.answer_within(_grid(answers.BINS, answers.BIN), answer_at)
        talk, wrap = handle.free_within(
            _grid(handle.TALK_BINS, handle.BIN),
            _grid(handle.WRAP_BINS, handle.BIN),
            answer_at + connect_window,
        )
        agents = np.concatenate((talk, wrap))
        stacked = np.concatenate(
            (
                np.hstack((ring, ring * (1.0 - ring))),
                np.hstack((-agents, agents * (1.0 - agents))),
            )
        )
        return cls(
            answer_at,
            ring,
            talk,
            wrap,
            ring[0],
            answers.overtaking(answer_at),
            stacked,
        )


@dataclass(frozen=True, slots=True)
class Moments:
    """Per answer-time quantile g: mean and variance of (earlier answers - agents free)
    for the first new call, and q0[g], what each further new call adds."""

    mean: list[float]
    var: list[float]
    q0: list[float]

    def risk(self, k: int) -> float:
        """P(the k-th new call (k >= 1), if answered live, is abandoned)."""
        others = k - 1
        total = 0.0
        for mean, var, q0 in zip(self.mean, self.var, self.q0, strict=True):
            m = mean + others * q0
            v = var + others * q0 * (1.0 - q0)
            # D = earlier - free is integer; abandoned when D >= 0, i.e. D > -0.5.
            total += 0.5 * math.erfc(-(m + 0.5) / math.sqrt(2.0 * max(v, 1e-12)))
        return total / len(self.mean)


def moments(
    snapshot: Snapshot,
    tables: RiskTables,
    dial_rate: float = 0.0,
    agents_free: FloatArray | None = None,
) -> Moments:
    """The model's view of this tick (see the module docstring).

    `dial_rate` (calls a second) is the pace of the ticks to come: calls placed after
    this one that answer before it take agents first, so they count as earlier
    answers (a Poisson count). `agents_free` (talking then wrapping agents x quantiles)
    replaces the estimators' chances that busy agents are free in time: the
    simulator's oracle baseline passes what it knows (`dialer/sim/oracle.py`).
    """
    ring = _rows(snapshot.ringing, _RING_BIN, _RING_ROWS, 0)
    g = len(tables.q0)
    if agents_free is None:
        sums = tables.stacked[np.concatenate((ring, _agent_rows(snapshot)))].sum(axis=0)
    else:
        sums = tables.stacked[ring].sum(axis=0)
        sums[:g] -= agents_free.sum(axis=0)
        sums[g:] += (agents_free * (1.0 - agents_free)).sum(axis=0)
    overtaking = dial_rate * tables.overtaking
    mean = sums[:g] + overtaking + float(snapshot.waiting - snapshot.agents.free)
    var = sums[g:] + overtaking
    return Moments(mean.tolist(), var.tolist(), tables.q0.tolist())


def chances(snapshot: Snapshot, tables: RiskTables) -> tuple[FloatArray, FloatArray]:
    """The terms `moments` sums, one row each: for every ringing call, P(it answers live
    before the new call would, at each quantile); for every talking then wrapping agent,
    P(free in time for it)."""
    g = len(tables.q0)
    ring = tables.stacked[_rows(snapshot.ringing, _RING_BIN, _RING_ROWS, 0), :g]
    # The agents' rows hold -P(free) in their first half (see `RiskTables.stacked`).
    return ring, -tables.stacked[_agent_rows(snapshot), :g]


def marginal_risks(
    snapshot: Snapshot, tables: RiskTables, extra: int, dial_rate: float = 0.0
) -> list[float]:
    """P(the k-th new call, answered live, is abandoned) for k = 1..extra."""
    view = moments(snapshot, tables, dial_rate)
    # One more call can only add earlier answers, so the true risk never falls with k;
    # the normal approximation can dip where the risk is over 1/2: keep the running max.
    return list(itertools.accumulate((view.risk(k) for k in range(1, extra + 1)), max))


@dataclass(frozen=True, slots=True)
class Reading:
    """What the rule read at a tick it decided: the model's view, and what it was built
    from (the simulator's calibration report recomputes the risk exactly from these)."""

    view: Moments
    tables: RiskTables
    dial_rate: float
    agents_free: FloatArray | None


class Predictive:
    """The model-based rule with its abandon-rate loop and guards."""

    def __init__(self, config: PredictiveConfig | None = None) -> None:
        self.config = config or PredictiveConfig()
        self.controller = AbandonController(self.config.controller)
        self.dial_rate = 0.0
        self._rate_at: float | None = None
        self._tables: RiskTables | None = None
        self._tables_key: tuple[object, ...] = ()
        self._last_tick: float | None = None
        self._fresh_from = 0  # estimates.answers.count when the current stretch began
        self._resumed = False  # the current stretch follows a pause (not the first one)
        self.overnight = OvernightCheck(self.config.trust_dials, self.config.trust_z)
        #: What the rule read at the last tick, when it (not a hold) decided it: the
        #: simulator reads each placed call's risk from it (`dialer/sim/calibration.py`).
        self.last: Reading | None = None

    def state(self) -> State:
        """What the rule has learned beyond the estimators (`dialer/pacing/state.py`)."""
        return {
            "controller": self.controller.state(),
            "overnight": self.overnight.state(),
            "dial_rate": self.dial_rate,
            "rate_at": self._rate_at,
            "last_tick": self._last_tick,
            "fresh_from": self._fresh_from,
            "resumed": self._resumed,
        }

    def restore(self, state: State) -> None:
        """Take back what `state` saved (into a new rule: `Pacer.restored`). The next
        tick after a long gap (a night, a restart) is a resume like any other
        (`_resume`)."""
        self.controller.restore(part(state, "controller"))
        self.overnight.restore(part(state, "overnight"))
        self.dial_rate = number(state, "dial_rate")
        self._rate_at, self._last_tick = (optional_number(state, "rate_at"),
                                          optional_number(state, "last_tick"))
        self._fresh_from, self._resumed = count(state, "fresh_from"), bool(flag(state, "resumed"))

    def tables(
        self,
        estimates: Estimates,
        connect_window: float = CONNECT_DEADLINE_SECONDS,
        cautious: bool = False,
    ) -> RiskTables:
        """The risk tables of the estimates now, rebuilt only when they moved. `cautious`:
        on the answer rate's cautious view (relearning), which moves with every fresh
        dial (its interval narrows), not only at the estimator's refreshes."""
        answers = estimates.answers
        key = (
            answers.revision,
            estimates.handle.revision,
            connect_window,
            answers.count if cautious else None,
        )
        if self._tables is None or self._tables_key != key:
            view = answers.cautious(self.config.relearn_z) if cautious else answers
            self._tables = RiskTables.build(
                view, estimates.handle, self.config.quantiles, connect_window
            )
            self._tables_key = key
        return self._tables

    def agents_free(self, snapshot: Snapshot, tables: RiskTables) -> FloatArray | None:
        """Busy agents' chances of being free in time, when known better than the
        estimators know them (never, live); None: from the estimators."""
        return None

    def placed(self, now: float, count: int) -> None:
        """Follow our own dial rate (exponentially weighted over `rate_window`)."""
        if self._rate_at is not None:
            elapsed = max(now - self._rate_at, 0.0)
            self.dial_rate *= math.exp(-elapsed / self.config.rate_window)
        self.dial_rate += count / self.config.rate_window
        self._rate_at = now

    def _resume(self, snapshot: Snapshot, estimates: Estimates) -> None:
        """After a pause, relearn the answer rate unless it has held across pauses."""
        answers, now = estimates.answers, snapshot.now
        if self._last_tick is not None and now - self._last_tick > self.config.resume_gap:
            self._resumed = True
            if self.overnight.resume(answers.p_live(), answers.count, answers.live_count):
                self._fresh_from = answers.count
            else:
                self._relearn(answers)
        elif self.overnight.judging:
            # Every call ringing now was placed after the pause (calls ring for seconds).
            pending = answers.live_cdf_sum(snapshot.ringing)
            if self.overnight.follow(answers.count, answers.live_count, pending):
                # Fresh dials answer more than the old rate allows: relearn from here.
                self._relearn(answers)
        self._last_tick = now

    def _relearn(self, answers: AnswerEstimator) -> None:
        """Relearn the answer rate from the next dials, the old one weighing little."""
        self._fresh_from = answers.count
        answers.forget(self.config.resume_weight)

    def _hold(self, snapshot: Snapshot, estimates: Estimates) -> str | None:
        """Why the rule must dial progressively this tick, or None."""
        guard = self.controller.guard(snapshot)
        if guard is not None:
            return guard
        if (
            not self._resumed and estimates.answers.count < self.config.min_dials
        ) or estimates.handle.count < self.config.min_handled:
            return "learning: progressive until enough outcomes are seen"
        budget = snapshot.settings.target * max(
            snapshot.counters.day.live, self._shift_answers(snapshot, estimates)
        )
        if budget < self.config.min_budget:
            return f"small budget: {budget:.1f} abandons allowed in a day, progressive"
        return None

    def _shift_answers(self, snapshot: Snapshot, estimates: Estimates) -> float:
        """Live answers a shift of the agents working now handles at the handle time seen,
        or the leads left can give, whichever is fewer."""
        handle = estimates.handle.mean_handle()
        if handle <= 0:
            return 0.0
        shift = snapshot.agents.working * self.config.shift_hours * 3600.0 / handle
        return min(shift, snapshot.leads_left * estimates.answers.p_live())

    def wanted(self, snapshot: Snapshot, estimates: Estimates) -> tuple[int, str]:
        self.last = None
        floor = uncovered_free_agents(snapshot)
        self._resume(snapshot, estimates)
        hold = self._hold(snapshot, estimates)
        expected_live = self.dial_rate * estimates.answers.p_live() * LOOKAHEAD_SECONDS
        allowance = self.controller.ahead_allowance(snapshot, expected_live)
        if hold is None and allowance <= 0.0:
            hold = "guard: the 24 h window an hour from now has no abandon to spare"
        threshold = self.controller.update(snapshot, active=hold is None)
        if hold is not None:
            return floor, hold
        # The look-ahead guard scales the threshold down as the window's room shrinks.
        threshold = max(threshold * allowance, self.controller.config.min_threshold)
        extra = min(line_headroom(snapshot), snapshot.agents.working)
        if extra <= 0:
            return 0, "no line headroom"
        relearning = (
            estimates.answers.count - self._fresh_from < self.config.min_dials
            and not self.overnight.trusting
        )
        tables = self.tables(estimates, snapshot.settings.connect_window, relearning)
        agents_free = self.agents_free(snapshot, tables)
        view = moments(snapshot, tables, self.dial_rate, agents_free)
        self.last = Reading(view, tables, self.dial_rate, agents_free)
        first = view.risk(1)
        place = 0
        # The risk grows with k: stop at the first call over the threshold.
        while place < extra and (first if place == 0 else view.risk(place + 1)) <= threshold:
            place += 1
        stage = "predictive, relearning" if relearning else "predictive"
        return max(
            place, floor
        ), f"{stage}: first-call risk {first:.3f}, threshold {threshold:.3f}"
