"""Tests of post and port overload protection, driven by simulated timestamps only."""

from __future__ import annotations

import json
import math
import random
from typing import TYPE_CHECKING

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.posts import (
    Curve,
    Latch,
    NotLatchedError,
    PortLimits,
    PostLimits,
    PostProtection,
    Recut,
    RecutReason,
    ResetMode,
    SensorFault,
    SnapshotError,
    Trip,
    TripCause,
    UnknownPortError,
    operate_time,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

IS = 2.0  # setting current of a charger port, A
T0 = 1_795_855_200.0  # an epoch time in 2026

# IEC 60255-151 oracle at TMS = 1 (reliability.md §1.1), independent of operate_time().
ORACLE = {
    (Curve.SI, 2): 10.03,
    (Curve.SI, 5): 4.28,
    (Curve.SI, 10): 2.97,
    (Curve.VI, 2): 13.5,
    (Curve.VI, 5): 3.375,
    (Curve.VI, 10): 1.5,
    (Curve.EI, 2): 26.67,
    (Curve.EI, 5): 3.33,
    (Curve.EI, 10): 0.808,
}


def tolerance(expected: float) -> float:
    """IEC accuracy class ±5 % or ±40 ms (tighter than the ±100 ms acceptance figure)."""
    return max(0.05 * expected, 0.04)


def port(curve: Curve = Curve.SI, tms: float = 1.0, **kwargs: object) -> PortLimits:
    """Port limits with Is = 2 A."""
    return PortLimits(rated_current_a=IS, curve=curve, tms=tms, **kwargs)  # type: ignore[arg-type]


def post(limits: PortLimits | None = None, ports: int = 1, **kwargs: float) -> PostProtection:
    """A post with ``ports`` identical ports numbered from 1."""
    lim = limits or port()
    return PostProtection("post-01", PostLimits(**kwargs), dict.fromkeys(range(1, ports + 1), lim))


def trips(decisions: Iterable[object]) -> list[Trip]:
    """The trips among decisions."""
    return [d for d in decisions if isinstance(d, Trip)]


def drive(
    prot: PostProtection, samples: Iterable[tuple[float, float]], port_no: int = 1
) -> Trip | None:
    """Feed (ts, current) readings the way the daemon does, waking at every deadline."""
    for ts, current in samples:
        due = wake_until(prot, ts)
        if due:
            return due[0]
        found = trips(prot.observe(ts, port_no, current_a=current, on=True))
        if found:
            return found[0]
    return None


def wake_until(prot: PostProtection, ts: float) -> list[Trip]:
    """Call advance() at each deadline up to ``ts``; return the trips of the first that has any."""
    while (deadline := prot.next_deadline()) is not None and deadline <= ts:
        found = trips(prot.advance(deadline))
        if found:
            return found
    return []


def steady(
    start: float, current: float, duration: float, step: float = 1.0
) -> list[tuple[float, float]]:
    """Readings of a constant current every ``step`` seconds."""
    return [(start + i * step, current) for i in range(int(duration / step) + 1)]


@pytest.mark.parametrize(("curve", "multiple"), sorted(ORACLE, key=str))
@pytest.mark.parametrize("tms", [0.1, 1.0])
def test_operate_time_matches_iec_oracle(curve: Curve, multiple: int, tms: float) -> None:
    """Test that operate_time() reproduces the IEC 60255-151 table at TMS 0.1 and 1."""
    expected = ORACLE[(curve, multiple)] * tms
    assert operate_time(curve, tms, multiple) == pytest.approx(expected, rel=0.002, abs=0.001)


@pytest.mark.parametrize(("curve", "multiple"), sorted(ORACLE, key=str))
def test_overload_sampled_every_second_trips_on_curve(curve: Curve, multiple: int) -> None:
    """Test that an injected overload sampled every 1 s trips within the IEC curve time."""
    prot = post(port(curve))
    assert drive(prot, steady(T0, 0.5 * IS, 30)) is None
    start = T0 + 31
    trip = drive(prot, steady(start, multiple * IS, 1000))
    assert trip is not None
    assert trip.cause is TripCause.INVERSE_TIME
    expected = ORACLE[(curve, multiple)]
    assert trip.at - start == pytest.approx(expected, abs=tolerance(expected))


@pytest.mark.parametrize(("curve", "multiple"), sorted(ORACLE, key=str))
def test_overload_sampled_irregularly_trips_on_curve(curve: Curve, multiple: int) -> None:
    """Test that irregular sampling (bursts, gaps up to 10 s) does not change the trip time."""
    rng = random.Random(f"{curve}{multiple}")
    ts, samples = T0, []
    while ts < T0 + 500:
        samples.append((ts, multiple * IS))
        ts += rng.choice([0.001, 0.01, 0.3, 1.0, 2.7, 6.0, 9.9])
    trip = drive(post(port(curve)), samples)
    assert trip is not None
    expected = ORACLE[(curve, multiple)]
    assert trip.at - T0 == pytest.approx(expected, abs=tolerance(expected))


def test_operate_time_is_clamped_above_twenty_times() -> None:
    """Test that 50·Is trips no faster than 20·Is, as IEC relays clamp it."""
    trip_50 = drive(post(port(Curve.EI)), steady(T0, 50 * IS, 10, step=0.1))
    trip_20 = drive(post(port(Curve.EI)), steady(T0, 20 * IS, 10, step=0.1))
    assert trip_50 is not None
    assert trip_20 is not None
    assert trip_50.at == pytest.approx(trip_20.at)
    assert trip_50.at - T0 == pytest.approx(0.201, abs=0.04)


def test_ramp_accumulates_the_integral_of_the_curve() -> None:
    """Test that a rising current trips when ∫dt/t(I) reaches 1, not at either end's time."""
    # 1.5·Is rising 0.05·Is per second, sampled every 0.5 s.
    ramp = [(T0 + 0.5 * i, IS * (1.5 + 0.025 * i)) for i in range(400)]
    trip = drive(post(port(Curve.VI)), ramp)
    assert trip is not None
    # Fine-grained integral of the continuous ramp: where the sum reaches 1.
    acc, t, dt = 0.0, 0.0, 0.001
    while acc < 1.0:
        acc += dt / operate_time(Curve.VI, 1.0, 1.5 + 0.05 * t)
        t += dt
    assert trip.at - T0 == pytest.approx(t, abs=0.5)  # one sample period of a held ramp
    assert operate_time(Curve.VI, 1.0, 1.5 + 0.05 * t) < trip.at - T0 < 27.0


def test_pulsing_overload_trips_under_dependent_reset() -> None:
    """Test that 4 s at 3·Is then 2 s at 0.5·Is, repeated, trips though no pulse is long enough."""
    for curve in Curve:
        assert operate_time(curve, 1.0, 3.0) > 4.0  # an instantaneous reset would never trip
        cycle = [(0.0, 3.0), (1.0, 3.0), (2.0, 3.0), (3.0, 3.0), (4.0, 0.5), (5.0, 0.5)]
        samples = [(T0 + 6 * n + dt, m * IS) for n in range(100) for dt, m in cycle]
        trip = drive(post(port(curve)), samples)
        assert trip is not None, curve
        assert trip.cause is TripCause.INVERSE_TIME
        assert trip.at - T0 < 60.0, curve


def test_pulsing_overload_trips_under_definite_reset() -> None:
    """Test that a definite (hold) reset also catches a load pulsing 60 % of t_trip on, 2 s off."""
    on_s = 0.6 * operate_time(Curve.SI, 1.0, 2.0)
    samples = []
    for n in range(20):
        base = T0 + n * (on_s + 2.0)
        samples += [(base, 2 * IS), (base + on_s, 0.0)]
    trip = drive(post(port(Curve.SI, reset_mode=ResetMode.DEFINITE, reset_tr_s=5.0)), samples)
    assert trip is not None
    assert trip.at - T0 == pytest.approx(operate_time(Curve.SI, 1.0, 2.0) + 2.0, abs=0.01)


def test_dependent_reset_eventually_forgets_an_old_overload() -> None:
    """Test that a half-way overload followed by a long rest does not shorten the next trip."""
    t_op = operate_time(Curve.VI, 1.0, 2.0)
    prot = post(port(Curve.VI))
    assert drive(prot, steady(T0, 2 * IS, 0.5 * t_op)) is None
    assert drive(prot, steady(T0 + 0.5 * t_op + 1, 0.0, 100)) is None
    start = T0 + 0.5 * t_op + 102
    trip = drive(prot, steady(start, 2 * IS, 100))
    assert trip is not None
    assert trip.at - start == pytest.approx(t_op, abs=0.01)


def test_hysteresis_band_neither_trips_nor_resets() -> None:
    """Test that 0.95-1.1·Is for an hour neither trips nor wipes a half-accumulated overload."""
    t_op = operate_time(Curve.SI, 1.0, 2.0)
    prot = post(port(Curve.SI))
    rng = random.Random(7)
    assert drive(prot, [(T0, 2 * IS)]) is None
    band_start = T0 + 0.5 * t_op
    band = [(band_start + i, IS * rng.uniform(0.95, 1.0999)) for i in range(3600)]
    assert drive(prot, band) is None
    restart = band_start + 3600
    trip = drive(prot, steady(restart, 2 * IS, 100))
    assert trip is not None
    assert trip.at - restart == pytest.approx(0.5 * t_op, abs=0.01)


@pytest.mark.parametrize("multiple", [1.05, 1.09])
def test_below_pickup_never_trips(multiple: float) -> None:
    """Test that current just below 1.1·Is runs ten times the 1.1·Is time without a trip."""
    horizon = 10 * operate_time(Curve.EI, 1.0, 1.1)
    prot = post(port(Curve.EI))
    assert drive(prot, steady(T0, multiple * IS, horizon, step=5.0)) is None
    assert not prot.is_latched(1)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.001, 12.0), st.floats(0.0, 1.0)),
        min_size=1,
        max_size=200,
    ),
    st.sampled_from(list(Curve)),
)
def test_current_never_above_is_never_trips(steps: list[tuple[float, float]], curve: Curve) -> None:
    """Test that any sequence of currents never above Is, at any spacing, never trips."""
    prot = post(port(curve, tms=0.05))
    ts, samples = T0, []
    for gap, multiple in steps:
        ts += gap
        samples.append((ts, multiple * IS))
    assert drive(prot, samples) is None
    assert prot.advance(ts + 1e6) == []


