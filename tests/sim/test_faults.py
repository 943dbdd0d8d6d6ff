"""Faults as written on the command line and in JSON, and the currents they draw."""

from __future__ import annotations

import random

import pytest

from edge.i18n import set_language
from edge.sim.errors import FaultSpecError
from edge.sim.faults import Fault, FaultKind, GarbageKind, fault_from_json, parse_fault
from edge.sim.port import RATED_A, VirtualPort


def test_cli_specs_become_faults() -> None:
    """Test that the documented --fault forms give the post, port, kind and settings."""
    assert parse_fault("P03:4:overload-ramp") == ("P03", Fault(FaultKind.OVERLOAD_RAMP, 4))
    assert parse_fault("P03:4:step:amps=12.5") == ("P03", Fault(FaultKind.STEP, 4, amps=12.5))
    assert parse_fault("P03:4:pulsing:high=3,low=0.5,high_s=4,low_s=2,after=10") == (
        "P03", Fault(FaultKind.PULSING, 4, factor=3, low_factor=0.5, high_s=4, low_s=2,
                     after_s=10))
    assert parse_fault("P05:silence") == ("P05", Fault(FaultKind.SILENCE))
    assert parse_fault("P07:*:garbage:kinds=nan+not_json") == (
        "P07", Fault(FaultKind.GARBAGE, kinds=(GarbageKind.NAN, GarbageKind.NOT_JSON)))
    assert parse_fault("P02:6:stuck_relay") == ("P02", Fault(FaultKind.STUCK_RELAY, 6))


@pytest.mark.parametrize(("spec", "message"), [
    ("P03", "fault 'P03': write POST:PORT:KIND[:key=value,...], e.g. P03:4:overload-ramp"),
    ("P03:4:overlod", "fault 'P03:4:overlod': unknown kind 'overlod'; known: overload-ramp, "
     "step, pulsing, garbage, silence, stuck-relay, clear"),
    ("P03:step", "fault 'P03:step': step needs a port number, e.g. P03:4:overload-ramp"),
    ("P03:4:silence", "fault 'P03:4:silence': silence is about a whole post; leave out the port"),
    ("P03:4:step:amp=12", "fault 'P03:4:step:amp=12': unknown setting 'amp'; known: after_s, "
     "amps, factor, high_s, kinds, low_factor, low_s, ramp_s"),
    ("P03:4:step:amps=-1", "fault 'P03:4:step:amps=-1': amps must be a positive number (got -1)"),
    ("P03:4:garbage:kinds=oversized", "fault 'P03:4:garbage:kinds=oversized': garbage of one "
     "port can only be nan, string, negative, absurd"),
])
def test_wrong_specs_say_how_to_write_them(spec: str, message: str) -> None:
    """Test that a wrongly written --fault gets a message naming the mistake and the right form."""
    set_language("en")
    with pytest.raises(FaultSpecError) as caught:
        parse_fault(spec)
    assert str(caught.value) == message


def test_wrong_specs_are_explained_in_chinese_by_default() -> None:
    """Test that staff see the fault message in Chinese when no language is chosen."""
    with pytest.raises(FaultSpecError) as caught:
        parse_fault("P03:step")
    assert "P03:step" in str(caught.value)
    assert "端口" in str(caught.value)


def test_json_faults_from_the_control_topic() -> None:
    """Test that control-topic JSON gives the same faults, and a wrong port type is refused."""
    assert fault_from_json({"kind": "overload-ramp", "port": 4, "factor": 4}) == Fault(
        FaultKind.OVERLOAD_RAMP, 4, factor=4)
    assert fault_from_json({"kind": "clear"}) == Fault(FaultKind.CLEAR)
    with pytest.raises(FaultSpecError):
        fault_from_json({"kind": "step", "port": "4"})
    with pytest.raises(FaultSpecError):
        fault_from_json(["step"])


def test_load_faults_draw_the_currents_they_promise() -> None:
    """Test that a ramp climbs to N × rated, a step jumps, and pulsing alternates high and low."""
    ramp = Fault(FaultKind.OVERLOAD_RAMP, 1, factor=3, ramp_s=20)
    assert ramp.load_current_a(2.0, RATED_A, 0) == 2.0
    assert ramp.load_current_a(2.0, RATED_A, 10) == pytest.approx(5.5)
    assert ramp.load_current_a(2.0, RATED_A, 60) == pytest.approx(9.0)
    assert Fault(FaultKind.STEP, 1, amps=12).load_current_a(2.0, RATED_A, 0) == 12
    pulsing = Fault(FaultKind.PULSING, 1)
    shape = [pulsing.load_current_a(2.0, RATED_A, t) for t in (0, 3.9, 4.1, 5.9, 6.1)]
    assert shape == pytest.approx([9.0, 9.0, 1.5, 1.5, 9.0])


def test_a_port_with_a_fault_heats_up_and_clear_ends_it() -> None:
    """Test that a stepped port reads the step with noise, warms up, and is normal after clear."""
    port = VirtualPort(1, random.Random("f"), busy=False)
    port.keep_plugged()
    port.apply(Fault(FaultKind.STEP, 1, amps=12), now=1000.0)
    for second in range(1, 301):
        port.advance(1.0, 1.0, 1000.0 + second, 220.0)
    reading = port.report(220.0)
    assert 11 < reading.current_a < 13  # noqa: PLR2004
    assert reading.temp_c > 60  # noqa: PLR2004 - 0.6 °C/A² above ambient at steady state
    port.apply(Fault(FaultKind.CLEAR, 1), now=1300.0)
    port.advance(1.0, 1.0, 1301.0, 220.0)
    assert port.report(220.0).current_a == 0
