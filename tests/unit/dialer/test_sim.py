"""The simulator: conservation laws, common random numbers, metric arithmetic."""

from __future__ import annotations

import dataclasses
import itertools

import pytest

from dialer.pacing import Agents, Decision, Mode, Pacer, PacingSettings, Snapshot
from dialer.sim.calibration import Outcome as CalibrationOutcome
from dialer.sim.calibration import Placement, calibration
from dialer.sim.customers import CustomerStream, Kind
from dialer.sim.engine import Simulation, simulate
from dialer.sim.history import PriorDay
from dialer.sim.metrics import DAY, AbandonLog, DayMetrics, Fate, mean_ci
from dialer.sim.oracle import OraclePredictive, Truth
from dialer.sim.scenario import SCENARIOS, Scenario
from tests.unit.dialer.test_pacing import trained_estimates

# Short days keep these tests to seconds; the benchmark runs 8-hour days.
SHORT = 1800.0


def short(name: str, agents: int = 5) -> Scenario:
    return dataclasses.replace(SCENARIOS[name], agents=agents, day_seconds=SHORT)


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("name", ["S0 N=20", "AMD 25%, FP 5% N=20", "drift N=20"])
def test_every_dial_ends_in_exactly_one_fate_and_occupancy_stays_in_bounds(
    name: str, mode: Mode
) -> None:
    result = simulate(short(name, agents=10), mode, days=2, seed=7, record_fates=True)
    assert result.fates is not None
    for day in result.days:
        assert day.dials > 0
        assert sum(day.fates.values()) == day.dials
        recorded = [k for k in result.fates if k[0] == day.day]
        assert sorted(i for _, i in recorded) == list(range(day.dials))
        assert 0.0 <= day.occupancy <= 1.0
        assert day.talk_seconds <= day.busy_seconds
        assert day.line_peak >= day.lines_mean >= 0
        assert all(gap >= 0 for gap in day.idle_gaps)


def test_amd_scenario_produces_machines_and_false_positives() -> None:
    result = simulate(short("AMD 25%, FP 5% N=20", agents=10), Mode.PROGRESSIVE, 2, seed=3)
    fates = {f: sum(d.fates[f] for d in result.days) for f in Fate}
    assert fates[Fate.MACHINE] > 0
    assert fates[Fate.AMD_FALSE_POSITIVE] > 0
    assert fates[Fate.ABANDONED] == 0  # progressive: false positives are AMD's, not drops
    day = result.days[0]
    assert day.abandon_rate_uk > day.abandon_rate == 0.0


def test_progressive_never_abandons_and_idles_through_the_rings() -> None:
    result = simulate(short("S0 N=20", agents=10), Mode.PROGRESSIVE, 3, seed=11)
    assert sum(d.fates[Fate.ABANDONED] for d in result.days) == 0
    assert all(d.occupancy < 0.9 for d in result.days)


def test_breaks_pause_agents_and_leave_occupancy_over_available_time() -> None:
    scenario = dataclasses.replace(SCENARIOS["drift N=20"], agents=10)
    result = simulate(scenario, Mode.PROGRESSIVE, 1, seed=5)
    day = result.days[0]
    # 10 agents, one 45-minute break each.
    assert day.paused_seconds == pytest.approx(10 * 45 * 60, rel=0.01)
    assert 0 < day.occupancy <= 1


def test_the_same_seed_gives_every_policy_the_same_customers() -> None:
    scenario = short("S0 N=20", agents=10)
    a = simulate(scenario, Mode.PROGRESSIVE, 1, seed=42, record_fates=True).fates
    # Both ring 25 s: the predictive mode's own ring time would cut late answers short.
    same_ring = PacingSettings(mode=Mode.PREDICTIVE, predictive_ring_timeout=25.0)
    b = simulate(scenario, Mode.PREDICTIVE, 1, 42, same_ring, record_fates=True).fates
    assert a is not None and b is not None
    common = set(a) & set(b)
    assert len(common) > 100
    live = {Fate.CONNECTED, Fate.ABANDONED}
    for key in common:
        # Who answers, who is busy and who rings out is the customer's, not the policy's.
        assert (a[key] in live) == (b[key] in live), key
        assert (a[key] is Fate.FAILED) == (b[key] is Fate.FAILED), key


def test_customer_streams_are_keyed_by_seed_day_and_index() -> None:
    scenario = SCENARIOS["S0 N=20"]
    first = CustomerStream(scenario, 1, 0)
    again = CustomerStream(scenario, 1, 0)
    # Reading out of order does not change who the i-th customer is.
    late = again.customer(5000, 10.0)
    assert again.customer(3, 10.0) == first.customer(3, 10.0)
    assert first.customer(5000, 10.0) == late
    assert CustomerStream(scenario, 1, 1).customer(3, 10.0) != first.customer(3, 10.0)