@settings(max_examples=40, deadline=None)
@given(
    st.floats(1.1, 30.0),
    st.floats(1.1, 30.0),
    st.sampled_from(list(Curve)),
    st.floats(0.1, 9.0),
)
def test_trip_time_is_monotone_in_current(
    low: float, high: float, curve: Curve, step: float
) -> None:
    """Test that a higher steady current never trips later than a lower one."""
    low, high = min(low, high), max(low, high)
    found = []
    for multiple in (low, high):
        trip = drive(post(port(curve)), steady(T0, multiple * IS, 2000, step=step))
        assert trip is not None
        found.append(trip.at)
    assert found[1] <= found[0] + 1e-9


def test_instantaneous_trips_on_the_first_sample() -> None:
    """Test that a step to the instantaneous setting is cut on that very reading."""
    prot = post(port(instantaneous_a=5 * IS))
    assert prot.observe(T0, 1, current_a=IS, on=True) == []
    decisions = prot.observe(T0 + 1, 1, current_a=6 * IS, on=True)
    assert [(t.cause, t.at, t.ports) for t in trips(decisions)] == [
        (TripCause.INSTANTANEOUS, T0 + 1, (1,))
    ]


def test_latched_port_seen_on_is_cut_again() -> None:
    """Test that a latched port restarted from elsewhere gets a re-cut, and stays latched."""
    prot = post(port(instantaneous_a=5 * IS))
    prot.observe(T0, 1, current_a=6 * IS, on=True)
    # Still on 1 s later: the cut is on its way, no re-cut yet.
    assert prot.observe(T0 + 1, 1, current_a=6 * IS, on=True) == []
    assert prot.observe(T0 + 2, 1, current_a=0.0, on=False) == []
    restarted = prot.observe(T0 + 30, 1, current_a=2.5, on=True)
    assert [(d.reason, d.latch.cause) for d in restarted if isinstance(d, Recut)] == [
        (RecutReason.RESTARTED, TripCause.INSTANTANEOUS)
    ]
    # The re-cut did not take: a reading on 10 s later re-cuts again.
    assert prot.observe(T0 + 35, 1, current_a=2.5, on=True) == []
    still_on = prot.observe(T0 + 40, 1, current_a=2.5, on=True)
    assert [d.reason for d in still_on if isinstance(d, Recut)] == [RecutReason.STILL_ON]
    # An overload on a latched port adds no second trip.
    assert trips(prot.observe(T0 + 41, 1, current_a=9 * IS, on=True)) == []
    assert prot.is_latched(1)


