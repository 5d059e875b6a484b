"""A discrete-event simulation of an outbound campaign driven through the pacing interface.

Each simulated second the engine builds the same `Snapshot` the live campaign runner
builds, asks `Pacer.decide`, places that many calls, and feeds the pacer the same
outcomes the live runner observes (when a call stops ringing and how; talk and wrap-up
durations). The engine never looks inside a policy.

Days are 8 hours on a campaign clock of 24-hour days (day d starts at d * 86,400 s),
so the rolling 24-hour and 30-day counters in the snapshot see what a real campaign's
would; a `PriorDay` stands for the campaign's yesterday when it ran before day 0.
Agents all log in at the start of the day; dialing stops at its end and calls in
progress run out (time after the end does not count toward occupancy).
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_right
from collections import deque
from dataclasses import dataclass, field

from dialer.pacing import (
    AbandonCount,
    AbandonCounters,
    Agents,
    Mode,
    Outcome,
    Pacer,
    PacingSettings,
    Snapshot,
)
from dialer.pacing.exact import exact_risk
from dialer.pacing.snapshot import CONNECT_DEADLINE_SECONDS, LOOKAHEAD_SECONDS
from dialer.sim.calibration import Outcome as CalibrationOutcome
from dialer.sim.calibration import Placement
from dialer.sim.customers import Customer, CustomerStream, Kind
from dialer.sim.history import PriorDay
from dialer.sim.metrics import DAY, AbandonLog, DayMetrics, Fate
from dialer.sim.oracle import OraclePredictive, Truth
from dialer.sim.scenario import Scenario

TICK = 1.0
BREAK_SECONDS = 45 * 60.0

# Event kinds, in heap entries (time, sequence, kind, subject).
_RESOLVE, _TALK_END, _WRAP_END, _DEADLINE, _BREAK_START, _BREAK_END, _RECHECK = range(7)


@dataclass(slots=True)
class _Call:
    index: int
    placed: float
    customer: Customer
    fate: Fate | None = None
    connectable_at: float = 0.0


@dataclass(slots=True)
class _Agent:
    number: int
    free_since: float = 0.0
    break_due: bool = False
    on_break: bool = False


@dataclass(slots=True)
class RunResult:
    scenario: Scenario
    mode: Mode
    days: list[DayMetrics] = field(default_factory=list)
    log: AbandonLog = field(default_factory=AbandonLog)
    #: Fate of each dial by (day, index), when recording was asked for (tests).
    fates: dict[tuple[int, int], Fate] | None = None
    #: With the fates: each dial the predictive rule placed, with its risk and state.
    placements: dict[tuple[int, int], Placement] | None = None

    def calibration_outcomes(self) -> list[CalibrationOutcome]:
        """The recorded placements answered live, abandoned or not."""
        if self.fates is None or self.placements is None:
            raise ValueError("simulate(..., record_fates=True) records placements")
        live = (Fate.CONNECTED, Fate.ABANDONED)
        return [
            CalibrationOutcome(placement, self.fates[key] is Fate.ABANDONED)
            for key, placement in self.placements.items()
            if self.fates.get(key) in live
        ]

    def rate_over_days(self) -> float:
        """Abandon rate (UK formula) pooled over the whole run (30 days or the campaign)."""
        live = sum(d.live + d.fates[Fate.AMD_FALSE_POSITIVE] for d in self.days)
        abandoned = sum(
            d.fates[Fate.ABANDONED] + d.fates[Fate.AMD_FALSE_POSITIVE] for d in self.days
        )
        return abandoned / live if live else 0.0

    def worst_rolling_30d(self) -> float:
        worst = 0.0
        for end in range(len(self.days)):
            chunk = self.days[max(0, end - 29) : end + 1]
            live = sum(d.live + d.fates[Fate.AMD_FALSE_POSITIVE] for d in chunk)
            ab = sum(d.fates[Fate.ABANDONED] + d.fates[Fate.AMD_FALSE_POSITIVE] for d in chunk)
            worst = max(worst, ab / live if live else 0.0)
        return worst


class Simulation:
    """One campaign, one policy, several days; the pacer and its learning persist."""

    def __init__(
        self,
        scenario: Scenario,
        settings: PacingSettings,
        seed: int,
        pacer: Pacer | None = None,
        record_fates: bool = False,
        truth: Truth | None = None,
        prior: PriorDay | None = None,
    ) -> None:
        self.scenario = scenario
        #: Filled each tick with what no live engine knows, for the oracle baseline.
        self.truth = truth
        self.settings = settings
        self.seed = seed
        self.pacer = pacer or Pacer()
        self.result = RunResult(
            scenario,
            settings.mode,
            fates={} if record_fates else None,
            placements={} if record_fates else None,
        )
        # Per day: times of live answers and of abandons, UK formula (FP counted in both);
        # day -1 is the campaign's yesterday when it ran before the simulation starts.
        self._day_live: dict[int, list[float]] = {}
        self._day_abandoned: dict[int, list[float]] = {}
        if prior is not None:
            self._day_live[-1] = list(prior.live)
            self._day_abandoned[-1] = list(prior.abandoned)
        self._fp_estimate = (
            scenario.amd_false_positive / (1.0 - scenario.amd_false_positive)
            if scenario.amd
            else 0.0
        )
        self._month_live = 0
        self._month_abandoned = 0

    def run(self, days: int) -> RunResult:
        """Run the campaign's next `days` days (from day 0, or where the last run ended)."""
        first = len(self.result.days)
        for day in range(first, first + days):
            self.result.days.append(self._run_day(day))
        return self.result

    # -- counters the live engine would read from its history ---------------------------

    def _tail(self, d: int, after: float) -> tuple[int, int]:
        """Live answers and abandons of day `d` later than `after` (seconds into day d);
        none for days before the first, except the `PriorDay` given as day -1."""
        live, abandoned = self._day_live.get(d, []), self._day_abandoned.get(d, [])
        return (
            len(live) - bisect_right(live, after),
            len(abandoned) - bisect_right(abandoned, after),
        )

    def _counters(self, day: int, t: float) -> AbandonCounters:
        """Since midnight, rolling 24 h and rolling 30 days, as the live engine counts.

        With 8-hour days a 24-hour window ending t into day d holds day d up to t and
        day d-1 after t; a 30-day window holds days d-29..d-1 whole, day d-30 after t.
        """
        live_today = len(self._day_live[day])
        abandoned_today = len(self._day_abandoned[day])
        fp = self._fp_estimate
        y_live, y_abandoned = self._tail(day - 1, t)
        o_live, o_abandoned = self._tail(day - 30, t)
        m_live = self._month_live + o_live + live_today
        m_abandoned = self._month_abandoned + o_abandoned + abandoned_today
        d_live = live_today + y_live
        # Yesterday after t + LOOKAHEAD stays in the window an hour from now.
        k_live, k_abandoned = self._tail(day - 1, t + LOOKAHEAD_SECONDS)
        leaving = y_live - k_live
        return AbandonCounters(
            today=AbandonCount(live_today, abandoned_today, fp * live_today),
            day=AbandonCount(d_live, abandoned_today + y_abandoned, fp * d_live),
            month=AbandonCount(m_live, m_abandoned, fp * m_live),
            day_leaving=AbandonCount(leaving, y_abandoned - k_abandoned, fp * leaving),
        )

    # -- one day ------------------------------------------------------------------------

    def _run_day(self, day: int) -> DayMetrics:
        s = self.scenario
        pacer = self.pacer
        settings = self.settings
        base = day * DAY
        end = s.day_seconds
        stream = CustomerStream(s, self.seed, day)
        metrics = DayMetrics(day, s.agents, s.day_seconds)
        fates = metrics.fates
        self._day_live[day] = []
        self._day_abandoned[day] = []
        # Whole days inside every 30-day window ending today: d-29 .. d-1.
        whole = range(day - 29, day)
        self._month_live = sum(len(self._day_live.get(d, [])) for d in whole)
        self._month_abandoned = sum(len(self._day_abandoned.get(d, [])) for d in whole)
        live_times = self._day_live[day]
        abandoned_times = self._day_abandoned[day]
        log = self.result.log
        record = self.result.fates
        placed = self.result.placements

        agents = [_Agent(n) for n in range(s.agents)]
        free: deque[int] = deque(range(s.agents))
        talking: dict[int, float] = {}
        wrapping: dict[int, float] = {}
        paused = 0
        ringing: dict[int, _Call] = {}
        waiting: deque[_Call] = deque()
        serving: dict[int, _Call] = {}  # agent -> the call being talked
        free_at: dict[int, float] = {}  # agent -> when its talk and wrap-up will be over
        events: list[tuple[float, int, int, int]] = []
        sequence = 0
        calls: dict[int, _Call] = {}
        dials = 0

        def push(at: float, kind: int, subject: int) -> None:
            nonlocal sequence
            sequence += 1
            heapq.heappush(events, (at, sequence, kind, subject))

        if s.breaks > 0:
            groups = max(1, round(1.0 / s.breaks))
            slot = (end - BREAK_SECONDS / 2) / groups
            for agent in agents:
                push(slot * (agent.number % groups) + 15 * 60.0, _BREAK_START, agent.number)

        def finish(call: _Call, fate: Fate) -> None:
            call.fate = fate
            fates[fate] += 1
            del calls[call.index]
            if record is not None:
                record[(day, call.index)] = fate

        def busy_inside(start: float, stop: float) -> float:
            return max(0.0, min(stop, end) - max(start, 0.0))

        def connect(call: _Call, agent_number: int, t: float) -> None:
            agent = agents[agent_number]
            if agent.free_since < end and t <= end:
                metrics.idle_gaps.append(t - agent.free_since)
            talking[agent_number] = t
            serving[agent_number] = call
            talk = call.customer.talk_seconds(s.talk_mean_at(t), s.talk_cv)
            free_at[agent_number] = t + talk + call.customer.wrap_seconds(s.wrap_mean, s.wrap_cv)
            push(t + talk, _TALK_END, agent_number)
            live_times.append(t)
            log.live.append(base + t)
            finish(call, Fate.CONNECTED)

        def agent_free(agent_number: int, t: float) -> None:
            nonlocal paused
            agent = agents[agent_number]
            if agent.break_due:
                agent.break_due = False
                agent.on_break = True
                paused += 1
                metrics.paused_seconds += busy_inside(t, t + BREAK_SECONDS)
                push(t + BREAK_SECONDS, _BREAK_END, agent_number)
                return
            agent.free_since = t
            if waiting and not s.recheck_seconds:
                connect(waiting.popleft(), agent_number, t)
            else:  # with rechecks, a waiting customer finds the agent at its next one
                free.append(agent_number)

        def resolve(call: _Call, t: float) -> None:
            del ringing[call.index]
            c = call.customer
            elapsed = t - call.placed
            if call.connectable_at == 0.0:  # rang out or failed
                if c.kind is Kind.BUSY:
                    pacer.observe_dial(Outcome.FAILED, elapsed)
                    finish(call, Fate.FAILED)
                else:
                    pacer.observe_dial(Outcome.NO_ANSWER, elapsed)
                    finish(call, Fate.NO_ANSWER)
            elif c.kind is Kind.MACHINE:
                pacer.observe_dial(Outcome.MACHINE, elapsed)
                finish(call, Fate.MACHINE)
            elif c.false_positive:
                # The pacer cannot tell: AMD said machine. Counted by the UK formula.
                pacer.observe_dial(Outcome.MACHINE, elapsed)
                live_times.append(t)
                abandoned_times.append(t)
                log.live.append(base + t)
                log.abandoned.append(base + t)
                finish(call, Fate.AMD_FALSE_POSITIVE)
            else:
                pacer.observe_dial(Outcome.LIVE, elapsed)
                # A queue that rechecks serves its waiting customers first (app_queue: a
                # caller's turn comes when no more callers are ahead than agents free).
                if free and not (s.recheck_seconds and len(waiting) >= len(free)):
                    connect(call, free.popleft(), t)
                else:
                    waiting.append(call)
                    push(t + CONNECT_DEADLINE_SECONDS, _DEADLINE, call.index)
                    # Rechecks strictly before the deadline: at the deadline itself the
                    # live queue's timeout wins (bench/campaign_live measured it).
                    recheck = s.recheck_seconds
                    k = 1
                    while recheck and k * recheck < CONNECT_DEADLINE_SECONDS:
                        push(t + k * recheck, _RECHECK, call.index)
                        k += 1

        def take_waiting(index: int) -> _Call | None:
            """The waiting call of dial `index`, out of the waiting line (None: gone)."""
            for position, call in enumerate(waiting):
                if call.index == index:
                    del waiting[position]
                    return call
            return None

        def place(t: float, ring_timeout: float) -> None:
            nonlocal dials
            index = dials
            dials += 1
            c = stream.customer(index, t)
            call = _Call(index, t, c)
            calls[index] = call
            ringing[index] = call
            if c.kind is Kind.BUSY:
                at = t + s.busy_seconds
            elif c.kind in (Kind.LIVE, Kind.MACHINE) and c.answer <= ring_timeout:
                at = t + c.answer + (c.amd if s.amd else 0.0)
                call.connectable_at = at
            else:
                at = t + ring_timeout
            push(at, _RESOLVE, index)

        def handle(t: float, kind: int, subject: int) -> None:
            nonlocal paused
            if kind == _RESOLVE:
                resolve(calls[subject], t)
            elif kind == _TALK_END:
                started = talking.pop(subject)
                serving.pop(subject)
                talk = t - started
                pacer.observe_talk(talk)
                metrics.talk_seconds += busy_inside(started, t)
                metrics.busy_seconds += busy_inside(started, t)
                wrapping[subject] = t
                push(free_at[subject], _WRAP_END, subject)
            elif kind == _WRAP_END:
                started = wrapping.pop(subject)
                pacer.observe_wrap(t - started)
                metrics.busy_seconds += busy_inside(started, t)
                agent_free(subject, t)
            elif kind == _RECHECK:
                ahead = next((i for i, c in enumerate(waiting) if c.index == subject), None)
                if ahead is not None and len(free) > ahead:
                    waited = waiting[ahead]
                    del waiting[ahead]
                    connect(waited, free.popleft(), t)
            elif kind == _DEADLINE:
                gone = take_waiting(subject)
                if gone is not None:
                    call = gone
                    live_times.append(t)
                    abandoned_times.append(t)
                    log.live.append(base + t)
                    log.abandoned.append(base + t)
                    finish(call, Fate.ABANDONED)
            elif kind == _BREAK_START:
                agent = agents[subject]
                if subject in free:
                    free.remove(subject)
                    agent.break_due = True
                    agent_free(subject, t)
                else:
                    agent.break_due = True
            elif kind == _BREAK_END:
                agents[subject].on_break = False
                paused -= 1
                agent_free(subject, t)

        tick = 0.0
        while tick < end:
            while events and events[0][0] <= tick:
                at, _, kind, subject = heapq.heappop(events)
                handle(at, kind, subject)
            now_in_day = tick
            snapshot = Snapshot(
                now=base + now_in_day,
                agents=Agents(
                    free=len(free),
                    talking=tuple(now_in_day - v for v in talking.values()),
                    wrapping=tuple(now_in_day - v for v in wrapping.values()),
                    paused=paused,
                ),
                ringing=tuple(now_in_day - c.placed for c in ringing.values()),
                waiting=len(waiting),
                settings=settings,
                counters=self._counters(day, now_in_day),
                leads_left=math.inf if s.leads is None else s.leads - dials,
            )
            if self.truth is not None:
                # Same order as the snapshot's agents: talking, then wrapping.
                self.truth.handle_left = tuple(
                    free_at[a] - now_in_day for a in (*talking, *wrapping)
                )
            decision = pacer.decide(snapshot)
            metrics.decisions.add(snapshot, decision)
            first = dials
            for _ in range(decision.place if s.leads is None else
                           min(decision.place, s.leads - dials)):
                place(now_in_day, decision.ring_timeout)
            reading = pacer.predictive.last
            if placed is not None and reading is not None and dials > first:
                n = dials - first
                batch = Placement(
                    reading.view.risk(n),
                    exact_risk(snapshot, reading.tables, n, reading.dial_rate,
                               reading.agents_free),
                    snapshot.agents.free, len(snapshot.ringing), n,
                )
                for index in range(first, dials):
                    placed[(day, index)] = batch
            lines = len(ringing) + len(waiting) + len(talking)
            metrics.line_samples += 1
            metrics.line_sum += lines
            metrics.line_peak = max(metrics.line_peak, lines)
            tick += TICK
        # Dialing has stopped: let every call in progress run out.
        while events:
            at, _, kind, subject = heapq.heappop(events)
            if kind in (_BREAK_START, _BREAK_END) and at >= end:
                continue
            handle(at, kind, subject)
        metrics.dials = dials
        return metrics


def simulate(
    scenario: Scenario,
    mode: Mode,
    days: int,
    seed: int,
    settings: PacingSettings | None = None,
    record_fates: bool = False,
    oracle: bool = False,
    prior: PriorDay | None = None,
) -> RunResult:
    """Run one campaign; `oracle` gives the predictive rule the agents' true finish
    times (`dialer/sim/oracle.py`), an unreachable reference."""
    settings = settings or PacingSettings(mode=mode)
    if settings.mode is not mode:
        raise ValueError("settings.mode must match mode")
    if oracle and mode is not Mode.PREDICTIVE:
        raise ValueError("the oracle is the predictive rule told the truth")
    truth = Truth() if oracle else None
    pacer = Pacer()
    if truth is not None:
        pacer = Pacer(predictive=OraclePredictive(truth))
    return Simulation(
        scenario, settings, seed, pacer, record_fates=record_fates, truth=truth, prior=prior
    ).run(days)