def test_customer_mix_follows_the_scenario() -> None:
    stream = CustomerStream(SCENARIOS["AMD 25%, FP 5% N=20"], 9, 0)
    kinds = [stream.customer(i, 0.0).kind for i in range(20_000)]
    share = {k: kinds.count(k) / len(kinds) for k in Kind}
    assert share[Kind.LIVE] == pytest.approx(0.30, abs=0.015)
    assert share[Kind.MACHINE] == pytest.approx(0.25, abs=0.015)
    assert share[Kind.BUSY] == pytest.approx(0.15, abs=0.015)
    answers = [stream.customer(i, 0.0).answer for i in range(5000)]
    assert min(answers) >= 3.0
    assert max(answers) <= 25.0


def test_drift_lowers_the_answer_rate_through_the_day() -> None:
    drift = SCENARIOS["drift N=20"]
    assert drift.live_at(0) == pytest.approx(0.35)
    assert drift.live_at(drift.day_seconds) == pytest.approx(0.15)
    assert drift.talk_mean_at(drift.day_seconds * 0.75) > drift.talk_mean_at(0)


def test_worst_24h_window_checks_windows_ending_at_each_abandon() -> None:
    log = AbandonLog()
    # Day 0: 100 live, 2 abandoned; day 1: 100 live, 5 abandoned early in the day.
    log.live = sorted([float(i) for i in range(100)] + [DAY + i for i in range(100)])
    log.abandoned = [10.0, 20.0] + [DAY + i for i in range(5)]
    # The window ending at DAY+4 holds day 0 after second 4 (95 live, 2 abandoned)
    # and day 1 up to second 4 (5 live, 5 abandoned).
    assert log.worst_24h() == pytest.approx(7 / 100)
    assert log.rate(DAY - 1, 2 * DAY) == pytest.approx(5 / 100)


def test_day_metrics_formulas() -> None:
    day = DayMetrics(0, agents=2, day_seconds=3600.0)
    day.fates[Fate.CONNECTED] = 97
    day.fates[Fate.ABANDONED] = 3
    day.fates[Fate.AMD_FALSE_POSITIVE] = 2
    day.busy_seconds = 3600.0
    day.talk_seconds = 3000.0
    day.idle_gaps = [float(i) for i in range(1, 11)]
    assert day.abandon_rate == pytest.approx(0.03)
    assert day.abandon_rate_uk == pytest.approx(5 / 102)
    assert day.occupancy == pytest.approx(0.5)
    assert day.talk_minutes_per_agent_hour == pytest.approx(25.0)
    assert day.idle_gap_mean == pytest.approx(5.5)
    assert day.idle_gap_p90 == 10.0


def test_mean_ci_uses_student_t() -> None:
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert half == pytest.approx(4.303 * 1.0 / 3**0.5, rel=1e-3)
    assert mean_ci([5.0] * 30) == (5.0, 0.0)


def test_the_oracle_is_told_finish_times_that_come_true() -> None:
    """Each tick's `handle_left` is when each busy agent will be free: no busy agent's
    finish time has passed, and one seen at a tick is still there, unchanged, at the
    next unless it has passed; any other is an agent connected since."""
    truth = Truth()
    seen: list[tuple[float, list[float], int]] = []
    pacer = Pacer(predictive=OraclePredictive(truth))
    decide = pacer.decide

    def recording(snapshot: Snapshot) -> Decision:
        busy = len(snapshot.agents.talking) + len(snapshot.agents.wrapping)
        assert len(truth.handle_left) == busy
        finish = sorted(snapshot.now + left for left in truth.handle_left)
        seen.append((snapshot.now, finish, busy))
        return decide(snapshot)

    pacer.decide = recording  # type: ignore[method-assign]
    scenario = short("S0 N=20", agents=10)
    Simulation(scenario, PacingSettings(mode=Mode.PREDICTIVE), 3, pacer, truth=truth).run(1)
    assert len(seen) == int(SHORT)
    for (now, finish, _), (later, after, _) in itertools.pairwise(seen):
        still_busy = [f for f in finish if f > later]
        assert all(f >= now for f in finish)
        remaining = list(after)
        for f in still_busy:  # every unfinished agent is still there, same finish time
            match = next(i for i, g in enumerate(remaining) if abs(g - f) < 1e-6)
            remaining.pop(match)
        assert all(g > later for g in remaining)  # the rest were connected since


