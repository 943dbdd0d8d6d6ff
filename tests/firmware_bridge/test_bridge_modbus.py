"""Modbus RTU polling and relay control against pymodbus's own server over a pty line."""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from fb_peers import ModbusPeer, PtyLine

from firmware_bridge import (
    FaultReason,
    ModbusBus,
    ModbusDevice,
    RegisterMap,
    RelayNotMappedError,
    inter_frame_gap_s,
)

TIMEOUT_S = 0.3


@pytest.fixture
def bus(line: PtyLine, peer: ModbusPeer) -> Iterator[ModbusBus]:
    with ModbusBus(str(line.path), baudrate=19200, timeout_s=TIMEOUT_S) as modbus:
        yield modbus


def _fill_post(peer: ModbusPeer, slave: int, currents: list[float]) -> None:
    peer.set_registers(slave, 3, 0x0000, [2214, 415])  # 221.4 V, 41.5 °C
    peer.set_registers(slave, 3, 0x0010, [round(c * 100) for c in currents])
    peer.set_registers(slave, 3, 0x0020, [round(c * 220) for c in currents])
    for i in range(10):
        peer.set_value(slave, 3, 0x0030 + 2 * i, 123456 + i, "UINT32")
    peer.set_registers(slave, 3, 0x0050, [30 + i for i in range(10)])
    peer.set_coils(slave, 0, [True] * 10)


def test_poll_reads_the_currents_the_device_holds(
    bus: ModbusBus, peer: ModbusPeer, post_map: RegisterMap
) -> None:
    """Test that a poll returns each port's current, power, energy, temperature and relay state."""
    currents = [0.0, 1.25, 2.5, 3.0, 0.5, 4.75, 0.0, 1.0, 2.0, 3.33]
    _fill_post(peer, 1, currents)
    post = ModbusDevice(name="post-a", post="a", slave=1, register_map=post_map)

    reading = bus.poll(post)

    assert reading.post == "a"
    assert reading.voltage_v == pytest.approx(221.4)
    assert reading.temp_c == pytest.approx(41.5)
    assert [p.port for p in reading.ports] == list(range(1, 11))
    assert [p.current_a for p in reading.ports] == pytest.approx(currents)
    assert reading.ports[5].power_w == pytest.approx(round(4.75 * 220))
    assert reading.ports[9].energy_kwh == pytest.approx(1234.65)
    assert reading.ports[2].temp_c == pytest.approx(32)
    assert all(p.on is True for p in reading.ports)
    assert reading.invalid == ()
    telemetry = reading.to_telemetry()
    assert telemetry["voltage_v"] == pytest.approx(221.4)
    assert telemetry["ports"][1] == {
        "port": 2,
        "current_a": 1.25,
        "power_w": 275.0,
        "energy_kwh": pytest.approx(1234.57),
        "on": True,
        "temp_c": 31.0,
    }


def test_poll_follows_changing_currents(
    bus: ModbusBus, peer: ModbusPeer, post_map: RegisterMap
) -> None:
    """Test that a second poll shows the currents the device holds now, not the old ones."""
    _fill_post(peer, 1, [1.0] * 10)
    post = ModbusDevice(name="post-a", post="a", slave=1, register_map=post_map)
    assert bus.poll(post).ports[3].current_a == pytest.approx(1.0)
    peer.set_registers(1, 3, 0x0013, [512])
    assert bus.poll(post).ports[3].current_a == pytest.approx(5.12)


def test_poll_batches_the_post_map_into_two_requests(
    bus: ModbusBus, peer: ModbusPeer, post_map: RegisterMap
) -> None:
    """Test that the 10-port post is read with one register request and one coil request."""
    _fill_post(peer, 1, [1.0] * 10)
    post = ModbusDevice(name="post-a", post="a", slave=1, register_map=post_map)
    peer.requests.clear()
    bus.poll(post)
    assert sorted(peer.requests) == [(1, 1), (1, 3)]


