"""The seat state machine: given a seat, when a transition arrives, then its state."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cti.domain.model import Seat, SeatState
from cti.tracker import seats
from cti.tracker.seats import derive, seat_id_of

T0 = 1_700_000_000.0


def logged_in(**kw: object) -> Seat:
    seat, _ = seats.apply(Seat("1001", "n1", "PJSIP/1001"), seats.Login("sales", False, None), T0)
    return seat if not kw else seats.apply(seat, seats.Device(str(kw["device"])), T0)[0]


def test_login_makes_an_offline_seat_available() -> None:
    seat, change = seats.apply(
        Seat("1001", "n1", "PJSIP/1001"), seats.Login("sales", False, None), T0
    )
    assert seat.state is SeatState.AVAILABLE
    assert change is not None
    assert (change.previous, change.transition) == (SeatState.OFFLINE, "login")


def test_a_queue_call_rings_then_connects_then_wraps_up_then_frees_the_seat() -> None:
    seat = logged_in()
    states = []
    for t in (
        seats.Offer("n1:1"),
        seats.Device("INUSE"),
        seats.Answer("n1:1"),
        seats.Complete("n1:1", T0 + 10),
        seats.Device("NOT_INUSE"),
        seats.WrapUpEnd(),
    ):
        seat, change = seats.apply(seat, t, T0)
        if change:
            states.append((change.transition, seat.state))
    assert states == [
        ("offer", SeatState.RINGING),
        ("answer", SeatState.ON_CALL),
        ("complete", SeatState.WRAP_UP),
        ("wrap_up_end", SeatState.AVAILABLE),
    ]


def test_a_stale_in_use_device_after_the_call_does_not_make_the_seat_busy() -> None:
    seat = logged_in()
    for t in (seats.Offer("c"), seats.Device("INUSE"), seats.Answer("c")):
        seat, _ = seats.apply(seat, t, T0)
    seat, _ = seats.apply(seat, seats.Complete("c", None), T0)
    assert seat.state is SeatState.AVAILABLE


def test_no_answer_returns_the_seat_and_ignores_another_calls_no_answer() -> None:
    seat, _ = seats.apply(logged_in(), seats.Offer("a"), T0)
    same, change = seats.apply(seat, seats.NoAnswer("b"), T0)
    assert same.state is SeatState.RINGING and change is None
    back, change = seats.apply(seat, seats.NoAnswer("a"), T0)
    assert back.state is SeatState.AVAILABLE and change and change.transition == "no_answer"


def test_an_offer_answered_elsewhere_frees_the_seat_but_never_a_seat_on_the_call() -> None:
    ringing, _ = seats.apply(logged_in(), seats.Offer("a"), T0)
    freed, change = seats.apply(ringing, seats.Withdrawn("a"), T0)
    assert freed.state is SeatState.AVAILABLE
    assert change and change.transition == "offer_withdrawn"
    talking, _ = seats.apply(ringing, seats.Answer("a"), T0)
    kept, change = seats.apply(talking, seats.Withdrawn("a"), T0)
    assert kept.state is SeatState.ON_CALL and change is None


def test_pause_keeps_its_reason_and_a_new_reason_is_a_change() -> None:
    seat, change = seats.apply(logged_in(), seats.Pause(True, "lunch"), T0)
    assert (seat.state, seat.pause_reason) == (SeatState.PAUSED, "lunch")
    seat, change = seats.apply(seat, seats.Pause(True, "training"), T0 + 1)
    assert change is not None and seat.pause_reason == "training"
    seat, change = seats.apply(seat, seats.Pause(False, None), T0 + 2)
    assert seat.state is SeatState.AVAILABLE and seat.pause_reason is None


def test_a_call_outside_the_queues_makes_a_logged_in_seat_busy() -> None:
    assert logged_in(device="INUSE").state is SeatState.BUSY
    assert logged_in(device="RINGING").state is SeatState.AVAILABLE


def test_unreachable_phone_or_last_logout_is_offline() -> None:
    assert logged_in(device="UNAVAILABLE").state is SeatState.OFFLINE
    seat, change = seats.apply(logged_in(), seats.Logout("sales"), T0)
    assert seat.state is SeatState.OFFLINE and change and change.transition == "logout"


def test_seat_ids_come_from_interfaces_and_channel_names() -> None:
    assert seat_id_of("PJSIP/1001") == "1001"
    assert seat_id_of("PJSIP/1001-0000002a") == "1001"
    assert seat_id_of("PJSIP/agent-7") == "agent-7"
    assert seat_id_of("Local/200@from-trunk-00000001;1") is None


transitions = st.one_of(
    st.builds(seats.Login, st.sampled_from(["sales", "support"]), st.booleans(),
              st.sampled_from([None, "lunch"])),
    st.builds(seats.Logout, st.sampled_from(["sales", "support"])),
    st.builds(seats.Pause, st.booleans(), st.sampled_from([None, "lunch", "training"])),
    st.builds(seats.Offer, st.sampled_from(["a", "b"])),
    st.builds(seats.NoAnswer, st.sampled_from(["a", "b"])),
    st.builds(seats.Answer, st.sampled_from(["a", "b"])),
    st.builds(seats.Complete, st.sampled_from(["a", "b"]), st.sampled_from([None, T0 + 5])),
    st.just(seats.WrapUpEnd()),
    st.builds(seats.Device, st.sampled_from(
        ["NOT_INUSE", "INUSE", "RINGING", "UNAVAILABLE", "BUSY", "ONHOLD", "UNKNOWN"])),
)


@given(st.lists(transitions, max_size=40))
def test_state_always_matches_the_facts_and_every_change_is_reported(
    steps: list[seats.Transition],
) -> None:
    seat = Seat("1001", "n1", "PJSIP/1001")
    for i, t in enumerate(steps):
        before = seat
        seat, change = seats.apply(seat, t, T0 + i)
        assert seat.state is derive(seat)
        if seat.state is not before.state:
            assert change is not None and change.previous is before.state
            assert change.seat is seat and seat.since == T0 + i
        if not seat.skill_groups:
            assert seat.state is SeatState.OFFLINE
        if seat.state is SeatState.PAUSED:
            assert seat.paused