def test_port_without_relay_state_is_judged_by_its_current() -> None:
    """Test that a latched port that does not report on/off is re-cut when it draws current."""
    prot = post(port(instantaneous_a=5 * IS))
    prot.observe(T0, 1, current_a=6 * IS)
    prot.observe(T0 + 2, 1, current_a=0.0)
    recut = prot.observe(T0 + 5, 1, current_a=1.8)
    assert [d.reason for d in recut if isinstance(d, Recut)] == [RecutReason.RESTARTED]


def test_reset_clears_the_latch_and_starts_fresh() -> None:
    """Test that a staff reset releases the port and the next overload takes a full curve time."""
    prot = post(port(Curve.VI))
    trip = drive(prot, steady(T0, 5 * IS, 60))
    assert trip is not None
    assert prot.latches[1].cause is TripCause.INVERSE_TIME
    record = prot.reset(1, T0 + 100, by="wang.li")
    assert (record.port, record.by, record.latch) == (1, "wang.li", Latch(trip.cause, trip.at))
    assert not prot.is_latched(1)
    assert prot.observe(T0 + 101, 1, current_a=1.8, on=True) == []
    again = drive(prot, steady(T0 + 200, 5 * IS, 60))
    assert again is not None
    assert again.at - (T0 + 200) == pytest.approx(3.375, abs=0.01)