def test_the_oracle_counts_an_agent_free_exactly_when_its_finish_time_allows() -> None:
    truth = Truth(handle_left=(3.0, 40.0, 10.0))
    oracle = OraclePredictive(truth)
    snapshot = Snapshot(now=0.0, agents=Agents(talking=(100.0, 5.0), wrapping=(12.0,)))
    tables = oracle.tables(trained_estimates())
    free = oracle.agents_free(snapshot, tables)
    assert free is not None
    deadline = tables.answer_at + 2.0
    assert free.tolist() == [[float(left <= d) for d in deadline] for left in (3.0, 40.0, 10.0)]
    with pytest.raises(ValueError):
        oracle.agents_free(Snapshot(now=0.0, agents=Agents(talking=(1.0,))), tables)


def test_a_finite_list_is_dialed_once_and_the_pacer_sees_it_run_out() -> None:
    seen: list[float] = []
    pacer = Pacer()
    decide = pacer.decide

    def recording(snapshot: Snapshot) -> Decision:
        seen.append(snapshot.leads_left)
        return decide(snapshot)

    pacer.decide = recording  # type: ignore[method-assign]
    scenario = dataclasses.replace(short("S0 N=20", agents=10), leads=120)
    result = Simulation(scenario, PacingSettings(mode=Mode.PREDICTIVE), 3, pacer).run(1)
    assert result.days[0].dials == 120
    assert seen[0] == 120 and seen[-1] == 0
    assert all(a >= b for a, b in itertools.pairwise(seen))


def test_a_prior_day_spreads_its_answers_and_abandons_evenly() -> None:
    prior = PriorDay.session(live=1200, abandoned=24, start=7200.0, end=36000.0)
    assert len(prior.live) == 1200 and len(prior.abandoned) == 24
    assert prior.live[0] == 7200.0 and prior.live[-1] < 36000.0
    assert set(prior.abandoned) <= set(prior.live)
    assert PriorDay.session(0, 0, 0.0, 1.0) == PriorDay()
    for bad in ((10, 11, 0.0, 1.0), (10, 1, 5.0, 5.0), (10, 1, 0.0, DAY + 1)):
        with pytest.raises(ValueError):
            PriorDay.session(*bad)
    with pytest.raises(ValueError):
        PriorDay(live=(2.0, 1.0))
    with pytest.raises(ValueError):
        PriorDay(live=(1.0,), abandoned=(1.0, 1.0))


def test_yesterdays_session_lets_the_first_day_over_dial() -> None:
    """Without history a first day whose list can give ~180 live answers never has the
    abandon budget to over-dial (5 abandons' worth); with yesterday's 1,200 live answers
    in the rolling 24 h it does once it has learned."""
    scenario = dataclasses.replace(short("S0 N=20", agents=10), talk_mean=20.0,
                                   wrap_mean=5.0, day_seconds=900.0, leads=600)
    bare = simulate(scenario, Mode.PREDICTIVE, 1, seed=3).days[0].decisions
    prior = PriorDay.session(1200, 24, 7200.0, 36000.0)
    seeded = simulate(scenario, Mode.PREDICTIVE, 1, seed=3, prior=prior).days[0].decisions
    assert bare.over_dialed == 0 and "predictive" not in bare.rules
    assert seeded.rules.get("predictive", 0) > 0
    assert seeded.over_dialed > 0
    assert seeded.ticks == bare.ticks == 900


class _TwoCallsAtOnce(Pacer):
    """Places two calls on the first tick, nothing after (a scripted pacer)."""

    def decide(self, snapshot: Snapshot) -> Decision:
        return Decision(2 if snapshot.now == 0.0 else 0, 15.0, "scripted")


@pytest.mark.parametrize(("recheck", "second_call"), [(0.0, Fate.CONNECTED),
                                                       (1.0, Fate.ABANDONED)])
def test_a_queue_that_rechecks_each_second_misses_an_agent_freed_after_the_recheck(
    recheck: float, second_call: Fate
) -> None:
    """One agent, talk 1.5 s, two customers answering at 1 s: the second waits. An ideal
    queue hands it the agent at 2.5 s, inside the 2 s deadline (3 s); a queue that
    rechecks at 2 s only (3 s is the deadline itself) finds the agent busy, and the
    customer is abandoned, as behind app_queue."""
    scenario = Scenario("scripted", agents=1, live_start=1.0, live_end=1.0, busy=0.0,
                        answer_base=1.0, answer_shape=1.0, answer_scale=1e-9,
                        talk_mean=1.5, talk_cv=0.0, wrap_mean=1e-6, wrap_cv=0.0,
                        day_seconds=10.0, recheck_seconds=recheck)
    result = Simulation(scenario, PacingSettings(), seed=1, pacer=_TwoCallsAtOnce(),
                        record_fates=True).run(1)
    assert result.fates is not None
    # Whichever answers first (a hair apart) takes the agent.
    assert sorted(result.fates.values()) == sorted([Fate.CONNECTED, second_call])