def test_two_slaves_on_one_bus_each_report_their_own_values(
    bus: ModbusBus, peer: ModbusPeer, post_map: RegisterMap, pzem_map: RegisterMap
) -> None:
    """Test that a post at address 1 and a PZEM meter at address 2 on one line are told apart."""
    _fill_post(peer, 1, [2.0] * 10)
    # PZEM-004T: 230.5 V, 3.456 A, 795.1 W, 12345 Wh, 50.0 Hz, pf 0.98 (32-bit low word first)
    peer.set_registers(2, 4, 0, [2305])
    peer.set_value(2, 4, 1, 3456, "UINT32", word_order="little")
    peer.set_value(2, 4, 3, 7951, "UINT32", word_order="little")
    peer.set_value(2, 4, 5, 12345, "UINT32", word_order="little")
    peer.set_registers(2, 4, 7, [500, 98])
    post = ModbusDevice(name="post-a", post="a", slave=1, register_map=post_map)
    meter = ModbusDevice(name="meter-b7", post="b", slave=2, register_map=pzem_map, port=7)

    post_reading = bus.poll(post)
    meter_reading = bus.poll(meter)

    assert post_reading.ports[0].current_a == pytest.approx(2.0)
    assert meter_reading.post == "b"
    assert meter_reading.voltage_v == pytest.approx(230.5)
    assert meter_reading.frequency_hz == pytest.approx(50.0)
    assert meter_reading.power_factor == pytest.approx(0.98)
    port7 = meter_reading.port(7)
    assert port7 is not None
    assert port7.current_a == pytest.approx(3.456)
    assert port7.power_w == pytest.approx(795.1)
    assert port7.energy_kwh == pytest.approx(12.345)


def test_sdm120_floats_are_read(bus: ModbusBus, peer: ModbusPeer, sdm_map: RegisterMap) -> None:
    """Test that the Eastron SDM120's float32 registers come out as volts, amperes and kWh."""
    for address, value in [
        (0, 230.2),
        (6, 4.5),
        (12, 1035.0),
        (30, 0.99),
        (70, 49.98),
        (342, 77.5),
    ]:
        peer.set_value(2, 4, address, value, "FLOAT32")
    meter = ModbusDevice(name="sdm", post="c", slave=2, register_map=sdm_map)
    reading = bus.poll(meter)
    assert reading.voltage_v == pytest.approx(230.2, rel=1e-6)
    assert reading.current_a == pytest.approx(4.5)
    assert reading.power_w == pytest.approx(1035.0)
    assert reading.energy_kwh == pytest.approx(77.5)
    assert reading.frequency_hz == pytest.approx(49.98, rel=1e-6)


def test_set_relay_writes_the_coil_and_reads_it_back(
    bus: ModbusBus, peer: ModbusPeer, post_map: RegisterMap
) -> None:
    """Test that cutting port 3 turns its coil off in the device and the next poll shows it off."""
    _fill_post(peer, 1, [1.0] * 10)
    post = ModbusDevice(name="post-a", post="a", slave=1, register_map=post_map)

    assert bus.set_relay(post, 3, on=False) is True

    assert peer.coils(1, 0, 10) == [True, True, False] + [True] * 7
    assert [p.on for p in bus.poll(post).ports] == [True, True, False] + [True] * 7
    assert bus.set_relay(post, 3, on=True) is True
    assert peer.coils(1, 2, 1) == [True]


def test_set_relay_on_a_port_without_a_coil_is_refused(
    bus: ModbusBus, peer: ModbusPeer, pzem_map: RegisterMap
) -> None:
    """Test that asking a meter without relays to cut a port raises a clear error, not a write."""
    meter = ModbusDevice(name="meter", post="b", slave=2, register_map=pzem_map, port=1)
    peer.requests.clear()
    with pytest.raises(RelayNotMappedError, match="no relay coil for port 1"):
        bus.set_relay(meter, 1, on=False)
    assert peer.requests == []
    assert bus.counters.get("meter", FaultReason.NOT_MAPPED) == 1


def test_inter_frame_gap_follows_the_modbus_serial_spec() -> None:
    """Test that the gap is 3.5 characters at 9600 baud and a fixed 1.75 ms above 19200 baud."""
    assert inter_frame_gap_s(9600) == pytest.approx(3.5 * 10 / 9600)
    assert inter_frame_gap_s(9600, parity="E") == pytest.approx(3.5 * 11 / 9600)
    assert inter_frame_gap_s(115200) == pytest.approx(0.00175)
    assert not math.isnan(inter_frame_gap_s(2400))


def test_device_with_broadcast_address_is_refused(post_map: RegisterMap) -> None:
    """Test that a device configured at slave address 0 (broadcast) is rejected with its name."""
    with pytest.raises(ValueError, match="device p1: slave address must be 1..247 \\(got 0\\)"):
        ModbusDevice(name="p1", post="p1", slave=0, register_map=post_map)