def test_reset_refuses_ports_that_are_not_latched_or_unknown() -> None:
    """Test that resetting a healthy or unknown port, or anonymously, says why it is refused."""
    prot = post()
    with pytest.raises(NotLatchedError, match="post-01 port 1 is not latched"):
        prot.reset(1, T0, by="wang.li")
    with pytest.raises(UnknownPortError, match="post post-01 has no port 7"):
        prot.reset(7, T0, by="wang.li")
    prot.observe(T0, 1, current_a=4 * IS, on=True, fault="overcurrent")
    with pytest.raises(ValueError, match="must name who"):
        prot.reset(1, T0 + 1, by=" ")


@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.9])
def test_restart_mid_accumulation_keeps_the_trip_time(fraction: float) -> None:
    """Test that snapshot → JSON → restore in a new instance trips exactly as without a restart."""
    t_op = operate_time(Curve.EI, 1.0, 2.0)
    samples = steady(T0, 2 * IS, 100)
    cut = int(fraction * t_op)
    uninterrupted = drive(post(port(Curve.EI)), samples)
    before = post(port(Curve.EI))
    assert drive(before, samples[: cut + 1]) is None
    saved = json.loads(json.dumps(before.snapshot()))
    after = post(port(Curve.EI))
    after.restore(saved)
    resumed = drive(after, samples[cut + 1 :])
    assert uninterrupted is not None
    assert resumed is not None
    assert resumed.at == pytest.approx(uninterrupted.at, abs=1e-9)


def test_latch_survives_a_restart() -> None:
    """Test that a restored latch still re-cuts a restarted port and still needs a reset."""
    prot = post(port(instantaneous_a=5 * IS))
    prot.observe(T0, 1, current_a=6 * IS, on=True)
    prot.observe(T0 + 2, 1, current_a=0.0, on=False)
    restarted = post(port(instantaneous_a=5 * IS))
    restarted.restore(json.loads(json.dumps(prot.snapshot())))
    assert restarted.is_latched(1)
    recut = restarted.observe(T0 + 60, 1, current_a=2.0, on=True)
    assert [type(d) for d in recut] == [Recut]