def test_every_call_the_predictive_rule_places_carries_its_batchs_risk() -> None:
    result = simulate(short("S0 N=20", agents=20), Mode.PREDICTIVE, days=2, seed=7,
                      record_fates=True)
    assert result.fates is not None and result.placements is not None
    assert result.placements, "the rule over-dials once it has learned"
    assert set(result.placements) <= set(result.fates)
    for placement in result.placements.values():
        assert 0.0 <= placement.risk <= 1.0 and 0.0 <= placement.exact <= 1.0
        assert placement.batch >= 1 and placement.free >= 0 and placement.ringing >= 0
    # A batch of b calls is b consecutive dials sharing one placement.
    batches = itertools.groupby(sorted(result.placements.items()), key=lambda kv: kv[1])
    for placement, members in batches:
        assert len(list(members)) % placement.batch == 0
    outcomes = result.calibration_outcomes()
    live = {Fate.CONNECTED, Fate.ABANDONED}
    assert len(outcomes) == sum(
        1 for key in result.placements if result.fates[key] in live
    )
    assert sum(o.abandoned for o in outcomes) == sum(
        1 for key in result.placements if result.fates[key] is Fate.ABANDONED
    )


def test_only_the_predictive_rule_records_placements_and_only_when_asked() -> None:
    progressive = simulate(short("S0 N=20"), Mode.PROGRESSIVE, 1, seed=7, record_fates=True)
    assert progressive.placements == {}
    unrecorded = simulate(short("S0 N=20"), Mode.PREDICTIVE, 1, seed=7)
    with pytest.raises(ValueError, match="record_fates"):
        unrecorded.calibration_outcomes()


def test_calibration_bins_average_the_risk_and_count_the_abandons_per_state() -> None:
    one = Placement(risk=0.02, exact=0.01, free=1, ringing=4, batch=1)
    three = Placement(risk=0.04, exact=0.05, free=3, ringing=12, batch=3)
    outcomes = [CalibrationOutcome(one, False)] * 90 + [CalibrationOutcome(one, True)] * 10
    outcomes += [CalibrationOutcome(three, False)] * 50
    by_state = {(b.feature, b.label): b for b in calibration(outcomes)}
    assert by_state[("agents free", "1")].calls == 100
    assert by_state[("agents free", "1")].actual == pytest.approx(0.10)
    assert by_state[("agents free", "3-4")].actual == 0.0
    assert by_state[("calls ringing", "10-14")].predicted == pytest.approx(0.04)
    assert by_state[("calls ringing", "10-14")].exact == pytest.approx(0.05)
    assert by_state[("batch size", "3-4")].calls == 50
    assert by_state[("predicted risk", "2%-3%")].calls == 100
    everything = [b for b in calibration(outcomes) if b.feature == "predicted risk"]
    assert sum(b.calls for b in everything) == 150
    assert by_state[("agents free", "1")].abandoned == 10


def _relearning_ticks(scenario: Scenario) -> list[int]:
    """Ticks the predictive rule spent relearning the answer rate, day by day, with 20
    agents and days of an hour: enough fresh dials each morning for the overnight check
    to judge (`PredictiveConfig.trust_dials`)."""
    scenario = dataclasses.replace(scenario, agents=20, day_seconds=3600.0)
    result = simulate(scenario, Mode.PREDICTIVE, days=5, seed=11)
    return [day.decisions.rules.get("predictive, relearning", 0) for day in result.days]


def test_a_steady_campaign_stops_relearning_each_morning_once_its_rate_has_held() -> None:
    ticks = _relearning_ticks(SCENARIOS["S0 N=20"])
    # Day 0 learns from scratch; day 1 resumes after the first pause, which has no
    # verdict yet, and relearns; later mornings trust the rate once it has held.
    assert ticks[1] > 0, ticks
    assert ticks[2:].count(0) >= 2, ticks


def test_a_campaign_whose_rate_moves_overnight_relearns_every_morning() -> None:
    # 40% live at each day's start, 10% at its end: the rate jumps every night.
    moving = dataclasses.replace(SCENARIOS["S0 N=20"], live_start=0.40, live_end=0.10)
    ticks = _relearning_ticks(moving)
    assert all(t > 0 for t in ticks[1:]), ticks
