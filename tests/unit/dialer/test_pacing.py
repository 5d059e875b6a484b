"""Pacing rules and policies: given a snapshot, the decision obeys the rules."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing import (
    AbandonCount,
    AbandonCounters,
    Agents,
    Estimates,
    Learned,
    Mode,
    Outcome,
    Pacer,
    PacingSettings,
    Snapshot,
)
from dialer.pacing.controller import AbandonController, ControllerConfig, setpoint
from dialer.pacing.policies import AdaptiveLevel
from dialer.pacing.predictive import Predictive, marginal_risks
from dialer.pacing.snapshot import MIN_RING_SECONDS

elapsed = st.floats(min_value=0, max_value=900, allow_nan=False)


@st.composite
def snapshots(draw: st.DrawFn, working: bool | None = None) -> Snapshot:
    free = draw(st.integers(0, 30))
    talking = tuple(draw(st.lists(elapsed, max_size=30)))
    wrapping = tuple(draw(st.lists(st.floats(0, 120), max_size=10)))
    if working is False:
        free, talking, wrapping = 0, (), ()
    paused = draw(st.integers(0, 5))
    live = draw(st.integers(0, 5000))
    counts = AbandonCount(live, draw(st.integers(0, max(live // 10, 0))))
    return Snapshot(
        now=draw(st.floats(0, 1e7)),
        agents=Agents(free, talking, wrapping, paused),
        ringing=tuple(draw(st.lists(st.floats(0, 40), max_size=60))),
        waiting=draw(st.integers(0, 3)),
        settings=PacingSettings(
            mode=draw(st.sampled_from(list(Mode))),
            ring_timeout=draw(st.floats(1, 60)),
            predictive_ring_timeout=draw(st.floats(1, 60)),
            ratio=draw(st.floats(1, 4)),
        ),
        counters=AbandonCounters(counts, counts, counts),
    )


def trained_estimates(seed: int = 1) -> Estimates:
    """Estimators fed S0 outcomes (dialer.md), as after a few hours of a campaign."""
    rng = np.random.default_rng(seed)
    estimates = Estimates()
    for _ in range(3000):
        u = rng.random()
        if u < 0.3:
            estimates.observe_dial(Outcome.LIVE, min(3 + rng.gamma(2, 4), 25))
        elif u < 0.45:
            estimates.observe_dial(Outcome.FAILED, 5.0)
        else:
            estimates.observe_dial(Outcome.NO_ANSWER, 25.0)
    for _ in range(600):
        estimates.observe_talk(float(rng.lognormal(np.log(150) - 0.3466, 0.8326)))
        estimates.observe_wrap(float(rng.lognormal(np.log(30) - 0.2475, 0.7035)))
    return estimates


TRAINED = trained_estimates()


@settings(max_examples=200, deadline=None)
@given(snapshots(working=False))
def test_no_agent_logged_in_and_unpaused_means_no_call(snapshot: Snapshot) -> None:
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place == 0


@settings(max_examples=200, deadline=None)
@given(snapshots())
def test_every_decision_rings_at_least_15_seconds_and_respects_the_line_cap(
    snapshot: Snapshot,
) -> None:
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.ring_timeout >= MIN_RING_SECONDS
    settings = snapshot.settings
    asked = (settings.predictive_ring_timeout if settings.mode is Mode.PREDICTIVE
             else settings.ring_timeout)
    assert decision.ring_timeout == max(asked, MIN_RING_SECONDS)
    assert decision.place >= 0
    cap = snapshot.settings.max_lines_per_agent * snapshot.agents.working
    assert len(snapshot.ringing) + decision.place <= max(cap, len(snapshot.ringing))
    assert decision.reason


@settings(max_examples=200, deadline=None)
@given(snapshots())
def test_progressive_never_places_more_calls_than_uncovered_free_agents(
    snapshot: Snapshot,
) -> None:
    progressive = Snapshot(
        snapshot.now,
        snapshot.agents,
        snapshot.ringing,
        snapshot.waiting,
        PacingSettings(mode=Mode.PROGRESSIVE),
        snapshot.counters,
    )
    decision = Pacer(TRAINED).decide(progressive)
    uncovered = snapshot.agents.free - len(snapshot.ringing) - snapshot.waiting
    assert decision.place == max(0, uncovered)


def test_fixed_ratio_counts_available_agents_only() -> None:
    snapshot = Snapshot(
        0.0,
        Agents(free=2, talking=(10.0,) * 18),
        ringing=(1.0,),
        settings=PacingSettings(mode=Mode.RATIO, ratio=2.5),
    )
    assert Pacer().decide(snapshot).place == 5 - 1


def test_adaptive_level_falls_to_one_when_todays_drop_rate_is_over_target() -> None:
    policy = AdaptiveLevel(level=2.5)
    over = AbandonCount(live=100, abandoned=5)
    snapshot = Snapshot(
        0.0,
        Agents(free=5, talking=(10.0,) * 5),
        settings=PacingSettings(mode=Mode.ADAPTIVE),
        counters=AbandonCounters(today=over, day=over, month=over),
    )
    place, _ = policy.wanted(snapshot, Estimates())
    assert policy.level == 1.0
    assert place == 10 - 5  # level 1: one line per ready or in-call agent, minus calls


def test_adaptive_level_rises_while_agents_wait() -> None:
    policy = AdaptiveLevel()
    for second in range(0, 61, 15):
        policy.wanted(Snapshot(float(second), Agents(free=4, talking=(10.0,) * 4)), Estimates())
    assert policy.level > 1.5


def predictive_snapshot(counters: AbandonCounters | None = None, **kw: object) -> Snapshot:
    base: dict[str, object] = {"now": 0.0, "agents": Agents(free=0, talking=(60.0,) * 20)}
    base.update(kw)
    return Snapshot(
        settings=PacingSettings(mode=Mode.PREDICTIVE),
        counters=counters or AbandonCounters(),
        **base,  # type: ignore[arg-type]
    )


def test_predictive_dials_ahead_of_agents_that_are_about_to_free() -> None:
    # Twenty agents all deep in wrap-up: most are free within seconds.
    snapshot = predictive_snapshot(agents=Agents(free=0, wrapping=(60.0,) * 20))
    settled = AbandonCount(live=5000, abandoned=100)
    snapshot = predictive_snapshot(
        agents=snapshot.agents, counters=AbandonCounters(settled, settled, settled)
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place > 0, decision.reason


def test_predictive_holds_back_when_calls_already_cover_the_agents() -> None:
    settled = AbandonCount(live=5000, abandoned=100)
    snapshot = predictive_snapshot(
        agents=Agents(free=1, talking=(5.0,) * 19),
        ringing=(1.0,) * 30,
        counters=AbandonCounters(settled, settled, settled),
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place == 0, decision.reason


@settings(max_examples=100, deadline=None)
@given(snapshots())
def test_the_marginal_risk_grows_with_every_extra_call(snapshot: Snapshot) -> None:
    tables = Predictive().tables(TRAINED)
    risks = marginal_risks(snapshot, tables, 12, dial_rate=0.5)
    assert all(0.0 <= r <= 1.0 for r in risks)
    assert all(b >= a - 1e-12 for a, b in itertools.pairwise(risks)), risks


def run_controller(
    counts: AbandonCount, seconds: int = 3600, window: AbandonCount | None = None
) -> AbandonController:
    """Drive the loop for `seconds`: a live answer a second abandoned at the rate of
    `counts` since midnight, with the 24 h and 30 d windows at `window` (default
    `counts`)."""
    controller = AbandonController()
    rate = counts.abandoned / counts.live
    window = window or counts
    for second in range(seconds):
        today = AbandonCount(live=second, abandoned=round(rate * second))
        counters = AbandonCounters(today, window, window)
        controller.update(predictive_snapshot(counters, now=float(second)), active=True)
    return controller


def test_the_loop_lowers_the_threshold_when_over_target_and_raises_it_when_under() -> None:
    over = run_controller(AbandonCount(live=2000, abandoned=80))  # 4%
    under = run_controller(AbandonCount(live=2000, abandoned=20))  # 1%
    base = AbandonController().config.base_threshold
    assert over.threshold < base < under.threshold
    assert over.integral < 0 < under.integral


def test_the_loop_does_not_catch_up_after_a_quiet_morning() -> None:
    # Since midnight no abandon (the rule was learning), now abandoning at the setpoint:
    # the loop must hold that pace, not dial harder to bring the window up to it
    # (tomorrow morning's 24 h window would be this afternoon's hot hours).
    quiet = AbandonCount(live=2000, abandoned=0)
    aim = setpoint(ControllerConfig(), 0.03, quiet.live)
    at_setpoint = AbandonCount(live=10_000, abandoned=round(aim * 10_000))
    controller = run_controller(at_setpoint, seconds=7200, window=quiet)
    assert abs(controller.integral) < 0.05
    assert controller.threshold < 1.2 * controller.config.base_threshold


def ahead_snapshot(day: AbandonCount, leaving: AbandonCount) -> Snapshot:
    month = AbandonCount(live=30_000, abandoned=300)
    return predictive_snapshot(AbandonCounters(day, day, month, leaving))


def test_the_look_ahead_allowance_is_whole_while_the_window_has_room() -> None:
    day = AbandonCount(live=2000, abandoned=20)  # 1%
    allowance = AbandonController().ahead_allowance(ahead_snapshot(day, AbandonCount()), 300)
    assert allowance == 1.0


def test_the_look_ahead_allowance_shrinks_as_the_window_fills() -> None:
    controller = AbandonController()
    leaving = AbandonCount(live=300, abandoned=3)
    allowances = [
        controller.ahead_allowance(ahead_snapshot(AbandonCount(2000, a), leaving), 300)
        for a in range(40, 62)
    ]
    assert all(b <= a for a, b in itertools.pairwise(allowances))
    assert min(allowances[:5]) > 0.0 and max(allowances[:5]) <= 1.0
    # 2000 - 300 + 300 answers an hour from now, 57 - 3 abandons already in and one of
    # margin: a 2.91% ceiling (58.2 of 2001) leaves 3.2 abandons for the next hour's
    # 300 answers, 1.07%, 0.43 of the 2.49% setpoint (a window of 2,000 answers).
    assert 0.42 < allowances[17] < 0.44
    assert allowances[-1] == 0.0


def test_yesterdays_calm_hours_leaving_the_window_stop_over_dialing() -> None:
    # 28 of 1000 abandoned (2.8%) but 500 calm answers leave within the hour: 28 of the
    # remaining 500 is 5.6%, so no abandon can be spared whatever is dialed next.
    day = AbandonCount(live=1000, abandoned=28)
    leaving = AbandonCount(live=500, abandoned=0)
    counters = AbandonCounters(day, day, AbandonCount(live=30_000, abandoned=300), leaving)
    snapshot = predictive_snapshot(counters, agents=Agents(free=0, wrapping=(60.0,) * 20))
    assert AbandonController().ahead_allowance(snapshot, 300) == 0.0
    pacer = Pacer(trained_estimates())
    pacer.predictive.dial_rate = 0.3  # a working campaign: ~324 live answers an hour
    decision = pacer.decide(snapshot)
    assert decision.place == 0
    assert decision.reason.startswith("guard")


def test_a_smaller_look_ahead_allowance_never_places_more_calls() -> None:
    agents = Agents(free=3, talking=(60.0,) * 12, wrapping=(25.0,) * 5)
    placed = []
    for abandoned in (30, 52, 55, 57):  # from plenty of room to almost none
        day = AbandonCount(live=2000, abandoned=abandoned)
        leaving = AbandonCount(live=300, abandoned=3)
        counters = AbandonCounters(day, day, AbandonCount(live=30_000, abandoned=300), leaving)
        pacer = Pacer(trained_estimates())
        pacer.predictive.dial_rate = 0.3
        snapshot = predictive_snapshot(counters, agents=agents, ringing=(2.0,) * 3)
        placed.append(pacer.decide(snapshot).place)
    assert all(b <= a for a, b in itertools.pairwise(placed)), placed
    assert placed[0] > placed[-1], placed


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 5000),
    st.integers(0, 300),
    st.integers(0, 2000),
    st.floats(0, 2000, allow_nan=False),
)
def test_the_look_ahead_allowance_is_a_share_that_falls_with_every_abandon(
    live: int, abandoned: int, leaving: int, expected_live: float
) -> None:
    controller = AbandonController()
    share = [
        controller.ahead_allowance(
            ahead_snapshot(AbandonCount(live, a), AbandonCount(min(leaving, live), 0)),
            expected_live,
        )
        for a in (abandoned, abandoned + 1)
    ]
    assert 0.0 <= share[1] <= share[0] <= 1.0


def test_the_guard_stops_over_dialing_when_the_24h_window_nears_the_target() -> None:
    near = AbandonCount(live=1000, abandoned=29)  # 2.9%: one more would pass 2.85%
    month = AbandonCount(live=30000, abandoned=300)
    counters = AbandonCounters(near, near, month)
    snapshot = predictive_snapshot(
        counters, agents=Agents(free=0, wrapping=(60.0,) * 20), ringing=()
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place == 0
    assert decision.reason.startswith("guard")


def test_the_uk_rate_counts_amd_false_positives() -> None:
    assert AbandonCount(live=100, abandoned=1, fp_estimate=2.0).rate == 3 / 102


def test_the_loop_does_not_wind_up_while_the_rule_is_not_in_control() -> None:
    controller = AbandonController()
    quiet = AbandonCount(live=2000, abandoned=0)
    counters = AbandonCounters(quiet, quiet, quiet)
    for second in range(3600):
        controller.update(predictive_snapshot(counters, now=float(second)), active=False)
    assert controller.integral == 0.0
    over = AbandonCount(live=2000, abandoned=100)
    counters = AbandonCounters(over, over, over)
    for second in range(3600, 4000):
        controller.update(predictive_snapshot(counters, now=float(second)), active=False)
    assert controller.integral < 0.0  # winding down is always allowed


def test_a_small_abandon_budget_means_progressive() -> None:
    few = AbandonCount(live=500, abandoned=5)  # 3% of 500 = 15 abandons allowed
    snapshot = predictive_snapshot(
        AbandonCounters(few, few, AbandonCount(live=15000, abandoned=150)),
        agents=Agents(free=2, wrapping=(60.0,) * 3),
        ringing=(1.0,),
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place == 1
    assert decision.reason.startswith("small budget")


def test_a_new_campaign_of_twenty_agents_over_dials_once_it_has_learned() -> None:
    # 200 answers in the last 24 h (6 abandons' worth), but 20 agents earn ~96 in a
    # shift of 180 s calls: the window's small count alone must not hold them back.
    first_hour = AbandonCount(live=200)
    snapshot = predictive_snapshot(
        AbandonCounters(first_hour, first_hour, first_hour),
        agents=Agents(free=0, wrapping=(60.0,) * 20),
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.place > 0, decision.reason
    assert decision.reason.startswith("predictive")


def test_a_list_about_to_run_out_is_dialed_progressively() -> None:
    # The same 20 agents with 200 leads left: at most ~60 more answers, 1.8 abandons'
    # worth, so one abandon would weigh more than the loop can steer.
    first_hour = AbandonCount(live=200)
    snapshot = predictive_snapshot(
        AbandonCounters(first_hour, first_hour, first_hour),
        agents=Agents(free=0, wrapping=(60.0,) * 20),
        leads_left=200,
    )
    decision = Pacer(TRAINED).decide(snapshot)
    assert decision.reason.startswith("small budget"), decision.reason


def test_after_a_night_without_ticks_the_rule_relearns_before_over_dialing() -> None:
    settled = AbandonCount(live=5000, abandoned=100)
    counters = AbandonCounters(settled, settled, settled)
    agents = Agents(free=0, wrapping=(60.0,) * 20)
    pacer = Pacer(trained_estimates())
    evening = pacer.decide(predictive_snapshot(counters, now=0.0, agents=agents))
    assert evening.place > 0, evening.reason
    # In the morning the same agents get fewer calls: the night's answers weigh as
    # much as 10 fresh dials, and the rule assumes the highest answer rate they allow.
    morning = pacer.decide(predictive_snapshot(counters, now=16 * 3600.0, agents=agents))
    assert 0 < morning.place < evening.place, (morning, evening)
    assert morning.reason.startswith("predictive, relearning")
    # ...from fresh dials, until `min_dials` of them are seen.
    answers = pacer.estimates.answers
    before = answers.p_live()
    for _ in range(99):
        answers.observe(Outcome.LIVE, 8.0)
    assert answers.p_live() > 0.9 > before
    still = pacer.decide(predictive_snapshot(counters, now=16 * 3600.0 + 1, agents=agents))
    assert still.reason.startswith("predictive, relearning")
    answers.observe(Outcome.NO_ANSWER, 15.0)
    relearned = pacer.decide(predictive_snapshot(counters, now=16 * 3600.0 + 2, agents=agents))
    assert relearned.reason.startswith("predictive:"), relearned.reason


def test_a_rate_that_held_overnight_resumes_at_full_pace_until_fresh_dials_disagree() -> None:
    settled = AbandonCount(live=5000, abandoned=100)
    counters = AbandonCounters(settled, settled, settled)
    agents = Agents(free=0, wrapping=(60.0,) * 20)
    pacer = Pacer(trained_estimates())
    pacer.predictive.overnight.held = True  # the last night's pause: the rate held
    evening = pacer.decide(predictive_snapshot(counters, now=0.0, agents=agents))
    morning = pacer.decide(predictive_snapshot(counters, now=16 * 3600.0, agents=agents))
    assert morning.place == evening.place > 0, (morning, evening)
    assert morning.reason.startswith("predictive:"), morning.reason
    # The first fresh dials all answer live: the rule stops trusting and relearns.
    for second in range(1, 8):
        pacer.observe_dial(Outcome.LIVE, 8.0)
        later = pacer.decide(
            predictive_snapshot(counters, now=16 * 3600.0 + second, agents=agents)
        )
    assert later.reason.startswith("predictive, relearning"), later.reason
    assert later.place < evening.place


def test_a_new_campaign_dials_progressively_until_it_has_seen_enough_dials() -> None:
    settled = AbandonCount(live=5000, abandoned=100)
    counters = AbandonCounters(settled, settled, settled)
    estimates = Estimates()
    for _ in range(60):
        estimates.observe_talk(150.0)
        estimates.observe_wrap(30.0)
    for _ in range(99):
        estimates.observe_dial(Outcome.NO_ANSWER, 15.0)
    snapshot = predictive_snapshot(counters, agents=Agents(free=0, wrapping=(60.0,) * 20))
    pacer = Pacer(estimates)
    assert pacer.decide(snapshot).reason.startswith("learning")
    estimates.observe_dial(Outcome.NO_ANSWER, 15.0)
    assert pacer.decide(snapshot).reason.startswith("predictive:")


def test_a_shorter_connect_window_counts_fewer_agents_and_places_fewer_calls() -> None:
    """Behind app_queue, which rechecks once a second, only agents free within 1 s of an
    answer can take it: told so, the rule places fewer calls on twenty agents about to
    finish their wrap-up than with the 2 s of an ideal queue."""
    settled = AbandonCount(live=5000, abandoned=100)

    def place(window: float) -> int:
        snapshot = Snapshot(
            now=0.0,
            agents=Agents(free=0, wrapping=(30.0,) * 20),
            settings=PacingSettings(mode=Mode.PREDICTIVE, connect_window=window),
            counters=AbandonCounters(settled, settled, settled),
        )
        return Pacer(TRAINED).decide(snapshot).place

    assert place(2.0) > place(1.0) > place(0.0) > 0


@settings(max_examples=60, deadline=None)
@given(snapshots(working=True), st.floats(0.0, 2.0))
def test_a_shorter_connect_window_never_places_more_calls(
    snapshot: Snapshot, window: float
) -> None:
    def decide(w: float) -> int:
        settings_ = dataclasses.replace(snapshot.settings, mode=Mode.PREDICTIVE, connect_window=w)
        return Pacer(TRAINED).decide(dataclasses.replace(snapshot, settings=settings_)).place

    assert decide(window) <= decide(2.0)


def test_what_a_pacer_learned_reads_as_its_outcomes_said() -> None:
    pacer = Pacer()
    assert pacer.learned() == Learned(risk_threshold=pacer.predictive.controller.threshold)
    for _ in range(3):
        pacer.observe_dial(Outcome.LIVE, 5.2)
        pacer.observe_talk(120.4)
        pacer.observe_wrap(30.6)
    for _ in range(7):
        pacer.observe_dial(Outcome.NO_ANSWER, 15.0)
    learned = pacer.learned()
    assert (learned.dials_seen, learned.handled_seen) == (10, 3)
    # Each newer dial weighs 2**(1/1500) times the one before: 3 of 10, nearly.
    assert abs(learned.live_answer_rate - 0.3) < 0.001
    assert learned.live_answer_seconds == 5.25  # the middle of the 0.5 s bin it fell in
    assert (learned.talk_seconds, learned.wrap_seconds) == (120.5, 30.5)
    assert learned.risk_threshold == pacer.predictive.controller.config.base_threshold


def test_a_stricter_target_holds_back_where_the_regulators_3_percent_would_not() -> None:
    settled = AbandonCount(live=5000, abandoned=100)  # 2.0% over 24 h and 30 days
    counters = AbandonCounters(settled, settled, settled)
    snapshot = predictive_snapshot(counters, agents=Agents(free=0, wrapping=(60.0,) * 20))
    strict = dataclasses.replace(
        snapshot, settings=PacingSettings(mode=Mode.PREDICTIVE, target=0.02))
    at_3 = Pacer(TRAINED).decide(snapshot)
    at_2 = Pacer(TRAINED).decide(strict)
    assert at_3.place > 0, at_3.reason
    assert at_2.place == 0 and at_2.reason.startswith("guard"), at_2.reason


def test_the_setpoint_leaves_the_24h_windows_own_chance_under_the_guard() -> None:
    config = ControllerConfig()

    def fraction(target: float, live: float) -> float:
        return setpoint(config, target, live) / target

    # S0 N=20 (2,970 live answers a day) at 3%: the 0.85 it was tuned at.
    assert 0.84 < fraction(0.03, 2970) < 0.86
    # Its worst window, mean + 1.2 sqrt(mean) abandons, lands on the guard.
    for target, live in ((0.03, 2970), (0.01, 2970), (0.03, 14_800), (0.02, 800)):
        mean = setpoint(config, target, live) * live
        assert abs(mean + config.window_noise * mean**0.5
                   - config.guard_fraction * target * live) < 1e-6
    # A steadier (bigger) window runs nearer the target, a noisier one further under.
    sizes = [fraction(0.03, live) for live in (300, 740, 2970, 14_800)]
    assert all(b > a for a, b in itertools.pairwise(sizes))
    assert fraction(0.01, 2970) < fraction(0.02, 2970) < fraction(0.03, 2970)
    # Bounded: the first answers of a campaign, and the biggest campaigns.
    assert fraction(0.03, 0) == config.min_setpoint_fraction
    assert fraction(0.03, 10**7) == config.max_setpoint_fraction