def test_restore_rejects_bad_or_foreign_state() -> None:
    """Test that malformed state, or state of another post, is refused with a clear error."""
    prot = post()
    prot.observe(T0, 1, current_a=3.0)
    saved = prot.snapshot()
    other = PostProtection("post-02", PostLimits(), {1: port()})
    with pytest.raises(SnapshotError, match="for post 'post-01'"):
        other.restore(saved)
    saved["ports"]["1"]["inverse"]["accumulated"] = "lots"
    with pytest.raises(SnapshotError, match=r"ports\.1\.inverse\.accumulated"):
        prot.restore(saved)


def test_duplicate_and_out_of_order_readings_are_ignored_and_counted() -> None:
    """Test that repeated and late readings change neither the trip time nor the outcome."""
    clean = steady(T0, 3 * IS, 100)
    messy: list[tuple[float, float]] = []
    for i, (ts, current) in enumerate(clean):
        messy.append((ts, current))
        messy.append((ts, current))  # QoS 1 redelivery
        if i >= 3:
            messy.append((ts - 2.5, 0.0))  # a late reading that would reset the element
    prot = post(port(Curve.SI))
    trip_clean = drive(post(port(Curve.SI)), clean)
    trip_messy = drive(prot, messy)
    assert trip_clean is not None
    assert trip_messy is not None
    assert trip_messy.at == trip_clean.at
    assert prot.counters["duplicate"] > 0
    assert prot.counters["out_of_order"] > 0


def test_long_silence_after_an_overload_does_not_trip_on_stale_data() -> None:
    """Test that one overload reading followed by silence stops counting after max_hold_s."""
    prot = post(port(Curve.EI), max_hold_s=15.0)
    prot.observe(T0, 1, current_a=1.5 * IS, on=True)  # EI at 1.5·Is needs 64 s
    assert prot.advance(T0 + 10_000) == []
    assert prot.next_deadline() is None
    assert not prot.is_latched(1)


def test_invalid_reading_is_a_sensor_fault_not_zero_amps() -> None:
    """Test that NaN, negative and absurd currents are reported and never reset an overload."""
    prot = post(port(Curve.VI))
    prot.observe(T0, 1, current_a=5 * IS, on=True)
    faults = []
    for i, bad in enumerate([math.nan, -1.0, 1e9]):
        decisions = prot.observe(T0 + 1 + i, 1, current_a=bad, on=True)
        faults += [(d.quantity, d.reason) for d in decisions if isinstance(d, SensorFault)]
    assert faults == [
        ("current_a", "not_finite"),
        ("current_a", "negative"),
        ("current_a", "implausible"),
    ]
    due = wake_until(prot, T0 + 10)
    assert [t.at - T0 for t in due] == [pytest.approx(3.375, abs=0.01)]


def test_overpower_trips_after_its_definite_time() -> None:
    """Test that power over the limit for the delay trips; wobbling near it does not restart."""
    prot = post(port(overpower_w=800.0, overpower_delay_s=20.0))
    powers = [900.0, 790.0, 905.0, 770.0] * 10  # dips stay above 0.95 x 800 W
    decisions: list[object] = []
    for i, watts in enumerate(powers):
        due = wake_until(prot, T0 + i)
        if due:
            decisions += due
            break
        decisions += prot.observe(T0 + i, 1, current_a=1.0, power_w=watts, on=True)
    found = trips(decisions)
    assert [(t.cause, t.at, t.measured, t.limit, t.unit) for t in found] == [
        (TripCause.OVERPOWER, T0 + 20.0, 905.0, 800.0, "W")  # the peak since pickup
    ]


def test_overpower_drop_below_dropout_restarts_the_timer() -> None:
    """Test that power falling below 0.95 x limit resets the definite-time element."""
    prot = post(port(overpower_w=800.0, overpower_delay_s=20.0))
    for i in range(60):
        watts = 700.0 if i % 15 == 14 else 900.0
        assert wake_until(prot, T0 + i) == []
        assert trips(prot.observe(T0 + i, 1, current_a=1.0, power_w=watts, on=True)) == []


def test_port_and_post_overtemperature() -> None:
    """Test that a hot port cuts that port, and a hot post cuts every port at once."""
    prot = PostProtection(
        "post-01",
        PostLimits(overtemp_c=70.0, overtemp_delay_s=30.0),
        {p: port(overtemp_c=60.0, overtemp_delay_s=5.0) for p in (1, 2, 3)},
    )
    prot.observe(T0, 2, current_a=1.0, temp_c=65.0, on=True)
    port_trips = wake_until(prot, T0 + 100)
    assert [(t.cause, t.port, t.at) for t in port_trips] == [(TripCause.OVERTEMP, 2, T0 + 5)]
    post_trips: list[Trip] = []
    for ts in range(6, 100, 5):
        post_trips = wake_until(prot, T0 + ts) or trips(prot.observe_post(T0 + ts, temp_c=72.0))
        if post_trips:
            break
    assert [(t.port, t.ports, t.at) for t in post_trips] == [(None, (1, 2, 3), T0 + 36)]
    assert {p: latch.cause for p, latch in prot.latches.items()} == {
        1: TripCause.OVERTEMP,
        2: TripCause.OVERTEMP,
        3: TripCause.OVERTEMP,
    }


def test_post_total_current_sheds_the_highest_ports_first() -> None:
    """Test that an overloaded post cuts its biggest loads, just enough to fit the limit."""
    currents = {1: 2.0, 2: 3.0, 3: 1.5, 4: 2.9, 5: 2.5, 6: 1.0, 7: 2.2}  # 15.1 A
    prot = PostProtection(
        "post-01",
        PostLimits(total_current_a=10.0, total_current_delay_s=30.0),
        {p: PortLimits(rated_current_a=3.5, curve=Curve.SI, tms=1.0) for p in currents},
    )
    shed: list[Trip] = []
    for second in range(40):
        shed = wake_until(prot, T0 + second)
        if shed:
            break
        for p, amps in currents.items():
            shed += trips(prot.observe(T0 + second, p, current_a=amps, on=True))
    assert {t.cause for t in shed} == {TripCause.POST_TOTAL_CURRENT}
    assert sorted(t.port for t in shed if t.port) == [2, 4]  # 15.1 - 3.0 - 2.9 = 9.2 A
    assert {t.at for t in shed} == {T0 + 30}
    assert shed[0].evidence["shed"] == [[2, 3.0], [4, 2.9]]


def test_post_total_operating_as_its_last_reading_goes_stale_sheds_that_port() -> None:
    """Test that the total element operating the instant its only reading goes stale still cuts.

    The element picked up, froze while the reading was stale, and resumed on a new reading;
    its delay then runs out exactly when that reading stops standing. The load that drove it
    is the one standing until that instant: it is shed, and protection does not raise.
    """
    prot = PostProtection(
        "post-01",
        PostLimits(total_current_a=8.0, total_current_delay_s=10.0, max_hold_s=5.0),
        {p: PortLimits(rated_current_a=20.0, curve=Curve.SI, tms=1.0) for p in (1, 2)},
    )
    start = 1000.0  # whole seconds: a device that stamps whole seconds meets this exactly
    assert trips(prot.observe(start, 1, current_a=9.0, on=True)) == []
    assert prot.advance(start + 9) == []  # stale from start + 5: the timer froze at 5 s
    assert trips(prot.observe(start + 10, 1, current_a=9.0, on=True)) == []
    shed = prot.advance(start + 20)
    assert [(t.cause, t.port, t.at) for t in shed] == [
        (TripCause.POST_TOTAL_CURRENT, 1, start + 20)
    ]
    assert shed[0].evidence["operated_at"] == start + 15
    assert shed[0].evidence["shed"] == [[1, 9.0]]


@settings(max_examples=60, deadline=None)
@given(
    overload=st.lists(st.floats(0.0, 12.0), min_size=1, max_size=25),
    others=st.lists(st.tuples(st.integers(2, 10), st.floats(0.0, 2.1)), max_size=60),
    seed=st.integers(0, 1000),
)
def test_a_port_times_the_same_whatever_the_other_ports_report(
    overload: list[float], others: list[tuple[int, float]], seed: int
) -> None:
    """Test that a port's elements do not depend on readings of its neighbours at rest.

    Protection steps only the ports that may be timing; nine neighbours reporting below
    their pickups at other moments must leave port 1 tripping exactly as in a one-port post.
    """
    alone, shared = post(port(tms=0.2)), post(port(tms=0.2), ports=10)
    rng = random.Random(seed)
    ts, found = T0, ([], [])
    for current in overload:
        ts += rng.choice([0.1, 0.5, 1.0, 3.0])
        for _ in range(rng.randint(0, 3)):
            if others:
                p, amps = others.pop()
                ts += 0.01
                found[0].extend(wake_until(alone, ts))
                found[1].extend(wake_until(shared, ts))
                found[1].extend(trips(shared.observe(ts, p, current_a=amps, on=True)))
        ts += 0.01
        found[0].extend(wake_until(alone, ts) + trips(alone.observe(ts, 1, current_a=current)))
        found[1].extend(wake_until(shared, ts) + trips(shared.observe(ts, 1, current_a=current)))
    found[0].extend(wake_until(alone, ts + 60) + alone.advance(ts + 60))
    found[1].extend(wake_until(shared, ts + 60) + shared.advance(ts + 60))
    assert [(t.port, t.cause) for t in found[1]] == [(t.port, t.cause) for t in found[0]]
    for mine, theirs in zip(found[1], found[0], strict=True):
        assert mine.at == theirs.at
        if "operated_at" in theirs.evidence:
            operated = float(theirs.evidence["operated_at"])  # type: ignore[arg-type]
            assert float(mine.evidence["operated_at"]) - T0 == pytest.approx(  # type: ignore[arg-type]
                operated - T0, abs=1e-6)


def test_device_fault_trips_at_once() -> None:
    """Test that a fault the port or the post reports trips immediately and latches."""
    prot = post(ports=3)
    port_fault = trips(prot.observe(T0, 2, current_a=1.0, on=True, fault=" OverTemp "))
    assert [(t.cause, t.port, t.evidence["fault"]) for t in port_fault] == [
        (TripCause.DEVICE_FAULT, 2, "overtemp")
    ]
    post_fault = trips(prot.observe_post(T0 + 1, fault="overvoltage"))
    assert [(t.port, t.ports) for t in post_fault] == [(None, (1, 2, 3))]
    assert prot.latches[2].cause is TripCause.DEVICE_FAULT


def test_unknown_port_and_bad_limits_are_reported() -> None:
    """Test that readings for unconfigured ports are counted and bad settings name the field."""
    prot = post()
    assert prot.observe(T0, 9, current_a=1.0) == []
    assert prot.counters["unknown_port"] == 1
    with pytest.raises(ValueError, match=r"PortLimits\.rated_current_a: must be greater than 0"):
        PortLimits(rated_current_a=0.0, curve=Curve.SI, tms=1.0)
    with pytest.raises(ValueError, match=r"instantaneous_a: must be above rated_current_a"):
        PortLimits(rated_current_a=3.0, curve=Curve("VI"), tms=1.0, instantaneous_a=2.0)


def test_trip_evidence_is_json_for_an_alert() -> None:
    """Test that a trip carries curve, multiple, overload start and samples as plain JSON."""
    trip = drive(post(port(Curve.VI)), steady(T0, 4 * IS, 30))
    assert trip is not None
    record = json.loads(json.dumps(trip.to_dict()))
    assert record["cause"] == "inverse_time"
    assert record["evidence"]["curve"] == "VI"
    assert record["evidence"]["multiple"] == 4.0
    assert record["evidence"]["overload_since"] == T0
    assert record["evidence"]["samples"][-1] == [T0 + 4, 4 * IS, None, None]


def test_without_wake_ups_the_trip_comes_with_the_next_reading() -> None:
    """Test that with no advance() calls the trip comes one reading late, naming the curve time."""
    prot = post(port(Curve.VI))
    found: list[Trip] = []
    for ts, current in steady(T0, 5 * IS, 20, step=2.0):
        found += trips(prot.observe(ts, 1, current_a=current, on=True))
    assert [(t.at, t.evidence["operated_at"]) for t in found] == [(T0 + 4.0, T0 + 3.375)]
